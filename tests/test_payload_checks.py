"""The payload check's quick look (`_plain`) never changes its verdict.

`changeset()` checks a payload with `_plain` first and walks it in full
(`_walk_json`) only when the quick look is unsure. The quick look must never
accept what the walk rejects, and must accept the usual payload, or it saves
nothing.
"""

from __future__ import annotations

import datetime
import decimal
import inspect
import pickle
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generated_example import blog_events

MAX_DEPTH = blog_events.MAX_PAYLOAD_DEPTH


class _Text(str):
    pass


class _Map(dict[str, object]):
    pass


# jsonb stores any str without NUL that encodes to UTF-8.
_PLAIN_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))
_PLAIN_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _PLAIN_TEXT
)
_PLAIN_JSON = st.recursive(
    _PLAIN_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_PLAIN_TEXT, inner, max_size=4)
    ),
    max_leaves=25,
)
# Values that jsonb cannot store, or that only the full walk may accept.
_TROUBLE = st.sampled_from(
    [
        "a\x00b",
        "\ud800",
        "caf\u00e9 \U0001f600",
        float("nan"),
        float("inf"),
        -float("inf"),
        2**14_000,
        -(2**13_001),
        2**12_999,
        decimal.Decimal("1.5"),
        (1, 2),
        {1, 2},
        b"bytes",
        object(),
        _Text("ok"),
        _Text("a\x00b"),
        _Map(k=1),
        _Map(k=float("nan")),
    ]
)
_TROUBLE_KEYS = st.sampled_from(
    ["\x00", "\udfff", "\u00e9", 1, 1.5, None, True, (1,), _Text("k")]
)
_ANY_JSON = st.recursive(
    _PLAIN_SCALARS | _TROUBLE,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text() | _TROUBLE_KEYS, inner, max_size=4)
    ),
    max_leaves=25,
)


def _full_walk(payload: object) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    blog_events._walk_json(payload, "payload", errors, False)
    return errors


def _checked(payload: object) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    blog_events._check_json(payload, "payload", errors)
    return errors


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text() | _TROUBLE_KEYS, _ANY_JSON, max_size=5))
def test_the_check_gives_the_full_walks_errors(payload: dict[object, object]) -> None:
    assert _checked(payload) == _full_walk(payload)
    if blog_events._plain(payload, 1):
        assert _full_walk(payload) == []


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_PLAIN_TEXT, _PLAIN_JSON, max_size=6))
def test_the_quick_look_accepts_plain_json(payload: dict[str, object]) -> None:
    """Plain payloads never need the full walk: the quick look is the fast path."""
    assert blog_events._plain(payload, 1)
    assert _full_walk(payload) == []


_HUGE = 10**4_400  # more digits than str() may write: the walk rejects it


@pytest.mark.parametrize(
    "value",
    [_HUGE, -_HUGE, 2**14_000, _Text("a\x00b"), float("nan"), decimal.Decimal(1)],
    ids=["huge", "minus-huge", "big", "text-nul", "nan", "decimal"],
)
def test_values_the_quick_look_leaves_to_the_walk(value: object) -> None:
    """Hypothesis cannot print integers past str()'s limit, so these are here."""
    for payload in ({"x": value}, {"x": [1, value]}, {"x": {"y": value}}):
        assert not blog_events._plain(payload, 1)
        assert _checked(payload) == _full_walk(payload)
    assert _full_walk({"x": _HUGE}) == [
        ("payload.x", "an integer of 4301+ digits cannot be encoded")
    ]


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1, 2}, "text", 5, None, _Map(k=1), [_Map(k=1)], [_Text("ok")]],
    ids=["tuple", "set", "str", "int", "none", "dict-subclass", "in-list", "text"],
)
def test_only_exact_dicts_and_lists_of_plain_values_are_plain(value: object) -> None:
    """Containers of other types, subclasses included, go to the full walk."""
    assert not blog_events._plain(value, 1)


def test_a_plain_payload_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    def walk(*args: object) -> None:
        raise AssertionError("walked a plain payload")

    monkeypatch.setattr(blog_events, "_walk_json", walk)
    attrs: blog_events.EventAttrs = {
        "schema": "User",
        "action": "insert",
        "payload": {"title": "caf\u00e9", "n": 1, "tags": ["a", {"b": None}]},
    }
    cs = blog_events.changeset(attrs)
    assert cs.valid, cs.errors
    with pytest.raises(AssertionError, match="walked"):
        _checked({1: 2})


def _nested(depth: int) -> dict[str, object]:
    """A payload with `depth` containers, itself included."""
    inner: object = 1
    for _ in range(depth - 1):
        inner = [inner]
    return {"deep": inner}


def test_depth_limit_and_cycles_fall_to_the_full_walk() -> None:
    assert blog_events._plain(_nested(MAX_DEPTH), 1)
    assert not blog_events._plain(_nested(MAX_DEPTH + 1), 1)
    too_deep = [("payload", f"is nested deeper than {MAX_DEPTH} levels")]
    assert _checked(_nested(MAX_DEPTH + 1)) == too_deep
    cyclic: dict[str, object] = {"list": []}
    cyclic["list"].append(cyclic)  # type: ignore[attr-defined]
    assert not blog_events._plain(cyclic, 1)
    assert _checked(cyclic) == [("payload.list[0]", "contains itself")]


