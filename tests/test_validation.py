"""Every spec rule of DESIGN.md, each pinned to its exact `file:line:col` diagnostic.

Specs are written inline; `HEAD` fills lines 1-3 so that the body starts on line 4.
"""

from __future__ import annotations

import hashlib
import keyword
from pathlib import Path

import pytest

from generator import spec
from generator.codegen import Job, generate
from generator.errors import Diagnostic, SpecError
from generator.loader import parse
from generator.plan import Plan, action_code, plan
from generator.validate import validate

HEAD = "version: 1\nmodule: m\ntable: events\n"
SQL_RULE = "is not a valid SQL identifier (must match ^[a-z_][a-z0-9_]*$)"
SNAKE_RULE = "is not a snake_case identifier ([a-z][a-z0-9_]*)"
DROP = "'events; drop table x'"

# Two snake_case action names whose Spector codes collide (found by brute force over
# a0, a1, ...); `test_colliding_pair_really_collides` re-verifies it.
COLLIDING = ("a28810", "a77335")


def spector_code(name: str) -> int:
    """The formula of DESIGN.md, written out independently of the generator."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(tmp_path: Path, *texts: tuple[str, str]) -> list[str]:
    """Run `generate` on specs (name, text) and return every diagnostic as text."""
    jobs = [
        Job(write_spec(tmp_path, text, name), tmp_path / "out") for name, text in texts
    ]
    with pytest.raises(SpecError) as info:
        generate(jobs, tmp_path)
    assert all(isinstance(d, Diagnostic) for d in info.value.diagnostics)
    return [str(d) for d in info.value.diagnostics]


def errors(tmp_path: Path, text: str) -> list[str]:
    return errors_of(tmp_path, ("spec.yaml", text))


def planned(text: str) -> Plan:
    loaded = parse(text.encode(), "spec.yaml")
    return plan(
        validate(loaded), loaded, spec_path="spec.yaml", generator_version="0.0.0"
    )


# --- YAML and document shape -------------------------------------------------------


def test_malformed_yaml(tmp_path: Path) -> None:
    text = "version: 1\nmodule: [m\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:3:1: <document>: malformed YAML:"
        " expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence at line 2, column 9)"
    ]


def test_malformed_yaml_bad_indentation(tmp_path: Path) -> None:
    text = "version: 1\nmodule: m\n table: events\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:3:7: <document>: malformed YAML: mapping values are not allowed here"
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [("- User\n- Post\n", "1:1"), ("just a string\n", "1:1"), ("~\n", "1:1")],
    ids=["list", "scalar", "null"],
)
def test_document_not_a_mapping(tmp_path: Path, text: str, where: str) -> None:
    assert errors(tmp_path, text) == [
        f"spec.yaml:{where}: <document>: the spec must be a mapping"
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_document(tmp_path: Path, text: str) -> None:
    assert errors(tmp_path, text) == ["spec.yaml:1:1: <document>: the spec is empty"]


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    text = "version: 1\nmodule: m\ntable: events\nmodule: n\nschemas: [User]\n"
    assert errors(tmp_path, text) == ["spec.yaml:4:1: module: duplicate key"]


def test_duplicate_nested_key(tmp_path: Path) -> None:
    text = HEAD + "schemas:\n  - name: User\n    name: Post\n"
    assert errors(tmp_path, text) == ["spec.yaml:6:5: schemas[0].name: duplicate key"]


def test_key_that_is_not_a_string(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User]\n1: x\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:5:1: <document>: key 1 is not a string"
    ]


# --- unknown keys, wrong types, version, required keys ------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User]\ncolour: red\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:5:1: colour: unknown key (allowed here: aliases, hashed, links,"
        " module, schemas, shard, table, version)"
    ]


def test_unknown_key_in_schema(tmp_path: Path) -> None:
    text = HEAD + "schemas:\n  - name: User\n    colour: red\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:6:5: schemas[0].colour: unknown key"
        " (allowed here: actions, index, name)"
    ]


def test_unknown_key_in_link(tmp_path: Path) -> None:
    text = (
        HEAD + "schemas: [User]\nlinks:\n  tags: {table: tags, column: tag_id, w: 3}\n"
    )
    assert errors(tmp_path, text) == [
        "spec.yaml:6:39: links.tags.w: unknown key"
        " (allowed here: column, constrained, table, typed)"
    ]


def test_unknown_key_in_shard(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User]\nshard:\n  count: 2\n  size: 3\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:7:3: shard.size: unknown key (allowed here: count, function, tables)"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "hashd: true\nschemas: [User]\n",
            "4:1: hashd: unknown key (did you mean 'hashed'?)",
        ),
        (
            "schemas:\n  - name: User\n    action: [publish]\n",
            "6:5: schemas[0].action: unknown key (did you mean 'actions'?)",
        ),
        (
            "schemas: [User]\nshard: {cuont: 2}\n",
            "5:9: shard.cuont: unknown key (did you mean 'count'?)",
        ),
        (
            "schemas: [User]\nlinks:\n  a: {table: t, column: c, typd: true}\n",
            "6:28: links.a.typd: unknown key (did you mean 'typed'?)",
        ),
    ],
)
def test_a_misspelt_key_gets_the_closest_allowed_one(
    tmp_path: Path, body: str, expected: str
) -> None:
    assert errors(tmp_path, HEAD + body) == [f"spec.yaml:{expected}"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "schemas:\n  - name: User\n    index: '3'\n",
            "spec.yaml:6:12: schemas[0].index:"
            " Input should be a valid integer, got '3'",
        ),
        (
            "schemas:\n  - name: User\n    index: true\n",
            "spec.yaml:6:12: schemas[0].index:"
            " Input should be a valid integer, got True",
        ),
        (
            "hashed: 1\nschemas: [User]\n",
            "spec.yaml:4:9: hashed: Input should be a valid boolean, got 1",
        ),
        (
            "schemas: User\n",
            "spec.yaml:4:10: schemas: Input should be a valid list, got 'User'",
        ),
        (
            "schemas: [User, 7]\n",
            "spec.yaml:4:17: schemas[1]: expected a schema name or a mapping"
            " {name, index?, actions?}, got 7",
        ),
        (
            "schemas: [User]\nshard: 5\n",
            "spec.yaml:5:8: shard: expected a mapping {count} or {function, tables},"
            " got 5",
        ),
        (
            "schemas: [User]\nlinks: {a: [x]}\n",
            "spec.yaml:5:12: links.a: expected a mapping {table, column, typed?,"
            " constrained?}, got ['x']",
        ),
        (
            "schemas:\n  - name: Post\n    actions: publish\n",
            "spec.yaml:6:14: schemas[0].actions:"
            " Input should be a valid list, got 'publish'",
        ),
        (
            "schemas: [User]\nshard:\n  count: four\n",
            "spec.yaml:6:10: shard.count: Input should be a valid integer, got 'four'",
        ),
        (
            "schemas: [User]\nshard:\n  count: 2.5\n",
            "spec.yaml:6:10: shard.count: Input should be a valid integer, got 2.5",
        ),
        (
            "schemas: [User]\nlinks: [tags]\n",
            "spec.yaml:5:8: links: Input should be a valid dictionary, got ['tags']",
        ),
        (
            "schemas: [User]\nlinks:\n  tags: {table: tags, column: c, typed: 'yes'}\n",
            "spec.yaml:6:41: links.tags.typed:"
            " Input should be a valid boolean, got 'yes'",
        ),
    ],
    ids=[
        "str-for-int",
        "bool-for-int",
        "int-for-bool",
        "str-for-list",
        "int-for-schema",
        "int-for-shard",
        "list-for-link",
        "str-for-actions",
        "str-for-count",
        "float-for-count",
        "list-for-mapping",
        "str-for-bool-in-link",
    ],
)
def test_wrong_type(tmp_path: Path, body: str, expected: str) -> None:
    assert errors(tmp_path, HEAD + body) == [expected]


def test_int_where_string(tmp_path: Path) -> None:
    text = "version: 1\nmodule: 5\ntable: events\nschemas: [User]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:2:9: module: Input should be a valid string, got 5"
    ]


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        ("2", "must be 1, the one spec version this tool reads, not 2"),
        ("0", "must be 1, the one spec version this tool reads, not 0"),
        ("'1'", "must be the integer 1, not '1'"),
        ("[1]", "must be the integer 1, not [1]"),
        ("null", "must be the integer 1, not None"),
    ],
)
def test_version_other_than_1(tmp_path: Path, version: str, problem: str) -> None:
    text = f"version: {version}\nmodule: m\ntable: events\nschemas: [User]\n"
    assert errors(tmp_path, text) == [f"spec.yaml:1:10: version: {problem}"]


def test_missing_required_top_level_keys(tmp_path: Path) -> None:
    text = "version: 1\nschemas: [User]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:1:1: module: is required",
        "spec.yaml:1:1: table: is required",
    ]


def test_missing_schemas(tmp_path: Path) -> None:
    assert errors(tmp_path, HEAD) == ["spec.yaml:1:1: schemas: is required"]


def test_missing_required_nested_keys(tmp_path: Path) -> None:
    text = HEAD + "schemas:\n  - index: 3\nlinks:\n  tags: {table: tags}\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:5:5: schemas[0].name: is required",
        "spec.yaml:7:9: links.tags.column: is required",
    ]


# --- schemas and actions ----------------------------------------------------------


def test_empty_schema_list(tmp_path: Path) -> None:
    assert errors(tmp_path, HEAD + "schemas: []\n") == [
        "spec.yaml:4:10: schemas: must list at least one schema"
    ]


def test_duplicate_schema_names(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User, Post, {name: User, index: 5}]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:4:23: schemas[2]: duplicate schema name 'User' (also schemas[0])"
    ]


def test_duplicate_action_in_a_schema(tmp_path: Path) -> None:
    text = HEAD + "schemas:\n  - name: Post\n    actions: [publish, publish]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:6:24: schemas[0].actions[1]: duplicate action 'publish'"
    ]


@pytest.mark.parametrize("builtin", ["insert", "update", "delete", "savepoint"])
def test_builtin_action_redeclared(tmp_path: Path, builtin: str) -> None:
    text = HEAD + f"schemas:\n  - name: Post\n    actions: [{builtin}]\n"
    assert errors(tmp_path, text) == [
        f"spec.yaml:6:15: schemas[0].actions[0]:"
        f" {builtin!r} is a built-in action, allowed for every schema"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + "schemas: [class]\n",
            "spec.yaml:4:11: schemas[0].name: 'class' is a Python keyword",
        ),
        (
            HEAD + "schemas: [match]\n",
            "spec.yaml:4:11: schemas[0].name: 'match' is a Python keyword",
        ),
        (
            HEAD + "schemas:\n  - name: Post\n    actions: [pass]\n",
            "spec.yaml:6:15: schemas[0].actions[0]: 'pass' is a Python keyword",
        ),
        (
            "version: 1\nmodule: import\ntable: events\nschemas: [User]\n",
            "spec.yaml:2:9: module: 'import' is a Python keyword",
        ),
        (
            HEAD + "schemas: [User]\nlinks:\n  from: {table: t, column: c}\n",
            "spec.yaml:6:3: links.from: 'from' is a Python keyword",
        ),
        (
            HEAD
            + "schemas:\n  - name: Post\n    actions: [x]\naliases:\n  x: lambda\n",
            "spec.yaml:8:6: aliases.x: 'lambda' is a Python keyword",
        ),
    ],
    ids=["schema", "schema-soft-keyword", "action", "module", "link", "alias-value"],
)
def test_python_keyword_as_name(tmp_path: Path, text: str, expected: str) -> None:
    assert errors(tmp_path, text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + "schemas: [2fast]\n",
            "spec.yaml:4:11: schemas[0].name: '2fast' is not a Python identifier",
        ),
        (
            HEAD + "schemas: [_User]\n",
            "spec.yaml:4:11: schemas[0].name:"
            " '_User' must not start with an underscore",
        ),
        (
            HEAD + "schemas:\n  - name: Post\n    actions: [Publish]\n",
            f"spec.yaml:6:15: schemas[0].actions[0]: 'Publish' {SNAKE_RULE}",
        ),
        (
            "version: 1\nmodule: my-events\ntable: events\nschemas: [User]\n",
            f"spec.yaml:2:9: module: 'my-events' {SNAKE_RULE}",
        ),
        (
            HEAD + "schemas: [User]\nlinks:\n  my-link: {table: t, column: c}\n",
            f"spec.yaml:6:3: links.my-link: 'my-link' {SNAKE_RULE}",
        ),
    ],
    ids=["schema", "schema-underscore", "action", "module", "link"],
)
def test_name_not_an_identifier(tmp_path: Path, text: str, expected: str) -> None:
    assert errors(tmp_path, text) == [expected]


LONG = "x" * 41


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + f"schemas: [{LONG.upper()}]\n",
            f"spec.yaml:4:11: schemas[0].name: {LONG.upper()!r}"
            " is longer than 40 characters",
        ),
        (
            HEAD + f"schemas:\n  - name: Post\n    actions: [{LONG}]\n",
            f"spec.yaml:6:15: schemas[0].actions[0]: {LONG!r}"
            " is longer than 40 characters",
        ),
        (
            f"version: 1\nmodule: {LONG}\ntable: events\nschemas: [User]\n",
            f"spec.yaml:2:9: module: {LONG!r} is longer than 40 characters",
        ),
        (
            HEAD + f"schemas: [User]\nlinks:\n  {LONG}: {{table: t, column: c}}\n",
            f"spec.yaml:6:3: links.{LONG}: {LONG!r} is longer than 40 characters",
        ),
    ],
    ids=["schema", "action", "module", "link"],
)
def test_name_longer_than_40(tmp_path: Path, text: str, expected: str) -> None:
    assert errors(tmp_path, text) == [expected]


def test_names_of_exactly_40_characters_are_accepted() -> None:
    text = f"version: 1\nmodule: {'m' * 40}\ntable: events\nschemas: [{'S' * 40}]\n"
    result = planned(text)
    assert result.module == "m" * 40
    assert [s.name for s in result.schemas] == ["S" * 40]


# --- indexes --------------------------------------------------------------------------


def test_index_lower_than_a_previous_one(tmp_path: Path) -> None:
    text = (
        HEAD
        + "schemas: [User, Post, {name: Comment, index: 10}, {name: X, index: 3}]\n"
    )
    assert errors(tmp_path, text) == [
        "spec.yaml:4:68: schemas[3].index:"
        " 3 is lower than a previous schema's index (10)"
    ]


def test_index_equal_to_an_implicit_one(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User, Post, {name: Comment, index: 1}]\n"
    found = errors(tmp_path, text)
    # Index 1 is taken (the counter is 2): pin the place, not the wording.
    assert len(found) == 1
    assert found[0].startswith("spec.yaml:4:46: schemas[2].index: ")


def test_negative_index(tmp_path: Path) -> None:
    text = HEAD + "schemas:\n  - name: User\n    index: -1\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:6:12: schemas[0].index: Input should be greater than or equal to 0"
    ]


def test_a_bare_schema_after_the_highest_index_is_refused(tmp_path: Path) -> None:
    """The counter is not capped by the `index` field's own bound."""
    text = HEAD + "schemas: [{name: A, index: 2147483647}, B]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:4:41: schemas[1]: takes index 2147483648, past the integer"
        " column's 2147483647: give the schemas before it lower indexes"
    ]
    assert [
        s.index
        for s in planned(HEAD + "schemas: [{name: A, index: 2147483647}]\n").schemas
    ] == [2**31 - 1]


