"""No false alarms on what jsonb rewrites; clear errors on what jsonb cannot store."""

from __future__ import annotations

import asyncio
import decimal
import json
from typing import Any, cast

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db

Payload = blog.JsonObject | blog.RawJson | None


def _nested(depth: int, leaf: blog.JsonValue) -> blog.JsonObject:
    value: blog.JsonValue = leaf
    for level in range(depth):
        value = {"d": value} if level % 2 else [value, level]
    return {"deep": value}


CORPUS: list[Payload] = [
    None,
    {},
    {"b": 1, "a": 2, "c": {"z": 0, "y": [3, 2, 1]}, "aa": None, "": "empty key"},
    {"t": True, "f": False, "n": None, "e": [], "o": {}, "s": "", "l": [[], {}]},
    {"big": 2**64 + 1, "neg": -(2**70), "huge": 10**40, "max": 2**63 - 1},
    {"f": 0.1, "g": 1e-7, "h": 1.7976931348623157e308, "i": 5e-324, "j": -2.5},
    {"z": -0.0, "p": 1.5, "hundred": 100.0, "third": 1 / 3},
    {"emoji": "😀🎉", "k😀": "astral key", "é": "ü", "cjk": "漢字", "rtl": "שלום"},
    {"ctl": "\n\t\r\x01\x1f\x7f", "q": '"\\/', "ls": "\u2028\u2029", "nc": "\ufffe"},
    _nested(100, "bottom"),
    blog.RawJson('{"b": 1, "a": 2}'),
    blog.RawJson('{"a": 1, "a": 2, "b": {"c": 3, "c": [4]}}'),
    blog.RawJson('{"n": 1e2, "m": 1E+2, "o": 1.50, "z": -0.0, "y": -0, "w": 0.10e1}'),
    blog.RawJson('{"big": 123456789012345678901234567890, "f": 1.0000000000000001}'),
    blog.RawJson('{"tiny": 1e-400, "x": 12345678901234567890.12345678901234567890}'),
    blog.RawJson('{"e": 1e400, "f": 1.5e2, "g": 2.50, "h": 1.0e1, "i": 0e9000}'),
    blog.RawJson(
        '{"n": 1' + "0" * 4200 + ', "m": 1.5e4200, "f": 1' + "0" * 300 + ".5}"
    ),
    blog.RawJson(r'{"e": "\u00e9", "s": "\ud83d\ude00", "\u00e9k": "\u0041\/"}'),
    blog.RawJson(' \n{ "spaced" :\t[ 1 , 2 , { } , [ ] ] }\n '),
    blog.RawJson("{}"),
    blog.RawJson('{"deep": ' + "[" * 100 + "]" * 100 + "}"),
]


def _insertable(payload: Payload) -> blog.EventChangeset:
    return blog.changeset({"schema": "Post", "action": "insert", "payload": payload})


def _expected(payload: Payload) -> blog.JsonObject | None:
    if isinstance(payload, blog.RawJson):
        parsed: blog.JsonObject = json.loads(payload.text, parse_float=_as_stored)
        return parsed
    return payload


