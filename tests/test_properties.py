"""Properties of the generated module over random valid specs, plus Spector's examples.

Each random spec is generated with the real pipeline, compiled, imported under a
unique module name and exercised: Schema indexes follow Spector's counter rule,
`table_for` and `link_table_for` follow the sharding rules, and `changeset` never
raises on any input. A batch of specs per example also goes through ruff in a
single subprocess call. The changeset API is then checked in detail on the
committed `generated_example.blog_events`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import importlib
import itertools
import keyword
import math
import os
import subprocess
import sys
import tempfile
import types
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from generated_example import blog_events, chat_events, region_events
from generator.codegen import Job, generate

BUILTIN_ACTIONS = ("insert", "update", "delete", "savepoint")
RESERVED = frozenset({"name", "value", "mro"})
AMBIGUOUS = frozenset({"l", "I", "O"})  # ruff E741
# Schemas and actions become IntEnum members, links StrEnum members: a name must
# not shadow an attribute of the member's base type.
INT_ATTRIBUTES = frozenset(dir(int))
STR_ATTRIBUTES = frozenset(dir(str))
MAX_SQL_NAME = 63
# Valid names that look like module-level names or the other enum's attributes.
TRICKY_SCHEMAS = ("Schema", "Action", "Event", "Link", "TABLE", "upper", "x" * 40)
TRICKY_ACTIONS = ("index", "upper", "table", "links", "event", "schema", "changeset")
TRICKY_LINKS = ("real", "numerator", "bit_length", "table", "event", "insert")

SETTINGS = settings(
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- random valid specs -------------------------------------------------------


def _allowed(name: str) -> bool:
    return not (
        keyword.iskeyword(name)
        or keyword.issoftkeyword(name)
        or name in RESERVED
        or name in AMBIGUOUS
        or name.startswith("_")
    )


schema_names = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,39}", fullmatch=True),
    st.sampled_from(TRICKY_SCHEMAS),
).filter(lambda n: _allowed(n) and n not in INT_ATTRIBUTES)
_snake = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
action_names = st.one_of(_snake, st.sampled_from(TRICKY_ACTIONS)).filter(
    lambda n: _allowed(n) and n not in BUILTIN_ACTIONS and n not in INT_ATTRIBUTES
)
link_names = st.one_of(_snake, st.sampled_from(TRICKY_LINKS)).filter(
    lambda n: _allowed(n) and n not in STR_ATTRIBUTES
)


@dataclass(frozen=True)
class SchemaCase:
    name: str
    index: int | None
    actions: tuple[str, ...]


@dataclass(frozen=True)
class LinkCase:
    table: str
    column: str
    typed: bool
    constrained: bool


@dataclass(frozen=True)
class SpecCase:
    """A valid spec, as data for YAML and as the facts the tests expect."""

    table: str
    hashed: bool
    schemas: tuple[SchemaCase, ...]
    aliases: Mapping[str, str]
    shard_count: int | None
    links: Mapping[str, LinkCase] = field(default_factory=dict)

    def data(self, module: str) -> dict[str, object]:
        schemas: list[object] = []
        for s in self.schemas:
            if s.index is None and not s.actions:
                schemas.append(s.name)
                continue
            entry: dict[str, object] = {"name": s.name}
            if s.index is not None:
                entry["index"] = s.index
            if s.actions:
                entry["actions"] = list(s.actions)
            schemas.append(entry)
        out: dict[str, object] = {
            "version": 1,
            "module": module,
            "table": self.table,
            "hashed": self.hashed,
            "schemas": schemas,
        }
        if self.aliases:
            out["aliases"] = dict(self.aliases)
        if self.shard_count is not None:
            out["shard"] = {"count": self.shard_count}
        if self.links:
            out["links"] = {
                name: {
                    "table": link.table,
                    "column": link.column,
                    "typed": link.typed,
                    "constrained": link.constrained,
                }
                for name, link in self.links.items()
            }
        return out


def spector_indexes(schemas: Sequence[SchemaCase]) -> dict[str, int]:
    """Spector's rule, restated: a counter from 0; each schema sets it to index + 1."""
    counter = 0
    out: dict[str, int] = {}
    for schema in schemas:
        index = counter if schema.index is None else schema.index
        assert index >= counter
        out[schema.name] = index
        counter = index + 1
    return out


