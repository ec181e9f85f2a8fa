"""Derive every fact the templates print, once, and check the rules between values.

The plan is plain frozen data: schema indexes, action codes, alias members, shard
tables, link tables and every derived SQL name (already quoted). Templates only
print it; nothing is computed in Jinja.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping

from generator.errors import Diagnostic, Path, SpecError, format_location, more_names
from generator.loader import Loaded
from generator.spec import MAX_INDEX, Spec
from generator.stdlib import STDLIB_MODULES

BUILTIN_ACTIONS: tuple[tuple[str, int], ...] = (
    ("insert", 1),
    ("update", 2),
    ("delete", 3),
    ("savepoint", 4),
)
MAX_IDENTIFIER_BYTES = 63
EVENT_COLUMNS = ("seq", "id", "parent_id", "schema", "action", "payload", "inserted_at")
RESERVED_LINK_COLUMNS = frozenset({"event_id", "type"})
SHADOWED = frozenset({*STDLIB_MODULES, "psycopg", "psycopg_binary", "psycopg_c"})
"""Module names that would shadow an import of the generated code when the
output folder is on the import path first."""


def migrate_locks(tables: Iterable[str]) -> tuple[int, ...]:
    """The advisory locks a migration takes first, in ascending order: one per
    name its functions are made from (the base table and each events table),
    the first 8 bytes of sha256 of "spectorgen:migrate:<name>", signed. Two
    releases of one log share their tables, so they wait for each other
    whatever else their specs change; other logs' migrations do not wait."""
    return tuple(
        sorted(
            int.from_bytes(
                hashlib.sha256(f"spectorgen:migrate:{name}".encode()).digest()[:8],
                "big",
                signed=True,
            )
            for name in set(tables)
        )
    )


def action_code(name: str) -> int:
    """Spector's code for a custom action: the first 4 bytes of sha256, 31 bits."""
    return (
        int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") & 0x7FFFFFFF
    )


def quote(name: str) -> str:
    """An identifier quoted exactly as psycopg's `sql.Identifier` quotes it.

    The generated module composes its runtime statements with `psycopg.sql`; the
    DDL is fixed text, quoted here the same way (the suite checks they agree),
    so that the generator itself never needs libpq.
    """
    return '"' + name.replace('"', '""') + '"'


@dataclasses.dataclass(frozen=True)
class Name:
    """A SQL name and its quoted form."""

    raw: str
    q: str


def _name(raw: str) -> Name:
    return Name(raw, quote(raw))


@dataclasses.dataclass(frozen=True)
class SchemaPlan:
    name: str
    index: int
    actions: tuple[str, ...]  # custom actions allowed besides the built-ins


@dataclasses.dataclass(frozen=True)
class ActionPlan:
    name: str
    code: int
    legacy: str | None  # the alias value whose code this action keeps


@dataclasses.dataclass(frozen=True, order=True)
class AliasPlan:
    legacy: str  # the old name, kept as an enum alias
    action: str  # the action that took its code over
    code: int


@dataclasses.dataclass(frozen=True)
class LinkPlan:
    name: str
    table: str
    column: Name
    typed: bool
    constrained: bool


@dataclasses.dataclass(frozen=True)
class LinkTablePlan:
    link: LinkPlan
    table: Name
    key: Name
    event_fkey: Name
    column_fkey: Name
    column_index: Name
    same_parent: Name  # trigger and its function
    append_only: Name
    no_truncate: Name


@dataclasses.dataclass(frozen=True)
class TablePlan:
    table: Name
    sequence: Name
    sequence_literal: str  # the sequence as a regclass literal, for nextval()
    table_literal: str  # the table name as an SQL string literal, for messages
    append: Name
    append_one: Name
    verify: Name  # checks one seq range of a hashed table's chain
    pkey: Name
    parent_fkey: Name
    seq_key: Name
    parent_index: Name
    schema_index: Name
    inserted_at_index: Name
    append_only: Name
    no_truncate: Name
    links: tuple[LinkTablePlan, ...]


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    kind: str  # "none", "count" or "function"
    count: int
    module: str
    function: str