# --- aliases --------------------------------------------------------------------------


def test_alias_key_not_a_declared_action(tmp_path: Path) -> None:
    text = (
        HEAD
        + "schemas:\n  - name: Post\n    actions: [publish]\n"
        + "aliases:\n  soft_delete: archive\n"
    )
    assert errors(tmp_path, text) == [
        "spec.yaml:8:3: aliases.soft_delete:"
        " 'soft_delete' is not a custom action declared by any schema"
    ]


def test_alias_value_is_a_declared_action(tmp_path: Path) -> None:
    text = (
        HEAD
        + "schemas:\n  - name: Post\n    actions: [soft_delete]\n"
        + "  - name: Comment\n    actions: [archive]\n"
        + "aliases:\n  soft_delete: archive\n"
    )
    # One mistake, one diagnostic: the code collision it implies is the same problem.
    assert errors(tmp_path, text) == [
        "spec.yaml:10:16: aliases.soft_delete: 'archive' is itself a declared action:"
        " two actions would share one code"
    ]


# --- action codes ---------------------------------------------------------------------


def test_colliding_pair_really_collides() -> None:
    first, second = COLLIDING
    assert first != second
    assert spector_code(first) == spector_code(second)
    assert action_code(first) == spector_code(first)


def test_a_non_ascii_identifier_is_refused_as_such(tmp_path: Path) -> None:
    """It is a Python identifier: the message said it was not."""
    assert errors(tmp_path, HEAD + "schemas: [Usér]\n") == [
        "spec.yaml:4:11: schemas[0].name: 'Usér' is not ASCII: generated names"
        " stay ASCII"
    ]


