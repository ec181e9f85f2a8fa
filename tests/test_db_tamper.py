"""An attacker with table rights edits a hash-chained log; verification says where.

The chain has 10 events with seqs 1-5 and 9-13 (a rolled back batch burned 6-8):
record A starts at seq 1, record B at seq 2, and every other event is A's. The
middle row is seq 5 (A's `publish`), the row after it is seq 9.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias, cast

import psycopg
import pytest

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db

Statement: TypeAlias = tuple[str, tuple[object, ...]]


@dataclasses.dataclass(frozen=True)
class Chain:
    events: dict[int, blog.Event]  # by seq

    @property
    def a(self) -> blog.Event:
        return self.events[1]

    @property
    def b(self) -> blog.Event:
        return self.events[2]


def _build(conn: Conn) -> Chain:
    blog.migrate(conn)
    a = blog.insert(conn, blog.changeset({"schema": "Post", "action": "insert"}))
    b = blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    stored = [a, b]
    for n, action in ((3, "update"), (4, "update"), (5, "publish")):
        attrs: blog.EventAttrs = {"action": action, "payload": {"n": n, "s": "x"}}
        stored.append(blog.insert(conn, blog.changeset(a, attrs)))
    with conn.transaction():
        blog.insert_many(
            conn, [blog.changeset(a, {"action": "update"}) for _ in range(3)]
        )
        raise psycopg.Rollback()
    for n in range(9, 14):
        attrs = {"action": "update", "payload": {"n": n}}
        stored.append(blog.insert(conn, blog.changeset(a, attrs)))
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5, 9, 10, 11, 12, 13]
    report = blog.verify_chain(conn)
    assert report.ok and report.count == 10
    conn.commit()
    return Chain({e.seq: e for e in stored})


@pytest.fixture
def chain(conn: Conn) -> Chain:
    return _build(conn)


def _attack(database: str, table: str, statements: list[Statement]) -> None:
    """Run `statements` with the table's user triggers (append-only) disabled."""
    with dbkit.connect(database) as attacker:
        attacker.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        for query, params in statements:
            attacker.execute(query, params)
        attacker.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')


def _row(query: str, *params: object) -> Statement:
    return query, params


FORGED = uuid.UUID("00000000-0000-4000-8000-00000000f0f0")
NEW_ID = uuid.UUID("00000000-0000-4000-8000-0000000000ed")
INSERT = (
    "INSERT INTO blog_events (seq, id, parent_id, schema, action, payload,"
    " inserted_at, hash) VALUES (%s, %s, %s, 1, 2, NULL, %s, %s)"
)
NOW = datetime.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)


def _forge_valid(previous: bytes | None, seq: int, parent: blog.Event) -> Statement:
    """A forged row whose hash is right for its place (the attacker knows how)."""
    digest = blog.event_hash(
        previous or blog.GENESIS,
        seq=seq,
        id=FORGED,
        parent_id=parent.id,
        schema=1,
        action=2,
        inserted_at=NOW,
        payload_text=None,
    )
    return INSERT, (seq, FORGED, parent.id, NOW, digest)