@dataclasses.dataclass(frozen=True)
class Plan:
    generator_version: str
    spec_path: str
    spec_sha256: str
    module: str
    table: str
    hashed: bool
    reject_change: Name
    migrate_locks: tuple[int, ...]  # advisory lock keys taken first (migrate_locks)
    schemas: tuple[SchemaPlan, ...]
    actions: tuple[ActionPlan, ...]  # built-ins first, then custom by name
    aliases: tuple[AliasPlan, ...]  # legacy names as enum aliases, by name
    shard: ShardPlan
    links: tuple[LinkPlan, ...]  # by name
    tables: tuple[TablePlan, ...]  # one per physical events table
    # (namespace, name) of relations and functions, which are schema-wide in
    # PostgreSQL, and the spec location each comes from: two specs must not
    # share one.
    sql_names: tuple[tuple[tuple[str, str], Path], ...]

    # Every events table, then every link table, each sorted (Python's str
    # order) as appenders lock them (events table first, then its links), as
    # SQL string literals: migrate locks them first, in this order.
    lock_order: str
    link_names: str  # every link name as SQL string literals, for the append functions
    # The log's relations (tables, sequences, indexes) and functions by name,
    # as SQL string literals: migrate refuses those another role owns.
    owned_relations: str
    owned_functions: str
    insert_columns: str  # the quoted column list of an event INSERT
    shard_tables_py: str  # the SHARD_TABLES assignment, formatted as ruff would
    link_tables_py: str  # the LINK_TABLES assignment, formatted as ruff would
    typed_link_py: str  # the TypedLink alias (of typed links), formatted as ruff would

    @property
    def typed_links(self) -> tuple[LinkPlan, ...]:
        return tuple(link for link in self.links if link.typed)


class _Checker:
    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.errors: list[Diagnostic] = []

    def error(self, path: Path, message: str, *, key: bool = False) -> None:
        self.errors.append(self.loaded.marks.diagnostic(path, message, key=key))


def _schemas(spec: Spec, check: _Checker) -> tuple[SchemaPlan, ...]:
    counter = 0
    seen: dict[str, int] = {}
    out: list[SchemaPlan] = []
    for i, schema in enumerate(spec.schemas):
        if schema.name in seen:
            check.error(
                ("schemas", i),
                f"duplicate schema name {schema.name!r}"
                f" (also schemas[{seen[schema.name]}])",
            )
        seen.setdefault(schema.name, i)
        index = counter if schema.index is None else schema.index
        if index > MAX_INDEX:  # only a bare schema after index 2**31 - 1 gets here
            check.error(
                ("schemas", i),
                f"takes index {index}, past the integer column's {MAX_INDEX}:"
                " give the schemas before it lower indexes",
            )
        elif index == counter - 1:
            check.error(
                ("schemas", i, "index"),
                f"{index} is the index of the previous schema; the lowest free"
                f" index is {counter}",
            )
        elif index < counter:
            check.error(
                ("schemas", i, "index"),
                f"{index} is lower than a previous schema's index ({counter - 1})",
            )
        counter = max(counter, index + 1)
        names: dict[str, int] = {}
        for j, action in enumerate(schema.actions):
            if action in names:
                check.error(
                    ("schemas", i, "actions", j), f"duplicate action {action!r}"
                )
            if action in dict(BUILTIN_ACTIONS):
                check.error(
                    ("schemas", i, "actions", j),
                    f"{action!r} is a built-in action, allowed for every schema",
                )
            names.setdefault(action, j)
        custom = tuple(sorted(a for a in names if a not in dict(BUILTIN_ACTIONS)))
        out.append(SchemaPlan(schema.name, index, custom))
    return tuple(out)