def _sized(pattern: str, longest: int) -> st.SearchStrategy[str]:
    """Names of `pattern` (first char, then the rest) up to `longest` characters,
    often near `longest`: lines that print them reach ruff's 88 columns."""
    first, rest = pattern[0], pattern[1:]
    near = st.integers(max(1, longest - 6), longest)
    return st.from_regex(
        rf"{first}{rest}{{0,{longest - 1}}}", fullmatch=True
    ) | near.flatmap(
        lambda n: st.from_regex(rf"{first}{rest}{{{n - 1}}}", fullmatch=True)
    )


@st.composite
def spec_cases(draw: st.DrawFn) -> SpecCase:
    names = draw(st.lists(schema_names, min_size=1, max_size=6, unique=True))
    schemas: list[SchemaCase] = []
    counter = 0
    for name in names:
        gap = draw(st.none() | st.integers(0, 3) | st.integers(0, 10_000))
        index = None if gap is None else counter + gap
        counter = (counter if index is None else index) + 1
        actions = draw(st.lists(action_names, max_size=4, unique=True))
        schemas.append(SchemaCase(name, index, tuple(actions)))
    declared = sorted({a for s in schemas for a in s.actions})
    aliases: dict[str, str] = {}
    use_alias = draw(st.booleans())
    if declared and use_alias:
        key = draw(st.sampled_from(declared))
        legacy = draw(
            action_names.filter(lambda n: n not in declared and n not in aliases)
        )
        aliases[key] = legacy
    shard_count = draw(st.none() | st.integers(1, 16))
    prefix_len = 3 if shard_count is not None else 0  # "_15"
    longest_table = MAX_SQL_NAME - prefix_len - len("_inserted_at_idx")
    table = draw(_sized(r"t[a-z0-9_]", longest_table))
    links: dict[str, LinkCase] = {}
    chosen_links = draw(st.lists(link_names, max_size=3, unique=True))
    link_tables: set[str] = set()
    for link_name in chosen_links:
        column = draw(st.from_regex(r"c[a-z0-9_]{0,11}", fullmatch=True))
        shard_prefix = len(table) + prefix_len + 1 if shard_count is not None else 0
        budget = MAX_SQL_NAME - shard_prefix - max(len("_same_parent"), len(column) + 6)
        if budget < 1:
            break
        # No underscore in link tables: no derived name of one can be another's.
        link_table = draw(
            _sized("l[a-z0-9]", min(budget, 47)).filter(lambda n: n not in link_tables)
        )
        link_tables.add(link_table)
        links[link_name] = LinkCase(
            link_table, column, draw(st.booleans()), draw(st.booleans())
        )
    return SpecCase(
        table, draw(st.booleans()), tuple(schemas), aliases, shard_count, links
    )


# --- generate, compile, import -------------------------------------------------

_serial = itertools.count()


@dataclass(frozen=True)
class Generated:
    case: SpecCase
    module: types.ModuleType
    path: Path
    text: str


def _generate_batch(cases: Sequence[SpecCase], folder: Path) -> list[Path]:
    """Write each spec, generate each, return the module paths."""
    specs = folder / "specs"
    specs.mkdir()
    jobs = []
    for i, case in enumerate(cases):
        spec = specs / f"events_{i}.yaml"
        spec.write_text(
            yaml.safe_dump(case.data(f"events_{i}"), sort_keys=False), encoding="utf-8"
        )
        jobs.append(Job(spec, folder / "out"))
    # One run per spec: random specs may derive the same SQL names, which one
    # run refuses (two logs would share PostgreSQL objects).
    files = {
        path: text for job in jobs for path, text in generate([job], folder).items()
    }
    assert set(files) == {
        folder / "out" / f"events_{i}.{ext}"
        for i in range(len(cases))
        for ext in ("py", "sql")
    }
    for path, text in files.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [folder / "out" / f"events_{i}.py" for i in range(len(cases))]