# name -> (statements for the chain, seq and event id of the expected first break)
Case: TypeAlias = Callable[[Chain], tuple[list[Statement], int, uuid.UUID]]
CASES: dict[str, Case] = {
    "id": lambda c: (
        [_row("UPDATE blog_events SET id = %s WHERE seq = 5", NEW_ID)],
        5,
        NEW_ID,
    ),
    "parent_id": lambda c: (
        [_row("UPDATE blog_events SET parent_id = %s WHERE seq = 5", c.b.id)],
        5,
        c.events[5].id,
    ),
    "schema": lambda c: (
        [_row("UPDATE blog_events SET schema = 10 WHERE seq = 5")],
        5,
        c.events[5].id,
    ),
    "action": lambda c: (
        [_row("UPDATE blog_events SET action = 2 WHERE seq = 5")],
        5,
        c.events[5].id,
    ),
    "payload": lambda c: (
        [
            _row(
                "UPDATE blog_events SET payload = payload || '{\"n\": 6}' WHERE seq = 5"
            )
        ],
        5,
        c.events[5].id,
    ),
    "payload_null": lambda c: (
        [_row("UPDATE blog_events SET payload = NULL WHERE seq = 5")],
        5,
        c.events[5].id,
    ),
    "payload_json_null": lambda c: (
        [_row("UPDATE blog_events SET payload = 'null' WHERE seq = 1")],
        1,
        c.events[1].id,
    ),
    "inserted_at": lambda c: (
        [
            _row(
                "UPDATE blog_events SET inserted_at = inserted_at"
                " + interval '1 microsecond' WHERE seq = 5"
            )
        ],
        5,
        c.events[5].id,
    ),
    "hash": lambda c: (
        [_row("UPDATE blog_events SET hash = sha256('x') WHERE seq = 5")],
        5,
        c.events[5].id,
    ),
    "seq": lambda c: (
        [_row("UPDATE blog_events SET seq = 7 WHERE seq = 5")],
        7,
        c.events[5].id,
    ),
    "delete": lambda c: (
        [_row("DELETE FROM blog_events WHERE seq = 5")],
        9,
        c.events[9].id,
    ),
    "swap": lambda c: (
        [
            _row("UPDATE blog_events SET seq = -4 WHERE seq = 4"),
            _row("UPDATE blog_events SET seq = 4 WHERE seq = 5"),
            _row("UPDATE blog_events SET seq = 5 WHERE seq = -4"),
        ],
        4,
        c.events[5].id,
    ),
    "forged_in_gap": lambda c: (
        [_row(INSERT, 6, FORGED, c.a.id, NOW, b"\x01" * 32)],
        6,
        FORGED,
    ),
    "forged_in_gap_with_its_right_hash": lambda c: (
        [_forge_valid(c.events[5].hash, 6, c.a)],
        9,
        c.events[9].id,
    ),
    "forged_at_end": lambda c: (
        [_row(INSERT, 14, FORGED, c.a.id, NOW, b"\x01" * 32)],
        14,
        FORGED,
    ),
    "forged_before_first": lambda c: (
        [_row(INSERT, 0, FORGED, c.a.id, NOW, b"\x01" * 32)],
        0,
        FORGED,
    ),
    "forged_before_first_with_its_right_hash": lambda c: (
        [_forge_valid(None, 0, c.a)],
        1,
        c.a.id,
    ),
    "forged_at_the_lowest_bigint": lambda c: (
        [_row(INSERT, -(2**63), FORGED, c.a.id, NOW, b"\x01" * 32)],
        -(2**63),
        FORGED,
    ),
    "hash_nulled": lambda c: (
        [
            _row("ALTER TABLE blog_events ALTER COLUMN hash DROP NOT NULL"),
            _row("UPDATE blog_events SET hash = NULL WHERE seq = 5"),
        ],
        5,
        c.events[5].id,
    ),
    "head_hash_nulled": lambda c: (
        [
            _row("ALTER TABLE blog_events ALTER COLUMN hash DROP NOT NULL"),
            _row("UPDATE blog_events SET hash = NULL WHERE seq = 13"),
        ],
        13,
        c.events[13].id,
    ),
    "schema_nulled": lambda c: (
        [
            _row("ALTER TABLE blog_events ALTER COLUMN schema DROP NOT NULL"),
            _row("UPDATE blog_events SET schema = NULL WHERE seq = 12"),
        ],
        12,
        c.events[12].id,
    ),
    "two_rows_edited": lambda c: (
        [
            _row("UPDATE blog_events SET action = 2 WHERE seq = 10"),
            _row("UPDATE blog_events SET action = 3 WHERE seq = 4"),
        ],
        4,
        c.events[4].id,
    ),
}


@pytest.mark.parametrize("range_size", [None, 3, 1])
@pytest.mark.parametrize("case", CASES)
def test_tampering_is_reported_at_the_first_affected_event(
    database: str,
    conn: Conn,
    chain: Chain,
    case: str,
    range_size: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Also with the chain cut into many ranges, each checked on its own."""
    if range_size is not None:
        monkeypatch.setattr(blog, "VERIFY_RANGE", range_size)
    statements, seq, event_id = CASES[case](chain)
    _attack(database, "blog_events", statements)
    report = blog.verify_chain(conn)
    assert not report.ok
    assert len(report.breaks) == 1
    broken = report.breaks[0]
    assert (broken.table, broken.seq, broken.event_id) == ("blog_events", seq, event_id)
    assert "hash mismatch" in broken.reason
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))
    assert blog.verify_chain(conn, "blog_events") == report


def test_an_infinite_timestamp_is_reported_not_crashed_on(
    database: str, conn: Conn, chain: Chain
) -> None:
    """Both verifiers must report a stored value Python's datetime cannot hold."""
    _attack(
        database,
        "blog_events",
        [_row("UPDATE blog_events SET inserted_at = 'infinity' WHERE seq = 5")],
    )
    report = blog.verify_chain(conn)
    assert (report.breaks[0].seq, report.breaks[0].event_id) == (5, chain.events[5].id)
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))