def _actions(
    spec: Spec, schemas: tuple[SchemaPlan, ...], check: _Checker
) -> tuple[tuple[ActionPlan, ...], tuple[AliasPlan, ...]]:
    declared = sorted({a for s in schemas for a in s.actions})
    builtin = dict(BUILTIN_ACTIONS)
    rejected: set[str] = set()  # aliases already reported: no second diagnostic
    legacy_of: dict[str, str] = {}  # legacy name -> the first alias that takes it
    shared: set[str] = set()  # legacy names two aliases take: reported once
    for key, value in spec.aliases.items():  # in the spec's order: the later
        # of two aliases taking one legacy name is the one reported
        if key not in declared:
            check.error(
                ("aliases", key),
                f"{key!r} is not a custom action declared by any schema",
                key=True,
            )
        if value in builtin:
            check.error(
                ("aliases", key),
                f"{value!r} is a built-in action: its code cannot be taken over",
            )
            rejected.add(key)
        elif value in declared:
            check.error(
                ("aliases", key),
                f"{value!r} is itself a declared action:"
                " two actions would share one code",
            )
            rejected.add(key)
        elif value in legacy_of:
            check.error(
                ("aliases", key),
                f"{value!r} is already the legacy name of {legacy_of[value]!r}:"
                " two actions would share one code",
            )
            rejected.add(key)
            shared.add(value)
        legacy_of.setdefault(value, key)
    actions = [ActionPlan(name, code, None) for name, code in BUILTIN_ACTIONS]
    owners: dict[int, str] = {code: name for name, code in BUILTIN_ACTIONS}
    for name in declared:
        legacy = spec.aliases.get(name)
        code = action_code(legacy or name)
        if (
            code in owners
            and name not in rejected
            # the other alias of a shared legacy name: reported once, above
            and not (legacy in shared and spec.aliases.get(owners[code]) == legacy)
        ):
            where: Path = (
                ("aliases", name) if legacy else _first_declaration(spec, name)
            )
            check.error(
                where,
                f"action {name!r} has code {code},"
                f" which collides with {owners[code]!r}",
            )
        owners.setdefault(code, name)
        actions.append(ActionPlan(name, code, legacy))
    aliases = tuple(
        sorted(
            AliasPlan(a.legacy, a.name, a.code) for a in actions if a.legacy is not None
        )
    )
    return tuple(actions), aliases


def _first_declaration(spec: Spec, action: str) -> Path:
    """Where a colliding action is declared (looked up only to report an error)."""
    for i, schema in enumerate(spec.schemas):
        if action in schema.actions:
            return ("schemas", i, "actions", schema.actions.index(action))
    return ("schemas",)


def _shard(spec: Spec, check: _Checker) -> tuple[ShardPlan, list[tuple[str, Path]]]:
    shard = spec.shard
    base: Path = ("table",)
    if shard is None:
        return ShardPlan("none", 1, "", ""), [(spec.table, base)]
    if (shard.count is None) == (shard.function is None):
        check.error(("shard",), "give exactly one of `count` or `function`")
        return ShardPlan("none", 1, "", ""), [(spec.table, base)]
    if shard.count is not None:
        if shard.tables is not None:
            check.error(
                ("shard", "tables"), "`tables` goes with `function`, not `count`"
            )
        counted = [(f"{spec.table}_{i}", base) for i in range(shard.count)]
        return ShardPlan("count", shard.count, "", ""), counted
    assert shard.function is not None
    module, _, function = shard.function.partition(":")
    if module.split(".")[0] == "__future__" or module == spec.module:
        check.error(
            ("shard", "function"),
            f"{module!r} cannot hold the shard function: the generated module"
            " imports it at its top, so it must be another importable module",
        )
    if not shard.tables:
        check.error(("shard",), "`function` needs `tables`: every table it may return")
        return ShardPlan("function", 0, module, function), []
    seen: set[str] = set()
    tables: list[tuple[str, Path]] = []
    for i, table in enumerate(shard.tables):
        if table in seen:
            check.error(("shard", "tables", i), f"duplicate table {table!r}")
            continue
        seen.add(table)
        where: Path = ("shard", "tables", i)
        tables.append((table, where))
    return ShardPlan("function", len(tables), module, function), tables


def _links(spec: Spec, check: _Checker) -> tuple[LinkPlan, ...]:
    out: list[LinkPlan] = []
    tables: dict[str, str] = {}
    for name, link in sorted(spec.links.items()):
        if link.column in RESERVED_LINK_COLUMNS:
            check.error(
                ("links", name, "column"),
                f"{link.column!r} is reserved in link tables (event_id, type)",
            )
        elif link.column == "event":
            check.error(
                ("links", name, "column"),
                "'event' would name its foreign key <table>_event_fkey, which is"
                " event_id's: pick another column name",
            )
        if link.table in tables:
            check.error(
                ("links", name, "table"),
                f"link table {link.table!r} is also used"
                f" by link {tables[link.table]!r}",
            )
            continue
        tables[link.table] = name
        out.append(
            LinkPlan(name, link.table, _name(link.column), link.typed, link.constrained)
        )
    return tuple(out)