@contextlib.contextmanager
def imported(cases: Sequence[SpecCase]) -> Iterator[list[Generated]]:
    """Generate, compile and import every spec under a unique module name."""
    with tempfile.TemporaryDirectory(prefix="spectorgen-prop-") as tmp:
        folder = Path(tmp)
        paths = _generate_batch(cases, folder)
        modules_dir = folder / "modules"
        modules_dir.mkdir()
        names: list[str] = []
        out: list[Generated] = []
        sys.path.insert(0, str(modules_dir))
        try:
            for case, path in zip(cases, paths, strict=True):
                text = path.read_text(encoding="utf-8")
                compile(text, str(path), "exec", dont_inherit=True)
                name = f"spectorgen_prop_{os.getpid()}_{next(_serial)}"
                (modules_dir / f"{name}.py").write_text(text, encoding="utf-8")
                importlib.invalidate_caches()
                names.append(name)
                out.append(Generated(case, importlib.import_module(name), path, text))
            yield out
        finally:
            sys.path.remove(str(modules_dir))
            for name in names:
                sys.modules.pop(name, None)


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


MINIMAL = SpecCase("t", False, (SchemaCase("A", None, ()),), {}, None)


# Each example costs two ruff processes, so a failure is reported unshrunk (ruff's
# own output points at the line); the explicit minimal spec fails first and fast.
@settings(SETTINGS, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(spec_cases(), min_size=1, max_size=4))
@example([MINIMAL])
def test_random_specs_are_ruff_clean(cases: list[SpecCase]) -> None:
    """The generated code passes ruff with its default rules, formatted as is."""
    with tempfile.TemporaryDirectory(prefix="spectorgen-ruff-") as tmp:
        paths = [str(p) for p in _generate_batch(cases, Path(tmp))]
        fmt = _ruff("format", "--check", "--no-cache", "--isolated", *paths)
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr
        check = _ruff("check", "--no-cache", "--isolated", *paths)
        assert check.returncode == 0, check.stdout + check.stderr


@SETTINGS
@given(st.lists(spec_cases(), min_size=1, max_size=3), st.lists(st.uuids(), min_size=1))
def test_random_specs_follow_spectors_rules(
    cases: list[SpecCase], parents: list[uuid.UUID]
) -> None:
    with imported(cases) as generated:
        for item in generated:
            case, module = item.case, item.module
            members = {m.name: int(m.value) for m in module.Schema}
            assert members == spector_indexes(case.schemas)
            assert [m.name for m in module.Schema] == [s.name for s in case.schemas]
            assert case.table == module.TABLE
            assert module.HASHED is case.hashed
            if case.shard_count is None:
                assert (case.table,) == module.SHARD_TABLES
            else:
                assert (
                    tuple(f"{case.table}_{i}" for i in range(case.shard_count))
                    == module.SHARD_TABLES
                )
            for name, legacy in case.aliases.items():
                assert module.Action[legacy] is module.Action[name]
                assert module.ALIASES[name] == legacy
            for schema in case.schemas:
                allowed = {
                    a.name for a in module.ALLOWED_ACTIONS[module.Schema[schema.name]]
                }
                assert allowed == {*BUILTIN_ACTIONS, *schema.actions}
            for parent in parents:
                _check_tables(module, case, parent)


def _check_tables(module: types.ModuleType, case: SpecCase, parent: uuid.UUID) -> None:
    table = module.table_for(parent)
    assert table == module.table_for(uuid.UUID(bytes=parent.bytes))
    assert table in module.SHARD_TABLES
    if case.shard_count is None:
        assert table == case.table
    else:
        assert table == f"{case.table}_{parent.bytes[0] % case.shard_count}"
    for name, link in case.links.items():
        got = module.link_table_for(parent, module.Link[name])
        expected = link.table if case.shard_count is None else f"{table}_{link.table}"
        assert got == expected
        assert got in module.LINK_TABLES


# --- changeset never raises ------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
junk = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=12),
    st.binary(max_size=4),
    st.floats(),
    st.lists(st.integers(), max_size=2),
)