def test_dropped_tail_is_reported_against_an_anchor(
    database: str, conn: Conn, chain: Chain
) -> None:
    anchor = blog.chain_head(conn, "blog_events")
    assert anchor == blog.ChainHead("blog_events", 13, chain.events[13].hash or b"")
    kept = json.loads(json.dumps(anchor.to_dict()))
    assert blog.ChainHead.from_dict(kept) == anchor
    with pytest.raises(ValueError, match="chain head"):
        blog.ChainHead.from_dict({"table": "blog_events", "seq": "13"})
    assert blog.verify_chain(conn, anchors=[anchor]).ok
    _attack(database, "blog_events", [_row("DELETE FROM blog_events WHERE seq > 11")])
    alone = blog.verify_chain(conn)
    assert alone.ok and alone.count == 8  # a chain alone cannot see it
    report = blog.verify_chain(conn, anchors=[blog.ChainHead.from_dict(kept)])
    assert not report.ok
    assert (report.breaks[0].seq, report.breaks[0].event_id) == (13, None)
    assert "truncated" in report.breaks[0].reason
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn, anchors=[anchor]))


HEAD_HEX = "ab" * 32


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"table": "blog_events", "seq": 13}, "missing key 'hash'"),
        ({"seq": 13}, "missing key 'table'"),
        (
            {"table": "blog_events", "seq": 13, "hash": None},
            "'hash' must be a hex string, got None",
        ),
        (
            {"table": "blog_events", "seq": "13", "hash": HEAD_HEX},
            "'seq' must be an integer, got '13'",
        ),
        (
            {"table": "blog_events", "seq": True, "hash": HEAD_HEX},
            "'seq' must be an integer, got True",
        ),
        ({"table": 7, "seq": 13, "hash": HEAD_HEX}, "'table' must be a table name"),
        (
            {"table": "blog_events", "seq": 13, "hash": "zz" * 32},
            "'hash' is not hexadecimal: 'zzzz",
        ),
    ],
)
def test_a_chain_head_read_back_names_what_is_wrong(
    data: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError) as info:
        blog.ChainHead.from_dict(data)
    assert str(info.value).startswith(f"not a chain head: {problem}"), info.value


@pytest.mark.parametrize("text", ['["blog_events", 13]', '"blog_events"', "13"])
def test_a_chain_head_read_from_json_that_is_no_object_is_a_value_error(
    text: str,
) -> None:
    """It was an AttributeError ('list' object has no attribute 'get')."""
    data = cast("Mapping[str, object]", json.loads(text))
    with pytest.raises(ValueError, match="not a chain head: expected a mapping, got"):
        blog.ChainHead.from_dict(data)


@pytest.mark.parametrize(
    ("seq", "digest", "problem"),
    [
        (13, "ab" * 31, "'hash' has 31 bytes, where a SHA-256 hash has 32"),
        (-1, HEAD_HEX, "'seq' must not be negative, got -1"),
        (0, "11" * 32, "'seq' 0 is an empty chain's head, whose hash is GENESIS"),
    ],
)
def test_an_anchor_no_chain_can_have_is_refused_not_reported_as_a_break(
    conn: Conn, chain: Chain, seq: int, digest: str, problem: str
) -> None:
    """A hash cut short when copied into a config file read as tampering at its
    seq; an anchor at seq 0 with any hash at all passed."""
    data = {"table": "blog_events", "seq": seq, "hash": digest}
    with pytest.raises(ValueError) as info:
        blog.ChainHead.from_dict(data)
    assert str(info.value).startswith(f"not a chain head: {problem}"), info.value
    made = blog.ChainHead("blog_events", seq, bytes.fromhex(digest))
    for verify in (blog.verify_chain, blog.verify_chain_locally):
        with pytest.raises(ValueError) as given:
            verify(conn, anchors=[made])
        assert str(given.value).startswith(f"anchor for table 'blog_events': {problem}")
    empty = blog.ChainHead.from_dict(
        blog.ChainHead("blog_events", 0, blog.GENESIS).to_dict()
    )
    assert blog.verify_chain(conn, anchors=[empty]).ok