def test_a_yaml_merge_key_is_refused_by_name(tmp_path: Path) -> None:
    """PyYAML's own message named a constructor for a tag, not the `<<`."""
    text = (
        HEAD
        + "schemas: [User]\nlinks:\n  tags:\n    <<: {table: tags, column: tag_id}\n"
    )
    assert errors(tmp_path, text) == [
        "spec.yaml:7:5: links.tags: YAML merge keys (<<) are not supported:"
        " write the keys out"
    ]


def test_an_error_in_a_yaml_alias_points_at_the_alias_not_the_anchor(
    tmp_path: Path,
) -> None:
    """PyYAML gives every use of an anchor the anchored node, whose marks are
    the anchor's: these errors pointed at line 2 and at `schemas[0]`."""
    text = (
        "version: 1\n"
        "module: &n Post\n"
        "table: *n\n"
        "schemas:\n"
        "  - {name: Other, actions: &a [Bad]}\n"
        "  - {name: Third, actions: *a}\n"
    )
    assert errors(tmp_path, text) == [
        "spec.yaml:2:9: module: 'Post' is not a snake_case identifier"
        " ([a-z][a-z0-9_]*)",
        "spec.yaml:3:8: table: 'Post' is not a valid SQL identifier"
        " (must match ^[a-z_][a-z0-9_]*$)",
        "spec.yaml:5:32: schemas[0].actions[0]: 'Bad' is not a snake_case"
        " identifier ([a-z][a-z0-9_]*)",
        "spec.yaml:6:28: schemas[1].actions[0]: 'Bad' is not a snake_case"
        " identifier ([a-z][a-z0-9_]*)",
    ]
    text = HEAD + "schemas:\n  - &p {name: Draft}\n  - *p\n"
    (message,) = errors(tmp_path, text)
    assert message.startswith("spec.yaml:6:5: schemas[1]"), message


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!!python/object:os.system [User]", "!!python/object:os.system"),
        ("!custom [User]", "!custom"),
        ("!!set {User: null}", "!!set"),
        ("!!omap [{User: null}]", "!!omap"),
    ],
)
def test_a_tagged_collection_is_refused_not_read_as_a_plain_one(
    tmp_path: Path, value: str, shown: str
) -> None:
    """A tag on a list or mapping was dropped and the spec read as if it had
    none; on a scalar, PyYAML's own constructors already refuse it."""
    text = f"version: 1\nmodule: blog\ntable: events\nschemas: {value}\n"
    assert errors(tmp_path, text) == [
        f"spec.yaml:4:10: schemas: unsupported YAML tag {shown}"
    ]
    text = "version: 1\nmodule: blog\ntable: events\nschemas: !!seq [User]\n"
    assert [s.name for s in planned(text).schemas] == ["User"]