def _attrs(
    module: types.ModuleType, case: SpecCase
) -> st.SearchStrategy[dict[str, object]]:
    schema_names_ = [s.name for s in case.schemas]
    action_names = [*BUILTIN_ACTIONS, *{a for s in case.schemas for a in s.actions}]
    uuids = st.uuids() | st.uuids().map(str) | junk
    schemas = (
        st.sampled_from(list(module.Schema)) | st.sampled_from(schema_names_) | junk
    )
    actions = (
        st.sampled_from(list(module.Action)) | st.sampled_from(action_names) | junk
    )
    payloads = (
        st.none()
        | st.dictionaries(st.text(max_size=5), json_values, max_size=4)
        | json_values
        | st.text(max_size=20).map(module.RawJson)
        | junk
    )
    known = st.fixed_dictionaries(
        {},
        optional={
            "id": uuids,
            "parent_id": uuids,
            "schema": schemas,
            "action": actions,
            "payload": payloads,
        },
    )
    extra = st.dictionaries(st.text(max_size=8), junk, max_size=2)
    return st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]})


@SETTINGS
@given(st.lists(spec_cases(), min_size=1, max_size=2), st.data())
def test_changeset_never_raises_and_valid_means_applicable(
    cases: list[SpecCase], data: st.DataObject
) -> None:
    with imported(cases) as generated:
        for item in generated:
            module, case = item.module, item.case
            for _ in range(5):
                attrs = data.draw(_attrs(module, case), label="attrs")
                previous = None
                if data.draw(st.booleans(), label="from an event"):
                    schema = data.draw(st.sampled_from(list(module.Schema)))
                    parent = data.draw(st.uuids())
                    previous = module.Event(
                        uuid.uuid4(),
                        parent,
                        schema,
                        module.Action.insert,
                        {"k": 1},
                        datetime.datetime.now(datetime.UTC),
                        None,
                        module.table_for(parent),
                        1,
                    )
                    cs = module.changeset(previous, attrs)
                else:
                    cs = module.changeset(attrs)
                _check_changeset(module, attrs, previous, cs)


def _check_changeset(
    module: types.ModuleType,
    attrs: Mapping[str, object],
    previous: Any,  # the random module's Event, or None
    cs: Any,  # the random module's EventChangeset
) -> None:
    errors = cs.errors
    fields = {field for field, _ in errors}
    assert isinstance(errors, tuple)
    assert cs.valid is (not errors)
    for key in set(attrs) - {"id", "parent_id", "schema", "action", "payload"}:
        assert (key, "unknown field") in errors
    if "id" not in attrs:
        # A count-sharded log starts a record with a UUIDv4: a UUIDv7's first
        # byte is the clock's and would send every record to one shard.
        starts_record = previous is None and "parent_id" not in attrs
        sharded = module.SHARD_TABLES != (module.TABLE,)
        assert cs.id.version == (4 if starts_record and sharded else 7)
    if previous is not None and "parent_id" not in attrs:
        assert cs.parent_id == previous.parent_id
    if previous is None and "parent_id" not in attrs and "id" not in fields:
        assert cs.parent_id == cs.id
    if previous is None and "schema" not in attrs:
        assert "schema" in fields
    if errors:
        with pytest.raises(module.InvalidEvent) as caught:
            cs.apply()
        assert caught.value.errors == errors
        return
    pending = cs.apply()
    assert pending.id == cs.id
    assert pending.parent_id == cs.parent_id
    assert isinstance(pending.schema, module.Schema)
    assert isinstance(pending.action, module.Action)
    assert pending.action in module.ALLOWED_ACTIONS[pending.schema]
    assert pending.table == module.table_for(pending.parent_id)
    assert pending.payload is None or isinstance(pending.payload, dict | module.RawJson)
    if isinstance(pending.payload, dict):
        _assert_storable(pending.payload)


def _assert_storable(value: object) -> None:
    """What a valid changeset carries is what jsonb can store."""
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, str):
        assert "\x00" not in value
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            _assert_storable(key)
            _assert_storable(item)
    elif isinstance(value, list):
        for item in value:
            _assert_storable(item)
    else:
        assert value is None or isinstance(value, bool | int)


# --- Spector's examples --------------------------------------------------------


def test_spector_index_example() -> None:
    case = SpecCase(
        "events",
        False,
        (
            SchemaCase("User", None, ()),
            SchemaCase("Post", None, ()),
            SchemaCase("Comment", 10, ()),
        ),
        {},
        None,
    )
    assert case.data("m")["schemas"] == [
        "User",
        "Post",
        {"name": "Comment", "index": 10},
    ]
    with imported([case]) as (item,):
        schema = item.module.Schema
        assert [(m.name, int(m)) for m in schema] == [
            ("User", 0),
            ("Post", 1),
            ("Comment", 10),
        ]