def test_a_head_row_no_anchor_can_hold_is_not_handed_out_as_one(
    database: str, conn: Conn, chain: Chain
) -> None:
    """A head hash cut short made chain_head return an anchor that the
    verifiers then refused, blaming the anchor for the table's alteration."""
    kept = blog.chain_head(conn, "blog_events")
    _attack(
        database,
        "blog_events",
        [_row("UPDATE blog_events SET hash = substr(hash, 1, 16) WHERE seq = 13")],
    )
    with pytest.raises(ValueError) as info:
        blog.chain_head(conn, "blog_events")
    assert str(info.value) == (
        "the head of blog_events (seq 13) cannot be an anchor: 'hash' has 16 bytes,"
        " where a SHA-256 hash has 32; the table was altered (verify_chain reports"
        " where)"
    )
    report = blog.verify_chain(conn, anchors=[kept])
    assert [(b.seq, b.reason.split(":")[0]) for b in report.breaks] == [
        (13, "hash mismatch")
    ], report.breaks
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn, anchors=[kept]))


@pytest.mark.parametrize(
    ("seq", "digest", "problem"),
    [
        ("13", bytes(32), "'seq' must be an integer, got '13'"),
        (13, "ab" * 32, "'hash' must be bytes, got str"),
    ],
)
def test_an_anchor_built_by_hand_of_the_wrong_types_is_refused(
    conn: Conn, chain: Chain, seq: Any, digest: Any, problem: str
) -> None:
    made = blog.ChainHead("blog_events", seq, digest)
    for verify in (blog.verify_chain, blog.verify_chain_locally):
        with pytest.raises(ValueError) as info:
            verify(conn, anchors=[made])
        assert str(info.value) == f"anchor for table 'blog_events': {problem}"


@pytest.mark.parametrize("newest_first", [False, True])
def test_every_anchor_given_for_a_table_is_checked(
    database: str, conn: Conn, chain: Chain, newest_first: bool
) -> None:
    """Keeping anchors means passing several for one table: the newest catches
    a dropped tail, an older one a rewrite made before the newest was taken.
    Each is checked, in whatever order they come."""
    old = blog.chain_head(conn, "blog_events")
    for _ in range(2):
        blog.insert(conn, blog.changeset(chain.a, {"action": "update"}))
    new = blog.chain_head(conn, "blog_events")
    assert (old.seq, new.seq) == (13, 15)
    kept = [new, old] if newest_first else [old, new]
    assert blog.verify_chain(conn, anchors=kept).ok
    _attack(database, "blog_events", [_row("DELETE FROM blog_events WHERE seq > 13")])
    assert blog.verify_chain(conn, anchors=[old]).ok
    report = blog.verify_chain(conn, anchors=kept)
    assert [(b.seq, b.event_id) for b in report.breaks] == [(15, None)]
    assert "truncated" in report.breaks[0].reason
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn, anchors=kept))

    # Rewritten from seq 12 on, then a new anchor taken of the rewritten chain.
    conn.commit()
    _attack(
        database,
        "blog_events",
        [
            _row("DELETE FROM blog_events WHERE seq > 11"),
            _row("SELECT setval('blog_events_seq', 11)"),
        ],
    )
    for _ in range(4):
        blog.insert(conn, blog.changeset(chain.a, {"action": "update"}))
    newer = blog.chain_head(conn, "blog_events")
    assert blog.verify_chain(conn, anchors=[newer]).ok
    kept = [newer, new, old] if newest_first else [old, new, newer]
    report = blog.verify_chain(conn, anchors=kept)
    assert [(b.seq, b.event_id) for b in report.breaks] == [(13, None)]
    assert "rewritten" in report.breaks[0].reason
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn, anchors=kept))