def test_a_yaml_alias_used_as_a_key_is_reported_where_it_is_used(
    tmp_path: Path,
) -> None:
    """PyYAML composes a key with no index, so its use was not recorded and
    the error pointed at the anchor on line 2."""
    text = (
        "version: 1\n"
        "module: &m blog\n"
        "table: events\n"
        "schemas:\n"
        "  - name: User\n"
        "    *m : x\n"
        "  - {name: Post, *m : y}\n"
    )
    assert errors(tmp_path, text) == [
        "spec.yaml:6:5: schemas[0].blog: unknown key (allowed here: actions,"
        " index, name)",
        "spec.yaml:7:18: schemas[1].blog: unknown key (allowed here: actions,"
        " index, name)",
    ]


def test_colliding_action_codes(tmp_path: Path) -> None:
    first, second = COLLIDING
    assert spector_code(first) == spector_code(second)
    text = (
        HEAD
        + f"schemas:\n  - name: Post\n    actions: [{first}]\n"
        + f"  - name: Comment\n    actions: [publish, {second}]\n"
    )
    assert errors(tmp_path, text) == [
        f"spec.yaml:8:24: schemas[1].actions[1]: action {second!r} has code"
        f" {spector_code(second)}, which collides with {first!r}"
    ]


@pytest.mark.parametrize("order", [("hide", "remove"), ("remove", "hide")])
def test_two_aliases_keeping_one_legacy_code(
    tmp_path: Path, order: tuple[str, str]
) -> None:
    """The later line is the one reported: it is the one just added."""
    first, second = order
    text = (
        HEAD
        + "schemas:\n  - name: Post\n    actions: [hide, remove]\n"
        + f"aliases:\n  {first}: archive\n  {second}: archive\n"
    )
    assert errors(tmp_path, text) == [
        f"spec.yaml:9:{len(second) + 5}: aliases.{second}: 'archive' is already the"
        f" legacy name of {first!r}: two actions would share one code"
    ]


def test_two_aliases_of_one_legacy_name_hide_no_other_collision(
    tmp_path: Path,
) -> None:
    """The legacy name's code also collides with a third action's: both said."""
    first, second = COLLIDING
    text = (
        HEAD
        + f"schemas:\n  - name: Post\n    actions: [hide, remove, {second}]\n"
        + f"aliases:\n  hide: {first}\n  remove: {first}\n"
    )
    assert errors(tmp_path, text) == [
        f"spec.yaml:8:9: aliases.hide: action 'hide' has code {spector_code(first)},"
        f" which collides with {second!r}",
        f"spec.yaml:9:11: aliases.remove: {first!r} is already the legacy name of"
        " 'hide': two actions would share one code",
    ]