def test_count_sharding_example() -> None:
    links = {"ancestors": LinkCase("ancestors", "ancestor_id", False, True)}
    sharded = SpecCase("events", True, (SchemaCase("Chat", None, ()),), {}, 4, links)
    plain = SpecCase("events", True, (SchemaCase("Chat", None, ()),), {}, None, links)
    parent = uuid.UUID(bytes=bytes([0x05]) + bytes(15))
    with imported([sharded, plain]) as (s, p):
        assert s.module.SHARD_TABLES == ("events_0", "events_1", "events_2", "events_3")
        assert s.module.table_for(parent) == "events_1"
        link = s.module.Link.ancestors
        assert s.module.link_table_for(parent, link) == "events_1_ancestors"
        assert p.module.table_for(parent) == "events"
        assert p.module.link_table_for(parent, p.module.Link.ancestors) == "ancestors"
    assert chat_events.table_for(parent) == "chat_events_1"
    assert (
        chat_events.link_table_for(parent, chat_events.Link.mentions)
        == "chat_events_1_mentions"
    )


def test_function_sharding_checks_the_returned_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    even = uuid.UUID(bytes=bytes(16))
    odd = uuid.UUID(bytes=bytes([1]) + bytes(15))
    assert region_events.table_for(even) == "region_events_eu"
    assert region_events.table_for(odd) == "region_events_us"
    attrs: region_events.EventAttrs = {"schema": "Account", "action": "insert"}
    good = region_events.changeset({**attrs, "id": even})
    assert good.valid and good.table == "region_events_eu"

    monkeypatch.setattr(region_events, "_shard_function", lambda _: "elsewhere")
    with pytest.raises(region_events.ShardError, match="elsewhere"):
        region_events.table_for(even)
    cs = region_events.changeset({**attrs, "id": even})
    assert not cs.valid
    assert [f for f, _ in cs.errors] == ["parent_id"]
    assert "elsewhere" in cs.errors[0][1]
    with pytest.raises(region_events.InvalidEvent):
        cs.apply()
    moved = region_events.shard(dataclasses.replace(good, parent_id=odd), odd)
    assert not moved.valid and moved.errors[-1][0] == "parent_id"
    assert "elsewhere" in moved.errors[-1][1]


# --- the changeset API on blog_events --------------------------------------------


def _stored_event(
    schema: blog_events.Schema, action: blog_events.Action
) -> blog_events.Event:
    parent = blog_events.uuid7()
    return blog_events.Event(
        blog_events.uuid7(),
        parent,
        schema,
        action,
        {"title": "Hello"},
        datetime.datetime.now(datetime.UTC),
        b"\x00" * 32,
        blog_events.table_for(parent),
        1,
    )


def test_id_defaults_to_increasing_uuid7_and_parent_to_id() -> None:
    made = [
        blog_events.changeset({"schema": "User", "action": "insert"})
        for _ in range(200)
    ]
    ids = [cs.id for cs in made]
    assert all(
        i is not None and i.version == 7 and i.variant == uuid.RFC_4122 for i in ids
    )
    assert ids == sorted(ids, key=lambda u: u.int if u else 0)
    assert len(set(ids)) == len(ids)
    assert all(cs.parent_id == cs.id and cs.valid for cs in made)
    millis = (ids[0].int >> 80) if ids[0] else 0
    now = datetime.datetime.now(datetime.UTC).timestamp() * 1000
    assert abs(now - millis) < 60_000


def test_new_records_spread_over_count_shards() -> None:
    """UUIDv7's first byte is the clock's, so a count-sharded log starts records
    with random UUIDv4 ids; later events of a record keep its shard."""
    first = [
        chat_events.changeset({"schema": "Chat", "action": "insert"})
        for _ in range(200)
    ]
    assert {cs.table for cs in first} == set(chat_events.SHARD_TABLES)
    for cs in first[:20]:
        assert cs.id is not None and cs.parent_id == cs.id
        follow = chat_events.changeset({**_attrs_of(cs), "action": "update"})
        assert follow.valid and follow.table == cs.table
        assert follow.id is not None and follow.id.version == 7