def _as_stored(text: str) -> int | float:
    """Integral numbers read back as ints (jsonb prints 1e400 in full), others
    as floats; an int and a float compare as numbers in _same_json."""
    value = decimal.Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def _same_json(left: object, right: object) -> bool:
    """JSON equality where numbers compare as numbers (jsonb keeps no float type)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            _same_json(left[k], right[k]) for k in left
        )
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            _same_json(a, b) for a, b in zip(left, right, strict=True)
        )
    numbers = (int, float)
    if isinstance(left, float | int) and isinstance(right, numbers):
        if isinstance(left, bool) or isinstance(right, bool):
            return left is right
        return left == right or float(left) == float(right)
    return left == right


def _check_log(conn: Conn, count: int) -> None:
    report = blog.verify_chain(conn)
    assert report.ok, report.breaks
    assert report.count == count
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))
    conn.commit()


def test_corpus_one_by_one_verifies(database: str, conn: Conn) -> None:
    blog.migrate(conn)
    for payload in CORPUS:
        event = blog.insert(conn, _insertable(payload))
        (stored,) = blog.events_for(conn, event.id)
        assert _same_json(stored.payload, _expected(payload)), payload
        assert _same_json(event.payload, _expected(payload))
        if isinstance(payload, blog.RawJson):  # insert() reads it as stored,
            # ints as ints and floats as floats (dumps tells 150 from 150.0)
            assert json.dumps(event.payload, sort_keys=True) == json.dumps(
                stored.payload, sort_keys=True
            )
        text = dbkit.payload_text(database, "blog_events", event.id)
        assert (text is None) == (payload is None)
        conn.commit()
    _check_log(conn, len(CORPUS))


@pytest.mark.parametrize("encoding", ["SQL_ASCII", "LATIN1", "WIN1252"])
def test_the_local_verifier_ignores_the_client_encoding(
    database: str, conn: Conn, encoding: str
) -> None:
    """It hashes the payload's UTF-8 bytes as the server did, whatever the
    connection decodes text as (an emoji has no LATIN1 form at all)."""
    blog.migrate(conn)
    payloads: list[blog.JsonObject] = [
        {"name": "Jos\u00e9 \U0001f600"},
        {"a": "\u00ff"},
    ]
    for payload in payloads:
        blog.insert(conn, _insertable(payload))
    conn.commit()
    with psycopg.connect(database, autocommit=True, client_encoding=encoding) as other:
        report = blog.verify_chain_locally(other)
        assert report.ok and report.count == 2
        dbkit.assert_same_reports(report, blog.verify_chain(other))

    async def run() -> blog.ChainReport:
        async with await psycopg.AsyncConnection.connect(
            database, autocommit=True, client_encoding=encoding
        ) as aconn:
            return await blog.averify_chain_locally(aconn)

    assert asyncio.run(run()) == report


@pytest.mark.parametrize(
    "options",
    [
        "-c bytea_output=escape",
        "-c DateStyle=German,DMY -c IntervalStyle=sql_standard"
        " -c TimeZone=Asia/Kathmandu",
    ],
)
def test_the_verifiers_ignore_the_sessions_output_settings(
    database: str, conn: Conn, options: str
) -> None:
    """Any role may set these for its own session: an untouched log still
    verifies under all four verifiers (a text-mode bytea[] under
    bytea_output=escape once read as a table altered at seq 0)."""
    blog.migrate(conn)
    for payload in CORPUS[:4]:
        blog.insert(conn, _insertable(payload))
    conn.commit()
    with psycopg.connect(database, autocommit=True, options=options) as other:
        report = blog.verify_chain(other)
        assert report.ok and report.count == 4, report
        dbkit.assert_same_reports(report, blog.verify_chain_locally(other))

        async def run() -> tuple[blog.ChainReport, blog.ChainReport]:
            async with await psycopg.AsyncConnection.connect(
                database, autocommit=True, options=options
            ) as aconn:
                return (
                    await blog.averify_chain(aconn),
                    await blog.averify_chain_locally(aconn),
                )

        assert asyncio.run(run()) == (report, report)


def test_corpus_in_one_batch_over_shards_verifies(conn: Conn) -> None:
    chat.migrate(conn)
    items = [
        chat.changeset(
            {
                "id": dbkit.shard_uuid(n % 4),
                "schema": "Chat",
                "action": "insert",
                "payload": (
                    chat.RawJson(payload.text)
                    if isinstance(payload, blog.RawJson)
                    else payload
                ),
            }
        )
        for n, payload in enumerate(CORPUS)
    ]
    stored = chat.insert_many(conn, items)
    assert [e.id for e in stored] == [item.id for item in items]
    report = chat.verify_chain(conn)
    assert report.ok and report.count == len(CORPUS)
    dbkit.assert_same_reports(report, chat.verify_chain_locally(conn))


def _nul_in_raw_key() -> blog.RawJson:
    return blog.RawJson('{"\\u0000": 1}')


INVALID: list[object] = [
    {"k": "a\x00b"},
    {"a\x00": 1},
    {"list": [1, {"deep": "\x00"}]},
    {"f": float("nan")},
    {"f": float("inf")},
    {"f": [float("-inf")]},
    {"s": "\ud800"},
    {"\udc00": 1},
    {"pair": "\ud83d\ude00"},  # two lone surrogates are not an emoji in Python
    {1: "not a string key"},
    {"set": {1, 2}},
    {"bytes": b"x"},
    blog.RawJson('{"s": "\\u0000"}'),
    _nul_in_raw_key(),
    blog.RawJson('{"s": "\\ud800"}'),
    blog.RawJson('{"s": "\\udc00\\ud800"}'),
    blog.RawJson('{"n": NaN}'),
    blog.RawJson('{"n": Infinity}'),
    blog.RawJson('{"n": -Infinity}'),
    blog.RawJson('{"n": 1' + "0" * 4400 + "}"),  # over Python's int digits limit
    blog.RawJson('{"n": 1e5000}'),  # stored as 5,001 digits: the same
    blog.RawJson('{"n": 1' + "0" * 400 + ".5}"),  # reads back as a float: inf
    blog.RawJson("[1, 2]"),
    blog.RawJson('"text"'),
    blog.RawJson("null"),
    blog.RawJson("{bad"),
    blog.RawJson('{"a": 1} {"b": 2}'),
    blog.RawJson('{"a": 1}, "l": {"ancestors": []}'),
    blog.RawJson('{"raw": "a\x00b"}'),
]


@pytest.mark.parametrize("payload", INVALID, ids=lambda p: repr(p)[:60])
def test_what_jsonb_cannot_store_is_an_invalid_event(
    database: str, conn: Conn, payload: object
) -> None:
    blog.migrate(conn)
    blog.insert(conn, _insertable({"before": 1}))
    cs = _insertable(cast(Payload, payload))
    assert not cs.valid
    assert any(field.startswith("payload") for field, _ in cs.errors), cs.errors
    with pytest.raises(blog.InvalidEvent, match="payload"):
        cs.apply()
    with pytest.raises(blog.InvalidEvent):
        blog.insert(conn, cs)
    pending = blog.PendingEvent(
        blog.uuid7(),
        blog.uuid7(),
        blog.Schema.User,
        blog.Action.insert,
        cast(Payload, payload),
        "blog_events",
    )
    with pytest.raises(blog.InvalidEvent):
        blog.insert(conn, pending)
    with pytest.raises(blog.InvalidEvent):
        blog.insert_many(conn, [_insertable({"ok": 1}), pending])
    assert dbkit.count(database, "blog_events") == 1
    _check_log(conn, 1)


def _cyclic() -> dict[str, object]:
    payload: dict[str, object] = {}
    payload["self"] = payload
    return payload


def _deep(depth: int) -> dict[str, object]:
    inner: object = 1
    for _ in range(depth):
        inner = [inner]
    return {"deep": inner}


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (_cyclic(), ("payload.self", "contains itself")),
        (_deep(512), ("payload", "is nested deeper than 512 levels")),
        (_deep(50_000), ("payload", "is nested deeper than 512 levels")),
        (
            blog.RawJson('{"a":' + "[" * 50_000 + "]" * 50_000 + "}"),
            ("payload", "is nested deeper than 512 levels"),
        ),
        (
            blog.RawJson('{"a":' + "[" * 600 + "]" * 600 + "}"),
            ("payload", "is nested deeper than 512 levels"),
        ),
        (
            {"d": decimal.Decimal("1.5")},
            ("payload.d", "a Decimal is not JSON: use int, float or RawJson"),
        ),
    ],
    ids=["cyclic", "deep-513", "deep-list", "deep-raw", "deep-raw-601", "decimal"],
)
def test_a_payload_the_encoder_cannot_write_is_an_invalid_event(
    database: str, conn: Conn, payload: object, error: tuple[str, str]
) -> None:
    blog.migrate(conn)
    cs = _insertable(cast(Payload, payload))
    assert cs.errors == (error,)
    with pytest.raises(blog.InvalidEvent, match=error[1]):
        blog.insert(conn, cs)
    pending = blog.PendingEvent(
        blog.uuid7(),
        blog.uuid7(),
        blog.Schema.User,
        blog.Action.insert,
        cast(Payload, payload),
        "blog_events",
    )
    with pytest.raises(blog.InvalidEvent, match=error[1]):
        blog.insert_many(conn, [_insertable({"ok": 1}), pending])
    assert dbkit.count(database, "blog_events") == 0


def test_the_deepest_allowed_payload_is_stored(database: str, conn: Conn) -> None:
    blog.migrate(conn)
    deep = _deep(511)  # 512 levels with the payload object itself
    raw = blog.RawJson('{"a":' + "[" * 511 + "]" * 511 + "}")
    stored = blog.insert_many(
        conn, [_insertable(cast(Payload, deep)), _insertable(raw)]
    )
    assert stored[0].payload == deep
    assert blog.verify_chain(conn).ok
    assert dbkit.count(database, "blog_events") == 2


@pytest.mark.parametrize(
    "payload",
    [blog.RawJson('{"n": 1e-1000000}'), {"n": 10**5000}],
    ids=["raw-1e-1000000", "int-5001-digits"],
)
def test_numbers_beyond_reach_are_stored_or_invalid_events(
    database: str, conn: Conn, payload: Payload
) -> None:
    """Either the event is stored and verifies, or InvalidEvent says why: no other
    error, and nothing half-written."""
    blog.migrate(conn)
    try:
        blog.insert(conn, _insertable(payload))
    except blog.InvalidEvent:
        stored = 0
    else:
        stored = 1
    assert dbkit.count(database, "blog_events") == stored
    _check_log(conn, stored)


_strings = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=12,
)
_scalars: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _strings
)
_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_strings, inner, max_size=4)
    ),
    max_leaves=16,
)
_payloads: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    _strings, _values, max_size=5
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    payload=_payloads,
    raw=st.booleans(),
    ascii_only=st.booleans(),
    indent=st.sampled_from([None, 0, 2]),
)
def test_random_payloads_verify(
    conn: Conn,
    payload: dict[str, Any],
    raw: bool,
    ascii_only: bool,
    indent: int | None,
) -> None:
    blog.migrate(conn)
    given_as: Payload = payload
    if raw:
        text = json.dumps(payload, ensure_ascii=ascii_only, indent=indent)
        given_as = blog.RawJson(text)
    event = blog.insert(conn, _insertable(given_as))
    (stored,) = blog.events_for(conn, event.id)
    assert _same_json(stored.payload, payload)
    report = blog.verify_chain(conn)
    assert report.ok, report.breaks
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))
    conn.commit()