@pytest.mark.parametrize(
    "payload",
    [{"x": 2**12_999}, {"x": [1.5, None, True, "caf\u00e9"]}, {"\u00e9": {}}],
    ids=["int-below-the-close-look", "mixed-list", "non-ascii-key"],
)
def test_edges_of_the_quick_look_are_plain(payload: dict[str, object]) -> None:
    assert blog_events._plain(payload, 1)


def test_a_deep_caller_stack_still_gets_a_verdict() -> None:
    """With the stack nearly used up, the quick look's recursion gives way to the
    full walk, which keeps its own stack."""
    payload = _nested(MAX_DEPTH)
    bad = _nested(MAX_DEPTH - 1)
    bad["nan"] = float("nan")
    limit = sys.getrecursionlimit()

    def at_depth(n: int, value: dict[str, object]) -> list[tuple[str, str]]:
        return at_depth(n - 1, value) if n else _checked(value)

    used = len(inspect.stack())
    assert _checked(payload) == []
    assert at_depth(limit - used - 300, payload) == []
    assert at_depth(limit - used - 300, bad) == [
        ("payload.nan", "nan is not a JSON number")
    ]


def test_any_mapping_is_taken_as_a_payload_and_kept_as_a_dict() -> None:
    """PayloadInput is Mapping[str, object]: a read-only mapping is copied into a
    dict (what jsonb and Event.payload hold); what is not a mapping is refused."""
    inner = {"tags": ["a"], "n": 1}
    attrs: blog_events.EventAttrs = {
        "schema": "User",
        "action": "insert",
        "payload": types.MappingProxyType(inner),
    }
    cs = blog_events.changeset(attrs)
    assert cs.valid, cs.errors
    assert type(cs.payload) is dict and cs.payload == inner
    wrong: dict[str, object] = {"schema": "User", "action": "insert", "payload": [1]}
    bad = blog_events.changeset(wrong)  # type: ignore[call-overload]
    assert bad.errors == (("payload", "must be a JSON object, got list"),)
    nested = blog_events.changeset(
        {
            "schema": "User",
            "action": "insert",
            "payload": {"m": types.MappingProxyType({"x": 1})},
        }
    )
    assert nested.errors == (("payload.m", "mappingproxy is not JSON"),)


class _Broken(Mapping[str, object]):
    """A mapping whose own methods fail, as a lazy or remote one may."""

    def __getitem__(self, key: str) -> object:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(["schema"])

    def __len__(self) -> int:
        return 1


def test_a_mapping_that_cannot_be_read_is_an_error_not_a_raise() -> None:
    """changeset() records bad input as errors: a payload or attrs mapping whose
    __getitem__ fails too."""
    attrs: blog_events.EventAttrs = {
        "schema": "User",
        "action": "insert",
        "payload": _Broken(),
    }
    cs = blog_events.changeset(attrs)
    assert [field for field, _ in cs.errors] == ["payload"]
    assert "could not be read: KeyError('schema')" in cs.errors[0][1]
    bad = blog_events.changeset(cast(blog_events.EventAttrs, _Broken()))
    assert ("attrs", "could not be read: KeyError('schema')") in bad.errors


class _NoLength(_Broken):
    def __len__(self) -> int:
        raise TypeError("no length")


def test_the_two_argument_form_records_a_broken_mapping_too() -> None:
    event = blog_events.Event(
        blog_events.uuid7(),
        blog_events.uuid7(),
        blog_events.Schema.User,
        blog_events.Action.insert,
        None,
        datetime.datetime.now(datetime.UTC),
        None,
        "blog_events",
        1,
    )
    cs = blog_events.changeset(event, cast(blog_events.EventAttrs, _NoLength()))
    assert cs.errors[0][0] == "attrs" and "could not be read" in cs.errors[0][1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1e1000000000000000000}', "out of PostgreSQL's numeric range"),
        ('{"a": 1e-99999999999999999999}', "out of PostgreSQL's numeric range"),
        (None, "RawJson takes JSON text (a str), got NoneType"),
        (123, "RawJson takes JSON text (a str), got int"),
        (b'{"a": 1}', "RawJson takes JSON text (a str), got bytes"),
    ],
)
def test_raw_json_that_changeset_cannot_read_is_an_error(
    text: Any, message: str
) -> None:
    """An exponent past decimal's range raised decimal.InvalidOperation; text of
    another type raised TypeError, or (bytes) passed and failed in the database."""
    made = blog_events.changeset(
        {"schema": "Post", "action": "insert", "payload": blog_events.RawJson(text)}
    )
    assert not made.valid
    assert any(message in error for _, error in made.errors), made.errors


def test_invalid_event_survives_pickling() -> None:
    """A worker process's InvalidEvent must reach its pool: it did not unpickle."""
    error = blog_events.InvalidEvent([("schema", "is required")])
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is blog_events.InvalidEvent
    assert (back.errors, str(back)) == (error.errors, str(error))


def test_two_mappings_are_not_a_changeset() -> None:
    """The second mapping used to be dropped without a word."""
    made = blog_events.changeset(
        {"schema": "Post", "action": "insert"},  # type: ignore[call-overload]
        {"payload": {"a": 1}},
    )
    assert ("attrs", "the two-argument form takes an Event first, then the attrs") in (
        made.errors
    )