def _attrs_of(cs: chat_events.EventChangeset) -> chat_events.EventAttrs:
    assert cs.parent_id is not None and cs.schema is not None
    return {"parent_id": cs.parent_id, "schema": cs.schema}


def test_changeset_from_event_keeps_parent_and_schema() -> None:
    event = _stored_event(blog_events.Schema.Post, blog_events.Action.publish)
    cs = blog_events.changeset(event, {"action": "soft_delete"})
    assert cs.valid, cs.errors
    assert cs.parent_id == event.parent_id
    assert cs.schema is blog_events.Schema.Post
    assert cs.action is blog_events.Action.soft_delete
    assert cs.payload == event.payload
    assert cs.id is not None and cs.id != event.id and cs.id.version == 7
    assert cs.table == event.table


def test_changeset_casts_strings() -> None:
    event_id, parent_id = uuid.uuid4(), uuid.uuid4()
    cs = blog_events.changeset(
        {
            "id": str(event_id),
            "parent_id": str(parent_id).upper(),
            "schema": "Comment",
            "action": "flag",
            "payload": {"n": 1},
        }
    )
    assert cs.valid, cs.errors
    assert cs.id == event_id and cs.parent_id == parent_id
    assert cs.schema is blog_events.Schema.Comment
    assert cs.action is blog_events.Action.flag
    legacy = blog_events.changeset({"schema": "Post", "action": "archive"})
    assert legacy.valid and legacy.action is blog_events.Action.soft_delete


def test_changeset_records_every_error() -> None:
    attrs: dict[str, object] = {
        "id": "not-a-uuid",
        "parent_id": 42,
        "schema": "Nope",
        "action": "explode",
        "payload": ["not", "an", "object"],
        "colour": "red",
    }
    cs = blog_events.changeset(attrs)  # type: ignore[call-overload]
    assert not cs.valid
    fields = [f for f, _ in cs.errors]
    assert set(fields) == {"id", "parent_id", "schema", "action", "payload", "colour"}
    assert ("colour", "unknown field") in cs.errors
    with pytest.raises(blog_events.InvalidEvent) as caught:
        cs.apply()
    assert caught.value.errors == cs.errors
    for field_name in fields:
        assert field_name in str(caught.value)


def test_action_not_allowed_for_schema() -> None:
    cs = blog_events.changeset({"schema": "User", "action": "publish"})
    assert not cs.valid
    assert [f for f, _ in cs.errors] == ["action"]
    assert "publish" in cs.errors[0][1] and "User" in cs.errors[0][1]
    for action in BUILTIN_ACTIONS:
        assert blog_events.changeset({"schema": "User", "action": action}).valid


@pytest.mark.parametrize(
    "payload",
    ["text", 3, [1, 2], float("nan"), {"x": float("inf")}, {"x": "a\x00b"}, {"x": {1}}],
    ids=["str", "int", "list", "nan", "inf-inside", "nul", "set"],
)
def test_payload_must_be_a_storable_object(payload: object) -> None:
    attrs: dict[str, object] = {
        "schema": "User",
        "action": "insert",
        "payload": payload,
    }
    cs = blog_events.changeset(attrs)  # type: ignore[call-overload]
    assert not cs.valid
    assert {f.split(".")[0] for f, _ in cs.errors} == {"payload"}


class _Text(str):
    pass


class _Number(float):
    pass


class _Level(enum.IntEnum):
    LOW = 1
    HIGH = 10**4_400  # more digits than the JSON encoder may write


def _changeset(payload: object) -> blog_events.EventChangeset:
    attrs: dict[str, object] = {
        "schema": "User",
        "action": "insert",
        "payload": payload,
    }
    cs: blog_events.EventChangeset = blog_events.changeset(attrs)  # type: ignore[call-overload]
    return cs


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (_Text("a\x00b"), "NUL"),
        (_Text("\ud800"), "lone surrogate"),
        (_Number("inf"), "not a JSON number"),
        (_Level.HIGH, "cannot be encoded"),
    ],
    ids=["str-nul", "str-surrogate", "float-inf", "int-huge"],
)
def test_subclasses_of_json_scalars_get_the_same_checks(
    value: object, error: str
) -> None:
    """A subclass of a JSON scalar (a str or int enum, say) meets the same
    rules as the built-in type, as a value, in an array and as a key."""
    payloads: list[object] = [{"x": value}, {"x": [value]}]
    if isinstance(value, str):
        payloads.append({value: 1})
    for payload in payloads:
        cs = _changeset(payload)
        assert [m for _, m in cs.errors if error in m], (payload, cs.errors)
    assert _changeset({"s": _Text("ok"), "f": _Number("1.5"), "i": _Level.LOW}).valid