def test_an_alias_to_a_built_in_shared_by_two_gets_one_error_each(
    tmp_path: Path,
) -> None:
    text = (
        HEAD
        + "schemas:\n  - name: Post\n    actions: [hide, remove]\n"
        + "aliases:\n  hide: insert\n  remove: insert\n"
    )
    found = errors(tmp_path, text)
    assert [d.split(": ", 2)[1] for d in found] == ["aliases.hide", "aliases.remove"]
    assert all("is a built-in action" in d for d in found)


# --- SQL identifiers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nmodule: m\ntable: 'events; drop table x'\nschemas: [User]\n",
            f"spec.yaml:3:8: table: {DROP} {SQL_RULE}",
        ),
        (
            "version: 1\nmodule: m\ntable: Events\nschemas: [User]\n",
            f"spec.yaml:3:8: table: 'Events' {SQL_RULE}",
        ),
        (
            "version: 1\nmodule: m\ntable: 1events\nschemas: [User]\n",
            f"spec.yaml:3:8: table: '1events' {SQL_RULE}",
        ),
        (
            HEAD + "schemas: [User]\nlinks:\n"
            "  tags: {table: 'events; drop table x', column: tag_id}\n",
            f"spec.yaml:6:17: links.tags.table: {DROP} {SQL_RULE}",
        ),
        (
            HEAD + "schemas: [User]\nlinks:\n  tags: {table: tags, column: 'tag id'}\n",
            f"spec.yaml:6:31: links.tags.column: 'tag id' {SQL_RULE}",
        ),
        (
            HEAD + "schemas: [User]\nlinks:\n"
            "  tags: {table: tags, column: 'events; drop table x'}\n",
            f"spec.yaml:6:31: links.tags.column: {DROP} {SQL_RULE}",
        ),
        (
            HEAD + "schemas: [User]\nshard:\n  function: app.shards:pick\n"
            "  tables: [events_a, 'events; drop table x']\n",
            f"spec.yaml:7:22: shard.tables[1]: {DROP} {SQL_RULE}",
        ),
    ],
    ids=[
        "table-injection",
        "table-upper",
        "table-digit",
        "link-table",
        "link-column-space",
        "link-column-injection",
        "shard-tables",
    ],
)
def test_sql_identifier(tmp_path: Path, text: str, expected: str) -> None:
    assert errors(tmp_path, text) == [expected]


# --- derived names ----------------------------------------------------------------


def test_derived_name_too_long_from_a_60_char_table(tmp_path: Path) -> None:
    table = "t" * 60
    text = f"version: 1\nmodule: m\ntable: {table}\nschemas: [User]\n"
    # One error for the table, naming its longest derived name and how many
    # more do not fit (from `<table>_seq`, 64 bytes, up).
    assert errors(tmp_path, text) == [
        f"spec.yaml:3:8: table: derived name '{table}_inserted_at_idx' is 76 bytes,"
        " 13 over PostgreSQL's 63 (12 more derived names are too long too):"
        " shorten the names it is built from"
    ]


def test_one_more_derived_name_is_counted_in_the_singular(tmp_path: Path) -> None:
    table = "l" * 59
    text = (
        "version: 1\nmodule: m\ntable: ev\nschemas: [User]\n"
        f"links:\n  x: {{table: {table}, column: c}}\n"
    )
    found = errors(tmp_path, text)
    assert any("(1 more derived name is too long too)" in e for e in found), found
    assert not any("1 more derived names" in e for e in found), found


def test_table_of_57_chars_fits(tmp_path: Path) -> None:
    # `<table>_inserted_at_idx` (16 more bytes) is the longest name from the table.
    table = "t" * (63 - len("_inserted_at_idx"))
    text = f"version: 1\nmodule: m\ntable: {table}\nschemas: [User]\n"
    job = Job(write_spec(tmp_path, text), tmp_path / "out")
    assert set(generate([job], tmp_path)) == {
        tmp_path / "out" / "m.py",
        tmp_path / "out" / "m.sql",
    }


def test_sharded_link_table_name_too_long(tmp_path: Path) -> None:
    table, link = "e" * 30, "l" * 32  # 30 + len("_0_") + 32 = 65 bytes
    text = (
        f"version: 1\nmodule: m\ntable: {table}\nschemas: [User]\n"
        f"shard:\n  count: 2\nlinks:\n  tags: {{table: {link}, column: c}}\n"
    )
    found = errors(tmp_path, text)
    assert len(found) == 2  # one per spec location: the link's table and column
    assert found[0].startswith(
        f"spec.yaml:8:17: links.tags.table: derived name '{table}_0_{link}_"
    )
    assert found[1].startswith("spec.yaml:8:59: links.tags.column: derived name ")
    assert all(" over PostgreSQL's 63" in d for d in found)
    assert all(d.endswith(": shorten the names it is built from") for d in found)


def test_sharded_function_link_table_name_too_long(tmp_path: Path) -> None:
    shard, link = "s" * 40, "l" * 23  # 40 + 1 + 23 = 64 bytes
    text = (
        HEAD + "schemas: [User]\n"
        f"shard:\n  function: app.shards:pick\n  tables: [{shard}]\n"
        f"links:\n  tags: {{table: {link}, column: c}}\n"
    )
    found = errors(tmp_path, text)
    assert found[0].startswith(
        f"spec.yaml:9:17: links.tags.table: derived name '{shard}_{link}_"
    )
    assert " over PostgreSQL's 63" in found[0]
    assert found[0].endswith(": shorten the names it is built from")


def test_unsharded_link_table_is_not_prefixed() -> None:
    text = (
        HEAD + "schemas: [User]\nlinks:\n  tags: {table: " + "l" * 40 + ", column: c}\n"
    )
    result = planned(text)
    assert [lt.table.raw for t in result.tables for lt in t.links] == ["l" * 40]