class _Names:
    """Every derived SQL name, checked for length and for collisions."""

    def __init__(self, check: _Checker) -> None:
        self.check = check
        self.relations: dict[str, str] = {}
        # The names PostgreSQL keeps per schema, relations and functions (two
        # namespaces), for the check across specs, with their spec locations.
        self.shared: dict[tuple[str, str], Path] = {}
        # Per spec location: its derived names that are too long.
        self.too_long: dict[Path, list[str]] = {}
        # Per spec location and the one that derived them first: names both derive.
        self.clashes: dict[tuple[Path, str], list[str]] = {}

    def make(
        self, raw: str, where: Path, *, relation: bool = True, function: bool = False
    ) -> Name:
        size = len(raw.encode())
        if size > MAX_IDENTIFIER_BYTES:
            self.too_long.setdefault(where, []).append(raw)
        elif relation and raw in self.relations:
            self.clashes.setdefault((where, self.relations[raw]), []).append(raw)
        if relation:
            self.relations.setdefault(raw, format_location(where))
        if relation or function:
            self.shared.setdefault(("function" if function else "relation", raw), where)
        return _name(raw)

    def report(self) -> None:
        """One error per spec location whose derived names are too long: its
        longest one, and by how much to shorten the name they are built from;
        one per pair of spec locations that derive the same names."""
        for (where, other), names in self.clashes.items():
            self.check.error(
                where,
                f"derived name {names[0]!r}{more_names(len(names) - 1)}"
                f" is also derived from {other}",
            )
        for where, names in self.too_long.items():
            longest = max(names, key=lambda name: len(name.encode()))
            size = len(longest.encode())
            more = len(names) - 1
            noun = "name is" if more == 1 else "names are"
            others = f" ({more} more derived {noun} too long too)" if more else ""
            self.check.error(
                where,
                f"derived name {longest!r} is {size} bytes,"
                f" {size - MAX_IDENTIFIER_BYTES} over PostgreSQL's"
                f" {MAX_IDENTIFIER_BYTES}{others}: shorten the names it is built from",
            )


def _tables(
    physical: list[tuple[str, Path]],
    links: tuple[LinkPlan, ...],
    sharded: bool,
    names: _Names,
) -> tuple[TablePlan, ...]:
    out: list[TablePlan] = []
    for table, where in physical:
        link_plans: list[LinkTablePlan] = []
        for link in links:
            lwhere: Path = ("links", link.name, "table")
            lt = f"{table}_{link.table}" if sharded else link.table
            make = names.make
            link_plans.append(
                LinkTablePlan(
                    link=link,
                    table=make(lt, lwhere),
                    key=make(f"{lt}_key", lwhere),
                    event_fkey=make(f"{lt}_event_fkey", lwhere, relation=False),
                    column_fkey=make(
                        f"{lt}_{link.column.raw}_fkey",
                        ("links", link.name, "column"),
                        relation=False,
                    ),
                    column_index=make(
                        f"{lt}_{link.column.raw}_idx", ("links", link.name, "column")
                    ),
                    same_parent=make(
                        f"{lt}_same_parent", lwhere, relation=False, function=True
                    ),
                    append_only=make(f"{lt}_append_only", lwhere, relation=False),
                    no_truncate=make(f"{lt}_no_truncate", lwhere, relation=False),
                )
            )
        sequence = names.make(f"{table}_seq", where)
        out.append(
            TablePlan(
                table=names.make(table, where),
                sequence=sequence,
                sequence_literal="'" + sequence.q + "'",
                table_literal="'" + table + "'",
                append=names.make(
                    f"{table}_append", where, relation=False, function=True
                ),
                append_one=names.make(
                    f"{table}_append_one", where, relation=False, function=True
                ),
                verify=names.make(
                    f"{table}_verify", where, relation=False, function=True
                ),
                pkey=names.make(f"{table}_pkey", where),
                parent_fkey=names.make(f"{table}_parent_fkey", where, relation=False),
                seq_key=names.make(f"{table}_seq_key", where),
                parent_index=names.make(f"{table}_parent_id_idx", where),
                schema_index=names.make(f"{table}_schema_idx", where),
                inserted_at_index=names.make(f"{table}_inserted_at_idx", where),
                append_only=names.make(f"{table}_append_only", where, relation=False),
                no_truncate=names.make(f"{table}_no_truncate", where, relation=False),
                links=tuple(link_plans),
            )
        )
    return tuple(out)