@pytest.mark.parametrize("without_id", [False, True])
@pytest.mark.parametrize("range_size", [None, 2])
def test_a_row_without_seq_is_reported_and_not_chained_on(
    database: str,
    conn: Conn,
    chain: Chain,
    range_size: int | None,
    without_id: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A forged row with a NULL seq falls outside every seq range; an anchor's
    own event is intact. It must still be a break, and appends must go on from
    the real head rather than from the forged row (DESC order puts NULLs first)."""
    if range_size is not None:
        monkeypatch.setattr(blog, "VERIFY_RANGE", range_size)
    forged = None if without_id else FORGED
    anchor = blog.chain_head(conn, "blog_events")
    _attack(
        database,
        "blog_events",
        [
            _row("ALTER TABLE blog_events DROP CONSTRAINT blog_events_pkey CASCADE"),
            _row("ALTER TABLE blog_events ALTER COLUMN seq DROP NOT NULL"),
            _row("ALTER TABLE blog_events ALTER COLUMN id DROP NOT NULL"),
            _row(INSERT, None, forged, chain.a.id, NOW, b"\x01" * 32),
        ],
    )
    later = blog.insert(conn, blog.changeset(chain.a, {"action": "update"}))
    assert later.seq == 14
    assert blog.chain_head(conn, "blog_events") == blog.ChainHead(
        "blog_events", 14, later.hash or b""
    )
    report = blog.verify_chain(conn, anchors=[anchor])
    assert [(b.seq, b.event_id) for b in report.breaks] == [(0, forged)]
    assert "NULL seq" in report.breaks[0].reason
    assert report.tables[0].count == 11
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn, anchors=[anchor]))


@pytest.mark.parametrize("reset_sequence", [False, True])
def test_rewritten_tail_is_reported_against_an_anchor(
    database: str, conn: Conn, chain: Chain, reset_sequence: bool
) -> None:
    anchor = blog.chain_head(conn, "blog_events")
    conn.commit()
    statements = [_row("DELETE FROM blog_events WHERE seq > 11")]
    if reset_sequence:
        statements.append(_row("SELECT setval('blog_events_seq', 11)"))
    _attack(database, "blog_events", statements)
    for _ in range(2):  # the attacker appends through the real API
        blog.insert(conn, blog.changeset(chain.a, {"action": "update"}))
    assert blog.verify_chain(conn).ok
    report = blog.verify_chain(conn, anchors=[anchor])
    assert (report.breaks[0].seq, report.breaks[0].event_id) == (13, None)
    reason = "rewritten" if reset_sequence else "missing"
    assert reason in report.breaks[0].reason
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn, anchors=[anchor]))


def test_tampering_one_shard_breaks_only_that_shard(database: str, conn: Conn) -> None:
    chat.migrate(conn)
    by_shard: dict[int, list[chat.Event]] = {}
    for n in range(4):
        attrs: chat.EventAttrs = {
            "id": dbkit.shard_uuid(n),
            "schema": "Chat",
            "action": "insert",
        }
        root = chat.insert(conn, chat.changeset(attrs))
        by_shard[n] = [root] + [
            chat.insert(conn, chat.changeset(root, {"action": "update"}))
            for _ in range(3)
        ]
    _attack(
        database,
        "chat_events_2",
        [_row("UPDATE chat_events_2 SET schema = 1 WHERE seq = 3")],
    )
    report = chat.verify_chain(conn)
    assert [(b.table, b.seq, b.event_id) for b in report.breaks] == [
        ("chat_events_2", 3, by_shard[2][2].id)
    ]
    assert [t.table for t in report.tables if t.broken is None] == [
        "chat_events_0",
        "chat_events_1",
        "chat_events_3",
    ]
    dbkit.assert_same_reports(report, chat.verify_chain_locally(conn))
    assert chat.verify_chain(conn, "chat_events_1").ok


def test_an_anchor_for_a_table_not_verified_is_an_error(conn: Conn) -> None:
    """Passing another table's anchor would leave it unchecked: refused."""
    chat.migrate(conn)
    table, other = chat.SHARD_TABLES[:2]
    anchor = chat.chain_head(conn, other)
    with pytest.raises(ValueError, match="which this call does not verify"):
        chat.verify_chain(conn, table, anchors=[anchor])
    with pytest.raises(ValueError, match="which this call does not verify"):
        chat.verify_chain_locally(conn, table, anchors=[anchor])
    assert chat.verify_chain(conn, other, anchors=[anchor]).ok
    assert chat.verify_chain(conn, anchors=[anchor]).ok


def test_a_repeated_seq_beside_a_missing_one_is_a_break(
    database: str, conn: Conn, chain: Chain
) -> None:
    """The owner drops the unique constraint on seq and forges a second seq 5,
    hashed right over seq 4. A range of seqs 4 to 6 (6 burned) then had as many
    rows as seqs and read as dense: each row was paired by offset with the right
    predecessor, and verify_chain's range saw nothing (the local verifier did)."""
    _attack(
        database,
        "blog_events",
        [
            _row("ALTER TABLE blog_events DROP CONSTRAINT blog_events_seq_key"),
            _forge_valid(chain.events[4].hash, 5, chain.a),
        ],
    )
    ((rows, bad),) = dbkit.rows(database, "SELECT n, bad FROM blog_events_verify(4, 6)")
    assert (rows, bad) == (3, 5)
    report = blog.verify_chain(conn)
    local = blog.verify_chain_locally(conn)
    assert [b.seq for b in report.breaks] == [b.seq for b in local.breaks] == [5]
    assert report.tables[0].count == local.tables[0].count == 11