# --- sharding -------------------------------------------------------------------------


def test_shard_with_count_and_function(tmp_path: Path) -> None:
    text = (
        HEAD + "schemas: [User]\n"
        "shard:\n  count: 2\n  function: app.shards:pick\n  tables: [a, b]\n"
    )
    assert errors(tmp_path, text) == [
        "spec.yaml:6:3: shard: give exactly one of `count` or `function`"
    ]


def test_shard_with_neither(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User]\nshard: {}\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:5:8: shard: give exactly one of `count` or `function`"
    ]


def test_shard_count_zero(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User]\nshard:\n  count: 0\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:6:10: shard.count: Input should be greater than or equal to 1"
    ]


def test_shard_count_with_tables(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User]\nshard:\n  count: 2\n  tables: [a, b]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:7:11: shard.tables: `tables` goes with `function`, not `count`"
    ]


@pytest.mark.parametrize(
    ("function", "column"),
    [("no_colon", 13), ("'a.b:'", 13), ("':f'", 13), ("'a..b:f'", 13), ("'a b:f'", 13)],
)
def test_malformed_function_path(tmp_path: Path, function: str, column: int) -> None:
    text = HEAD + f"schemas: [User]\nshard:\n  function: {function}\n  tables: [a]\n"
    shown = function.strip("'")
    assert errors(tmp_path, text) == [
        f"spec.yaml:6:{column}: shard.function: {shown!r}"
        " is not a function path of the form 'package.module:function'"
    ]


def test_function_path_with_a_keyword(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User]\nshard:\n  function: app.class:pick\n  tables: [a]\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:6:13: shard.function: 'app.class:pick'"
        " contains the Python keyword 'class'"
    ]


@pytest.mark.parametrize("tables", ["", "  tables: []\n"], ids=["absent", "empty"])
def test_function_without_tables(tmp_path: Path, tables: str) -> None:
    text = HEAD + "schemas: [User]\nshard:\n  function: app.shards:pick\n" + tables
    assert errors(tmp_path, text) == [
        "spec.yaml:6:3: shard: `function` needs `tables`: every table it may return"
    ]


def test_duplicate_shard_tables(tmp_path: Path) -> None:
    text = (
        HEAD + "schemas: [User]\n"
        "shard:\n  function: app.shards:pick\n"
        "  tables: [events_a, events_b, events_a]\n"
    )
    # One mistake, one diagnostic (not one more per name derived from the table).
    assert errors(tmp_path, text) == [
        "spec.yaml:7:32: shard.tables[2]: duplicate table 'events_a'"
    ]


# --- links ----------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["event_id", "type"])
def test_link_column_reserved(tmp_path: Path, column: str) -> None:
    text = (
        HEAD + f"schemas: [User]\nlinks:\n  tags: {{table: tags, column: {column}}}\n"
    )
    assert errors(tmp_path, text) == [
        f"spec.yaml:6:31: links.tags.column:"
        f" {column!r} is reserved in link tables (event_id, type)"
    ]


def test_link_column_event_whose_foreign_key_name_is_event_ids(tmp_path: Path) -> None:
    """Accepted before, it made migrate fail: two constraints of one name."""
    text = HEAD + "schemas: [User]\nlinks:\n  tags: {table: tags, column: event}\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:6:31: links.tags.column: 'event' would name its foreign key"
        " <table>_event_fkey, which is event_id's: pick another column name"
    ]


def test_two_links_using_one_table(tmp_path: Path) -> None:
    text = (
        HEAD + "schemas: [User]\nlinks:\n"
        "  parents: {table: event_links, column: parent_id}\n"
        "  tags: {table: event_links, column: tag_id}\n"
    )
    # One mistake, one diagnostic (not one more per name derived from the table).
    assert errors(tmp_path, text) == [
        "spec.yaml:7:17: links.tags.table:"
        " link table 'event_links' is also used by link 'parents'"
    ]


def test_names_two_places_both_derive_are_one_error_per_pair(tmp_path: Path) -> None:
    """Link table `ev_seq` is the log's sequence, and its key the log's seq
    key: one mistake, said once, whatever the number of names it clashes on."""
    text = (
        HEAD.replace("table: events", "table: ev") + "schemas: [User]\nlinks:\n"
        "  third: {table: ev, column: y}\n"
        "  fourth: {table: ev_seq, column: z}\n"
    )
    assert errors(tmp_path, text) == [
        "spec.yaml:3:8: table: derived name 'ev' is also derived from"
        " links.third.table",
        "spec.yaml:3:8: table: derived name 'ev_seq' (and 1 more name) is also"
        " derived from links.fourth.table",
    ]


# --- every error at once --------------------------------------------------------------


def test_all_shape_errors_of_a_spec_together_sorted_by_line(tmp_path: Path) -> None:
    text = (
        "links:\n  tags: {table: Tags, column: tag_id}\n"  # line 2
        "version: 1\n"
        "module: m\n"
        "table: 'bad table'\n"  # line 5
        "schemas: [User, class]\n"  # line 6
    )
    assert errors(tmp_path, text) == [
        f"spec.yaml:2:17: links.tags.table: 'Tags' {SQL_RULE}",
        f"spec.yaml:5:8: table: 'bad table' {SQL_RULE}",
        "spec.yaml:6:17: schemas[1].name: 'class' is a Python keyword",
    ]


