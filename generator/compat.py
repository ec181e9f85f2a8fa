"""Spec changes that would misread stored events, found against the module on disk.

The generated module committed beside a spec is the record of what its log has
stored: schema indexes, action codes, tables, links. `spectorgen generate`
compares the new plan with it and refuses a change that would make stored events
read differently (a renumbered schema, an action code gone) or fall out of reach
(another shard layout, a renamed table or link), unless told `--allow-breaking`.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator

from generator.errors import Path
from generator.plan import Plan, action_code


@dataclasses.dataclass(frozen=True)
class Layout:
    """What a log has stored under, as one generated module says it."""

    table: str
    hashed: bool
    shard_tables: tuple[str, ...]
    shard_function: str | None  # "package.module:function"
    schemas: dict[str, int]  # name -> index
    actions: dict[str, int]  # name (legacy names too) -> code
    links: dict[str, tuple[str, str, bool]]  # name -> (table, column, typed)
    declared: dict[str, tuple[str, ...]]  # schema -> its custom actions, sorted

    @property
    def shards(self) -> tuple[str | None, tuple[str, ...]]:
        """What routes a record to a table. A shard function picks tables by
        name, so the order `tables` lists them in is not part of it."""
        if self.shard_function:
            return self.shard_function, tuple(sorted(self.shard_tables))
        return None, self.shard_tables


def plan_layout(plan: Plan) -> Layout:
    function = None
    if plan.shard.kind == "function":
        function = f"{plan.shard.module}:{plan.shard.function}"
    actions = {a.name: a.code for a in plan.actions}
    actions.update({a.legacy: a.code for a in plan.aliases})
    return Layout(
        table=plan.table,
        hashed=plan.hashed,
        shard_tables=tuple(t.table.raw for t in plan.tables),
        shard_function=function,
        schemas={s.name: s.index for s in plan.schemas},
        actions=actions,
        links={
            link.name: (link.table, link.column.raw, link.typed) for link in plan.links
        },
        declared={s.name: tuple(sorted(s.actions)) for s in plan.schemas},
    )


_CONSTANTS = frozenset({"TABLE", "HASHED", "SHARD_TABLES"})


def module_layout(text: str) -> Layout | None:
    """The layout a generated module was made for; None when the text parses
    but holds none (a module edited by hand, or one this version cannot read).
    Raises SyntaxError when it does not parse (merge conflict markers, say)."""
    tree = ast.parse(text)
    values: dict[str, object] = {}
    enums: dict[str, dict[str, int]] = {}
    links: dict[str, tuple[str, str, bool]] = {}
    declared: dict[str, tuple[str, ...]] = {}
    function = None
    for node in tree.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
        ):
            name = node.target.id
            if name in _CONSTANTS:
                values[name] = _literal(node.value)
            elif name == "ALLOWED_ACTIONS":
                declared = _declared(node.value)
            elif name == "_METADATA":
                for found in ast.walk(node.value):
                    links.update(_links(found))
        elif isinstance(node, ast.ClassDef) and node.name in {"Schema", "Action"}:
            enums[node.name] = _members(node)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if alias.asname == "_shard_function":
                    function = f"{node.module}:{alias.name}"
    table, hashed, tables = (
        values.get("TABLE"),
        values.get("HASHED"),
        values.get("SHARD_TABLES"),
    )
    if not (
        isinstance(table, str)
        and isinstance(hashed, bool)
        and isinstance(tables, tuple)
        and all(isinstance(t, str) for t in tables)
        and set(enums) == {"Schema", "Action"}
    ):
        return None
    return Layout(
        table,
        hashed,
        tables,
        function,
        enums["Schema"],
        enums["Action"],
        links,
        declared,
    )


def _declared(node: ast.expr) -> dict[str, tuple[str, ...]]:
    """`Schema.X: _BUILTIN_ACTIONS | {Action.a, ...}` entries of ALLOWED_ACTIONS."""
    out: dict[str, tuple[str, ...]] = {}
    for found in ast.walk(node):
        if not isinstance(found, ast.Dict):
            continue
        for key, value in zip(found.keys, found.values, strict=True):
            if isinstance(key, ast.Attribute) and isinstance(key.value, ast.Name):
                actions = [
                    n.attr
                    for n in ast.walk(value)
                    if isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Name)
                    and n.value.id == "Action"
                ]
                out[key.attr] = tuple(sorted(actions))
    return out


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None  # not a literal (edited by hand, say): no layout to read


def _members(node: ast.ClassDef) -> dict[str, int]:
    """`name = 3` members, and aliases: `legacy = action` (`legacy = 246670187`
    in modules of earlier versions)."""
    out: dict[str, int] = {}
    for statement in node.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            value = _literal(statement.value)
            if isinstance(statement.value, ast.Name):  # an alias of a member above
                value = out.get(statement.value.id)
            if isinstance(value, int) and not isinstance(value, bool):
                out[statement.targets[0].id] = value
    return out


def _links(node: ast.AST) -> Iterator[tuple[str, tuple[str, str, bool]]]:
    """`"name": LinkInfo(table=..., column=..., typed=...)` in the metadata."""
    if not isinstance(node, ast.Dict):
        return
    for key, value in zip(node.keys, node.values, strict=True):
        if not (
            isinstance(key, ast.Constant)
            and isinstance(key.value, str)
            and isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "LinkInfo"
        ):
            continue
        fields = {k.arg: _literal(k.value) for k in value.keywords}
        table, column, typed = (
            fields.get("table"),
            fields.get("column"),
            fields.get("typed"),
        )
        if (
            isinstance(table, str)
            and isinstance(column, str)
            and isinstance(typed, bool)
        ):
            yield key.value, (table, column, typed)


def breaking_changes(
    old: Layout, new: Layout, plan: Plan
) -> Iterator[tuple[Path, str]]:
    """(spec location, what stored events would suffer) for each breaking change."""
    # A function-sharded log stores its events in `tables` alone: `table` only
    # names a trigger function, which migrate creates under the new name.
    routed = old.shard_function is not None and new.shard_function is not None
    if new.table != old.table and not routed:
        shared = sorted(
            table
            for table, _, _ in old.links.values()
            if old.shard_tables == (old.table,)  # unsharded: join tables keep names
            and table in {link[0] for link in new.links.values()}
        )
        joined = (
            f", and the join tables {', '.join(map(repr, shared))} keep their"
            " foreign keys to it (new links would be refused)"
            if shared
            else ""
        )
        yield (
            ("table",),
            (
                f"renames the events table {old.table!r} to {new.table!r}: the stored"
                f" events stay in the old one{joined}"
            ),
        )
    if new.hashed != old.hashed:
        # Tables renamed in the same change are made afresh: migrate meets
        # only the ones both layouts name.
        kept = set(old.shard_tables) & set(new.shard_tables)
        refused = " (migrate refuses them)" if kept else ""
        yield (
            ("hashed",),
            (
                "turns the hash chain on: events tables made before have no hash"
                f" column{refused}, and their events no hashes"
                if new.hashed
                else "turns the hash chain off: events tables made before keep their"
                f" NOT NULL hash column, which unhashed appends leave empty{refused}"
            ),
        )
    # A function-sharded log's `table` may be renamed: its shards still compare.
    same = new.table == old.table or routed
    if same and new.shards != old.shards and not _grown(old, new):
        yield (
            ("shard",),
            (
                f"changes the shard layout ({_shards(old)} -> {_shards(new)}): stored"
                " records would be looked up in tables they are not in"
            ),
        )
    position = {s.name: i for i, s in enumerate(plan.schemas)}
    indexes = set(new.schemas.values())
    for name, index in old.schemas.items():
        if name in new.schemas and new.schemas[name] != index:
            yield (
                ("schemas", position[name]),
                (
                    f"moves {name} from index {index} to {new.schemas[name]}: its"
                    " stored events would read as another schema; add new schemas"
                    " at the end or give them an explicit index"
                ),
            )
        elif name not in new.schemas and index not in indexes:
            yield (
                ("schemas",),
                (
                    f"drops schema {name} (index {index}): its stored events could no"
                    " longer be read"
                ),
            )
    codes = set(new.actions.values())
    dropped: dict[int, list[str]] = {}
    for name, code in old.actions.items():
        if code not in codes:
            dropped.setdefault(code, []).append(name)
    declared = {a for actions in new.declared.values() for a in actions}
    for code, names in dropped.items():
        # An alias keeps the code under the name it was made from.
        origin = next((n for n in names if action_code(n) == code), names[0])
        # A name still declared takes another code: it is not dropped, recoded.
        still = sorted(n for n in names if n in declared)
        gone = " and ".join(repr(n) for n in sorted(names) if n not in still)
        what = f"drops action {gone} (code {code})"
        keeper = "new_name"
        if still:
            keeper = still[0]
            moved = " and ".join(map(repr, still))
            taken = ", ".join(sorted({str(new.actions[n]) for n in still}))
            what = (
                f"{what}, and {moved} would take code {taken}"
                if gone
                else f"gives action {moved} another code ({code} -> {taken})"
            )
        advice = (
            "a renamed action keeps the code with an alias"
            f" (aliases: {{{keeper}: {origin}}})"
            if gone
            # Only an alias given to a name still declared recodes it alone.
            else "an action keeps its code: drop the alias that gives it another"
        )
        owners = [
            schema
            for schema, actions in old.declared.items()
            if schema in position and set(actions) & set(names)
        ]
        where: Path = ("schemas",)
        if owners:  # the schema that declared it, where it is still listed
            where = ("schemas", position[owners[0]], "actions")
        yield (
            where,
            (f"{what}: its stored events could no longer be read; {advice}"),
        )
    for name, code in old.actions.items():
        recoded = new.actions.get(name)
        if recoded is None or recoded == code or code not in codes:
            continue  # kept, gone with its code (dropped above), or dropped
        readers = sorted(n for n, c in new.actions.items() if c == code)
        owners = [
            schema
            for schema, actions in new.declared.items()
            if schema in position and name in actions
        ]
        yield (
            ("schemas", position[owners[0]], "actions") if owners else ("aliases",),
            (
                f"gives action {name!r} another code ({code} -> {recoded}): its stored"
                f" events would read as {' or '.join(map(repr, readers))}; keep its"
                " code with an alias, or give the new action another name"
            ),
        )
    # A link is its join table: renaming the link in the spec moves no data.
    now_at = {link[0]: (name, *link[1:]) for name, link in new.links.items()}
    for name, (table, column, typed) in old.links.items():
        now = now_at.get(table)
        if now is None:
            yield (
                ("links",),
                f"drops link {name!r}: its join table {table!r} would be left unread",
            )
        elif now[1:] != (column, typed):
            yield (
                ("links", now[0]),
                (
                    f"changes link {name!r} (column, typed) from {(column, typed)}"
                    f" to {now[1:]}: its stored links would be misread or left"
                    " unread"
                ),
            )


def cautions(old: Layout, new: Layout) -> Iterator[tuple[Path, str]]:
    """(spec location, what the user must see to) for each change whose safety
    depends on code the generator cannot read: more tables for the same shard
    function keep stored records in reach only if the function still sends
    every stored parent id where it sent it before."""
    if _grown(old, new):  # a function-sharded log, whatever its `table`
        added = ", ".join(sorted(set(new.shard_tables) - set(old.shard_tables)))
        yield (
            ("shard", "tables"),
            (
                f"adds shard tables ({added}): {new.shard_function} must still send"
                " every stored record's parent_id to the table it sent it to before,"
                " or those records would be looked up in tables they are not in"
            ),
        )


def _grown(old: Layout, new: Layout) -> bool:
    """The same shard function over every table it had, and more."""
    return (
        old.shard_function is not None
        and new.shard_function == old.shard_function
        and set(new.shard_tables) > set(old.shard_tables)
    )


def _shards(layout: Layout) -> str:
    tables = ", ".join(layout.shard_tables)
    if layout.shard_function:
        return f"{layout.shard_function} over {tables}"
    return tables