def tuple_assignment(target: str, items: list[str], width: int = 88) -> str:
    """`target = (...)` of string literals, laid out exactly as `ruff format` does."""
    literals = [f'"{item}"' for item in items]
    if not literals:
        return f"{target} = ()"
    if len(literals) == 1:
        inline = f"{target} = ({literals[0]},)"
        if len(inline) <= width:
            return inline
    body = "".join(f"    {literal},\n" for literal in literals)
    return f"{target} = (\n{body})"


def subscript_assignment(target: str, items: list[str], width: int = 88) -> str:
    """`target[items]` (`X: TypeAlias = Literal[...]`), laid out exactly as
    `ruff format` does: flat; else the items on one line of their own (always
    so for one item); else one item per line, with a trailing comma."""
    joined = ", ".join(items)
    if len(flat := f"{target}[{joined}]") <= width:
        return flat
    if len(items) == 1 or 4 + len(joined) <= width:
        return f"{target}[\n    {joined}\n]"
    body = "".join(f"    {item},\n" for item in items)
    return f"{target}[\n{body}]"


def _literals(shared: Mapping[tuple[str, str], Path], kind: str) -> str:
    """The names of one kind (relation or function), sorted, as SQL literals."""
    return ", ".join(f"'{raw}'" for k, raw in sorted(shared) if k == kind)


def plan(spec: Spec, loaded: Loaded, *, spec_path: str, generator_version: str) -> Plan:
    """Resolve every derived fact; raise SpecError listing every broken rule."""
    check = _Checker(loaded)
    schemas = _schemas(spec, check)
    actions, aliases = _actions(spec, schemas, check)
    if spec.module in SHADOWED:
        check.error(
            ("module",),
            f"{spec.module!r} is the name of a module the generated code imports"
            " (or of the standard library's): it would shadow it",
        )
    shard, physical = _shard(spec, check)
    links = _links(spec, check)
    names = _Names(check)
    tables = _tables(physical, links, shard.kind != "none", names)
    reject = names.make(
        f"{spec.table}_reject_change", ("table",), relation=False, function=True
    )
    names.report()
    if check.errors:
        raise SpecError(check.errors)
    link_tables = [lt.table.raw for t in tables for lt in t.links]
    return Plan(
        generator_version=generator_version,
        spec_path=spec_path,
        spec_sha256=hashlib.sha256(loaded.text).hexdigest(),
        module=spec.module,
        table=spec.table,
        hashed=spec.hashed,
        reject_change=reject,
        migrate_locks=migrate_locks([spec.table, *(t.table.raw for t in tables)]),
        schemas=schemas,
        actions=actions,
        aliases=aliases,
        shard=shard,
        links=links,
        tables=tables,
        sql_names=tuple(names.shared.items()),
        link_names=", ".join(f"'{link.name}'" for link in links),
        owned_relations=_literals(names.shared, "relation"),
        owned_functions=_literals(names.shared, "function"),
        lock_order=", ".join(
            f"'{name}'"
            for name in (*sorted(t.table.raw for t in tables), *sorted(link_tables))
        ),
        insert_columns=", ".join(
            quote(c) for c in (*EVENT_COLUMNS, *(("hash",) if spec.hashed else ()))
        ),
        shard_tables_py=tuple_assignment(
            "SHARD_TABLES: Final[tuple[str, ...]]", [t.table.raw for t in tables]
        ),
        link_tables_py=tuple_assignment(
            "LINK_TABLES: Final[tuple[str, ...]]", link_tables
        ),
        typed_link_py=subscript_assignment(
            "TypedLink: TypeAlias = Literal",
            [f"Link.{link.name}" for link in links if link.typed],
        ),
    )