def test_all_rule_errors_of_a_spec_together_sorted_by_line(tmp_path: Path) -> None:
    text = (
        "links:\n  tags: {table: tags, column: event_id}\n"  # line 2
        "version: 1\n"
        "module: m\n"
        "table: events\n"
        "schemas: [User, Post, User]\n"  # line 6
        "aliases:\n  nothing: archive\n"  # line 8
    )
    assert errors(tmp_path, text) == [
        "spec.yaml:2:31: links.tags.column:"
        " 'event_id' is reserved in link tables (event_id, type)",
        "spec.yaml:6:23: schemas[2]: duplicate schema name 'User' (also schemas[0])",
        "spec.yaml:8:3: aliases.nothing:"
        " 'nothing' is not a custom action declared by any schema",
    ]


def test_all_yaml_key_errors_together(tmp_path: Path) -> None:
    text = HEAD + "schemas: [User]\nversion: 1\n2: x\ntable: t\n"
    assert errors(tmp_path, text) == [
        "spec.yaml:5:1: version: duplicate key",
        "spec.yaml:6:1: <document>: key 2 is not a string",
        "spec.yaml:7:1: table: duplicate key",
    ]


def test_errors_of_two_specs_together(tmp_path: Path) -> None:
    first = HEAD + "schemas: []\n"
    second = "version: 2\nmodule: n\ntable: events_n\nschemas: [User]\n"
    good = "version: 1\nmodule: ok\ntable: ok\nschemas: [User]\n"
    assert errors_of(
        tmp_path, ("b.yaml", second), ("good.yaml", good), ("a.yaml", first)
    ) == [
        "a.yaml:4:10: schemas: must list at least one schema",
        "b.yaml:1:10: version: must be 1, the one spec version this tool reads, not 2",
    ]
    assert not (tmp_path / "out").exists()


def test_two_specs_generating_one_module(tmp_path: Path) -> None:
    one = "version: 1\nmodule: m\ntable: one\nschemas: [User]\n"
    two = "version: 1\nmodule: m\ntable: two\nschemas: [User]\n"
    assert errors_of(tmp_path, ("one.yaml", one), ("two.yaml", two)) == [
        "two.yaml:2:9: module: m.py is also generated from one.yaml",
        "two.yaml:2:9: module: m.sql is also generated from one.yaml",
    ]


def test_two_specs_deriving_one_sql_name(tmp_path: Path) -> None:
    """Shard table `orders_1` of one log is another log's base table: its
    functions would replace the other's, its inserts miss the hash column."""
    one = "version: 1\nmodule: a\ntable: orders\nhashed: true\nschemas: [User]\n"
    one += "shard: {count: 2}\n"
    two = "version: 1\nmodule: b\ntable: orders_1\nschemas: [User]\n"
    assert errors_of(tmp_path, ("one.yaml", one), ("two.yaml", two)) == [
        "two.yaml:3:8: table: derived name 'orders_1_seq' (and 9 more names) is also"
        " derived from one.yaml (table): the two logs would share PostgreSQL"
        " objects"
    ]
    # A function and a table may share a name (two namespaces in PostgreSQL).
    three = "version: 1\nmodule: c\ntable: orders_0_verify\nschemas: [User]\n"
    jobs = [
        Job(write_spec(tmp_path, text, name), tmp_path / "out")
        for name, text in (("one.yaml", one), ("three.yaml", three))
    ]
    assert sorted(p.name for p in generate(jobs, tmp_path)) == [
        "a.py",
        "a.sql",
        "c.py",
        "c.sql",
    ]


def test_error_from_parse_validate_plan_directly() -> None:
    loaded = parse(b"version: 1\nmodule: m\ntable: events\nschemas: [A, A]\n", "x.yaml")
    spec = validate(loaded)
    with pytest.raises(SpecError) as info:
        plan(spec, loaded, spec_path="x.yaml", generator_version="0")
    assert info.value.diagnostics == (
        Diagnostic(
            "x.yaml", 4, 14, "schemas[1]", "duplicate schema name 'A' (also schemas[0])"
        ),
    )


# --- Spector's behaviour, through the plan --------------------------------------------


def test_indexes_follow_spector() -> None:
    result = planned(HEAD + "schemas: [User, Post, {name: Comment, index: 10}, Tag]\n")
    assert [(s.name, s.index) for s in result.schemas] == [
        ("User", 0),
        ("Post", 1),
        ("Comment", 10),
        ("Tag", 11),
    ]


def test_explicit_index_equal_to_counter() -> None:
    result = planned(HEAD + "schemas: [{name: A, index: 0}, {name: B, index: 1}, C]\n")
    assert [s.index for s in result.schemas] == [0, 1, 2]


def test_builtin_action_codes() -> None:
    result = planned(HEAD + "schemas: [User]\n")
    assert [(a.name, a.code) for a in result.actions] == [
        ("insert", 1),
        ("update", 2),
        ("delete", 3),
        ("savepoint", 4),
    ]


def test_custom_action_code_is_the_formula() -> None:
    result = planned(
        HEAD + "schemas:\n  - name: Post\n    actions: [publish, archive]\n"
    )
    codes = {a.name: a.code for a in result.actions}
    assert codes["publish"] == spector_code("publish")
    assert codes["archive"] == spector_code("archive")
    assert codes["publish"] == 634681923  # a fixed vector, not just the same formula
    assert [s.actions for s in result.schemas] == [("archive", "publish")]