@pytest.mark.parametrize(
    ("schema", "action", "valid"),
    [
        (1, 1, True),  # Post, insert: stored codes, as a row holds them
        (10, blog_events.Action.flag.value, True),  # Comment's own action
        (0, blog_events.Action.publish.value, False),  # User may not publish
        (2, 1, False),  # no schema has index 2
        (1, 99, False),  # no action has code 99
        (True, 1, False),  # a bool is not a code
        (1.0, 1, False),  # nor is a float
    ],
)
def test_schema_and_action_may_be_given_as_codes(
    schema: object, action: object, valid: bool
) -> None:
    attrs: dict[str, object] = {"schema": schema, "action": action}
    cs: blog_events.EventChangeset = blog_events.changeset(attrs)  # type: ignore[call-overload]
    assert cs.valid is valid, cs.errors
    typed: blog_events.EventAttrs = {"schema": 1, "action": 1}  # mypy accepts codes
    assert blog_events.changeset(typed).valid
    if valid:
        assert cs.schema == schema and type(cs.schema) is blog_events.Schema
        assert cs.action == action and type(cs.action) is blog_events.Action


def test_missing_schema_and_action_are_errors() -> None:
    cs = blog_events.changeset({})
    assert {f for f, _ in cs.errors} == {"schema", "action"}


def test_shard_reaims_the_changeset() -> None:
    cs = blog_events.changeset({"schema": "User", "action": "insert"})
    assert cs.parent_id is not None
    assert blog_events.shard(cs, cs.parent_id) == cs
    low = uuid.UUID(bytes=bytes([0]) + bytes(15))
    high = uuid.UUID(bytes=bytes([3]) + bytes(15))
    chat = chat_events.changeset({"schema": "Chat", "action": "insert", "id": low})
    assert chat.table == "chat_events_0"
    moved = dataclasses.replace(chat, parent_id=high)  # now stale: still _0
    aimed = chat_events.shard(moved, high)
    assert aimed.table == "chat_events_3"
    assert aimed.valid and aimed.id == chat.id and aimed.parent_id == high


def test_shard_refuses_another_records_parent() -> None:
    """An event aimed at another record's table would be out of its own record's
    reads (events_for finds a record by its parent's table)."""
    low = uuid.UUID(bytes=bytes([0]) + bytes(15))
    high = uuid.UUID(bytes=bytes([3]) + bytes(15))
    chat = chat_events.changeset({"schema": "Chat", "action": "insert", "id": low})
    aimed = chat_events.shard(chat, high)
    assert not aimed.valid and aimed.table == "chat_events_0"
    ((field, message),) = aimed.errors
    assert field == "parent_id" and "is not the changeset's parent_id" in message
    with pytest.raises(chat_events.InvalidEvent):
        aimed.apply()
    blog = blog_events.changeset({"schema": "User", "action": "insert"})
    assert not blog_events.shard(blog, uuid.uuid4()).valid  # one table, same rule
    with pytest.raises(TypeError, match=r"must be a uuid\.UUID"):
        blog_events.shard(blog, str(blog.parent_id))  # type: ignore[arg-type]


def test_alias_and_read_only_aliases() -> None:
    assert blog_events.Action["archive"] is blog_events.Action.soft_delete
    assert (
        blog_events.Action(blog_events.Action.soft_delete.value).name == "soft_delete"
    )
    assert isinstance(blog_events.ALIASES, types.MappingProxyType)
    assert dict(blog_events.ALIASES) == {"soft_delete": "archive"}
    mutable = cast("dict[str, str]", blog_events.ALIASES)
    with pytest.raises(TypeError):
        mutable["x"] = "y"
    assert isinstance(chat_events.ALIASES, types.MappingProxyType)
    assert isinstance(blog_events.ALLOWED_ACTIONS, types.MappingProxyType)