def test_alias_keeps_the_legacy_code() -> None:
    text = (
        HEAD
        + "schemas:\n  - name: Post\n    actions: [publish, soft_delete]\n"
        + "aliases:\n  soft_delete: archive\n"
    )
    result = planned(text)
    by_name = {a.name: a for a in result.actions}
    assert by_name["soft_delete"].code == spector_code("archive")
    assert by_name["soft_delete"].legacy == "archive"
    assert by_name["publish"].legacy is None
    assert [(a.legacy, a.action, a.code) for a in result.aliases] == [
        ("archive", "soft_delete", spector_code("archive"))
    ]


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("table", 'table: "events\\n"\n'),
        ("table", "table: |\n  events\n"),
        ("links", 'links:\n  tags: {table: "tags\\n", column: tag_id}\n'),
        ("shard", 'shard:\n  function: "app.shards:pick\\n"\n  tables: [a, b]\n'),
    ],
)
def test_a_name_ending_in_a_line_break_is_refused(
    tmp_path: Path, key: str, text: str
) -> None:
    """`$` also matches before a final line break: such names passed, and the
    module did not parse (a traceback instead of a located error)."""
    spec = "version: 1\nmodule: m\n" + ("" if key == "table" else "table: events\n")
    spec += "schemas: [User]\n" + text
    found = errors(tmp_path, spec)
    assert len(found) == 1 and found[0].startswith("spec.yaml:"), found
    assert "is not a" in found[0], found


@pytest.mark.parametrize(
    "name", ['say"hi".yaml', "two\nlines.yaml", "back\\slash.yaml"]
)
def test_a_spec_file_name_the_header_cannot_hold_is_refused(
    tmp_path: Path, name: str
) -> None:
    found = errors_of(tmp_path, (name, HEAD + "schemas: [User]\n"))
    assert len(found) == 1, found
    assert "which the generated header cannot show: rename the file" in found[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("module", ["uuid", "json", "typing", "psycopg", "asyncio"])
def test_a_module_named_like_an_import_of_the_generated_code_is_refused(
    tmp_path: Path, module: str
) -> None:
    """With the output folder first on the import path, `uuid.py` shadowed the
    standard library's and the module failed mypy and import."""
    text = f"version: 1\nmodule: {module}\ntable: events\nschemas: [User]\n"
    assert errors(tmp_path, text) == [
        f"spec.yaml:2:9: module: {module!r} is the name of a module the generated"
        " code imports (or of the standard library's): it would shadow it"
    ]


@pytest.mark.parametrize("function", ["__future__:annotations", "m:table_for"])
def test_a_shard_function_the_module_cannot_import_is_refused(
    tmp_path: Path, function: str
) -> None:
    """`__future__` wrote a module that does not import; the module itself is a
    circular import."""
    text = HEAD + f"schemas: [User]\nshard:\n  function: {function}\n  tables: [a, b]\n"
    (found,) = errors(tmp_path, text)
    assert found.startswith("spec.yaml:6:13: shard.function: "), found
    assert "cannot hold the shard function" in found


@pytest.mark.parametrize("name", ["l", "I", "O"])
def test_a_name_ruff_calls_ambiguous_is_refused(tmp_path: Path, name: str) -> None:
    """An enum member named `l` fails ruff's default rules (E741)."""
    text = HEAD + f"schemas: [{name}]\n"
    assert errors(tmp_path, text) == [
        f"spec.yaml:4:11: schemas[0].name: {name!r} reads as 1 or 0 in many fonts"
        " (ruff's E741)"
    ]


@pytest.mark.parametrize("version", ["true", "1.0"])
def test_version_is_the_integer_one(tmp_path: Path, version: str) -> None:
    text = f"version: {version}\nmodule: m\ntable: events\nschemas: [User]\n"
    (found,) = errors(tmp_path, text)
    assert found.startswith("spec.yaml:1:10: version: "), found
    assert "must be the integer 1" in found


def test_a_shard_function_in_a_package_module_named_like_the_spec_is_accepted(
    tmp_path: Path,
) -> None:
    """Only the generated module itself cannot hold it: a package's module of the
    same last name is another module."""
    text = HEAD + "schemas: [User]\nshard:\n  function: app.routes.m:pick\n"
    text += "  tables: [a, b]\n"
    files = generate([Job(write_spec(tmp_path, text, "spec.yaml"), tmp_path)], tmp_path)
    assert len(files) == 2


def test_a_shard_function_named_by_the_module_s_own_package_path_is_refused(
    tmp_path: Path,
) -> None:
    """`app.routes.m` for `module: m` written to `app/routes/` is the generated
    module itself: its top-level import of the function is circular."""
    text = HEAD + "schemas: [User]\nshard:\n  function: app.routes.m:pick\n"
    text += "  tables: [a, b]\n"
    out = tmp_path / "src" / "app" / "routes"
    job = Job(write_spec(tmp_path, text, "spec.yaml"), out)
    with pytest.raises(SpecError) as info:
        generate([job], tmp_path)
    assert [str(d) for d in info.value.diagnostics] == [
        "spec.yaml:6:13: shard.function: 'app.routes.m' is src/app/routes/m.py, the"
        " generated module itself: it imports the shard function at its top, so"
        " the function must live in another importable module"
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # int.is_integer exists from Python 3.12 on: refused on every Python
            HEAD + "schemas: [is_integer]\n",
            "spec.yaml:4:11: schemas[0].name:"
            " 'is_integer' is reserved: it would shadow an int/enum attribute",
        ),
    ],
    ids=["int-attribute"],
)
def test_names_reserved_on_any_supported_python(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert errors(tmp_path, text) == [expected]


def test_the_frozen_reserved_names_cover_the_running_python() -> None:
    """The lists are frozen so a spec passes alike on every Python; a newer
    Python with new int or str attributes or soft keywords must extend them."""
    public = {name for name in dir(int) if not name.startswith("_")}
    assert public <= spec.INT_ATTRIBUTES
    assert {
        name for name in dir(str) if not name.startswith("_")
    } <= spec.STR_ATTRIBUTES
    # `type` (a soft keyword from 3.12 on) stays a valid name: not refused.
    assert set(keyword.softkwlist) - {"type"} <= spec.SOFT_KEYWORDS
    typed = planned(HEAD + "schemas:\n  - name: Post\n    actions: [type]\n")
    assert "type" in {action.name for action in typed.actions}
