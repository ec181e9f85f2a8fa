"""A table's owner tampers around the rows rather than with them: an inheriting
table, a repeated seq, row-level security, altered column types, a view in the
table's place, anchors beside a broken row. Both verifiers give the same report.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from generated_example import blog_events as blog
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db

FORGED = uuid.UUID("00000000-0000-4000-8000-00000000f0f0")
INSERT = (
    "INSERT INTO {} (seq, id, parent_id, schema, action, payload, inserted_at, hash)"
    " VALUES (%s, %s, %s, 1, 1, '{{\"forged\": 1}}', '2000-01-01+00', %s)"
)


def _forged_hash(previous: bytes, seq: int) -> bytes:
    return blog.event_hash(
        previous,
        seq=seq,
        id=FORGED,
        parent_id=FORGED,
        schema=1,
        action=1,
        inserted_at=0,
        payload_text='{"forged": 1}',
    )


def _forge(conn: Conn, table: str, seq: int, previous: bytes) -> None:
    query = sql.SQL(INSERT).format(sql.Identifier(table))
    conn.execute(query, (seq, FORGED, FORGED, _forged_hash(previous, seq)))


def _append(conn: Conn, count: int) -> list[blog.Event]:
    return [
        blog.insert(
            conn,
            blog.changeset(
                {"schema": "Post", "action": "publish", "payload": {"i": i}}
            ),
        )
        for i in range(count)
    ]


def _reports(
    conn: Conn, anchors: tuple[blog.ChainHead, ...] = ()
) -> tuple[blog.ChainBreak, ...]:
    in_db = blog.verify_chain(conn, anchors=anchors)
    dbkit.assert_same_reports(in_db, blog.verify_chain_locally(conn, anchors=anchors))
    return in_db.breaks


@pytest.fixture
def owner(conn: Conn) -> Conn:
    blog.migrate(conn)
    conn.commit()
    conn.autocommit = True
    return conn


def test_an_inheriting_table_is_reported_and_its_rows_are_never_read(
    owner: Conn,
) -> None:
    events = _append(owner, 10)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):  # burns seq 11: a gap
        blog.insert(
            owner,
            blog.changeset(
                {"schema": "Post", "action": "publish", "parent_id": uuid.uuid4()}
            ),
        )
    events += _append(owner, 5)
    anchor = blog.chain_head(owner, "blog_events")
    owner.execute("CREATE TABLE blog_events_x () INHERITS (blog_events)")
    # A row at seq 10 beside the gap kept the count of a dense range.
    _forge(owner, "blog_events_x", 10, events[8].hash or b"")
    (broken,) = _reports(owner, (anchor,))
    assert broken.seq == 0 and broken.event_id is None
    assert broken.reason.startswith("table blog_events_x inherits from blog_events")
    # The module reads the log's own rows: the child's are never an event, and
    # an append never chains on one.
    assert blog.events_for(owner, FORGED) == []
    _forge(owner, "blog_events_x", 99, events[-1].hash or b"")
    later = _append(owner, 1)[0]
    assert later.seq == 17
    owner.execute("DROP TABLE blog_events_x")
    assert _reports(owner, (anchor,)) == ()


def test_a_repeated_seq_at_the_head_is_its_own_break(owner: Conn) -> None:
    events = _append(owner, 5)
    anchor = blog.chain_head(owner, "blog_events")
    owner.execute("ALTER TABLE blog_events DROP CONSTRAINT blog_events_seq_key")
    # Chained on the head: paired by position after it, the forged row verified.
    _forge(owner, "blog_events", 5, events[-1].hash or b"")
    for anchors in ((), (anchor,)):
        (broken,) = _reports(owner, anchors)
        assert (broken.seq, broken.event_id) == (5, None)
        assert broken.reason.startswith("repeated seq")
    # Later genuine appends do not move the break off the repeated seq.
    _append(owner, 2)
    (broken,) = _reports(owner, (anchor,))
    assert broken.seq == 5 and broken.reason.startswith("repeated seq")


def test_a_repeated_seq_in_the_middle_of_a_chain(owner: Conn) -> None:
    events = _append(owner, 8)
    owner.execute("ALTER TABLE blog_events DROP CONSTRAINT blog_events_seq_key")
    _forge(owner, "blog_events", 4, events[3].hash or b"")
    (broken,) = _reports(owner)
    assert (broken.seq, broken.event_id) == (4, None)
    assert broken.reason.startswith("repeated seq")


def _rewrite_from(conn: Conn, seq: int) -> None:
    """Edit the payload at `seq` and recompute every hash from there on."""
    conn.execute("ALTER TABLE blog_events DISABLE TRIGGER USER")
    conn.execute(
        "UPDATE blog_events SET payload = '{\"i\": 99}' WHERE seq = %s", (seq,)
    )
    stored = dbkit.rows(
        str(conn.info.dsn),
        "SELECT seq, id, parent_id, schema, action,"
        " ('x' || encode(timestamptz_send(inserted_at), 'hex'))::bit(64)::bigint,"
        " payload::text, hash FROM blog_events ORDER BY seq",
    )
    previous = blog.GENESIS
    for s, id_, parent, schema, action, at, text, digest in stored:
        if s >= seq:
            digest = blog.event_hash(
                previous,
                seq=s,
                id=id_,
                parent_id=parent,
                schema=schema,
                action=action,
                inserted_at=at,
                payload_text=text,
            )
            conn.execute("UPDATE blog_events SET hash = %s WHERE seq = %s", (digest, s))
        previous = digest


def test_an_anchor_before_a_broken_row_is_still_checked(
    owner: Conn, database: str
) -> None:
    _append(owner, 10)
    old = blog.chain_head(owner, "blog_events")  # seq 10
    _append(owner, 10)
    _rewrite_from(owner, 5)
    owner.execute("UPDATE blog_events SET payload = '{\"i\": 77}' WHERE seq = 15")
    (broken,) = _reports(owner, (old,))
    assert broken.seq == 10 and broken.reason.startswith("rewritten")
    # An anchor past the broken row does not hide it: the row's break comes first.
    newest = blog.ChainHead("blog_events", 20, b"\x00" * 32)
    (broken,) = _reports(owner, (newest,))
    assert broken.seq == 15 and broken.reason.startswith("hash mismatch")


def test_row_level_security_that_filters_the_verifier_is_reported(
    owner: Conn, database: str, role: str
) -> None:
    _append(owner, 5)
    who = sql.Identifier(role)
    owner.execute(sql.SQL("GRANT SELECT ON blog_events TO {}").format(who))
    owner.execute("ALTER TABLE blog_events ENABLE ROW LEVEL SECURITY")
    owner.execute(
        sql.SQL(
            "CREATE POLICY hide ON blog_events FOR SELECT TO {} USING (seq <> 3)"
        ).format(who)
    )
    with psycopg.connect(dbkit.as_role(database, role), autocommit=True) as auditor:
        in_db = blog.verify_chain(auditor)
        dbkit.assert_same_reports(in_db, blog.verify_chain_locally(auditor))
    (broken,) = in_db.breaks
    assert broken.seq == 0 and broken.reason.startswith("row-level security")
    # The owner is not filtered (no FORCE): its check reads every row.
    assert _reports(owner) == ()


@pytest.mark.parametrize(
    ("alter", "message"),
    [
        (
            "ALTER TABLE blog_events ALTER seq TYPE numeric",
            "blog_events was altered: column seq is numeric, not bigint",
        ),
        (
            "ALTER TABLE blog_events ALTER schema TYPE bigint",
            "blog_events was altered: column schema is bigint, not integer",
        ),
        (
            "ALTER TABLE blog_events ALTER hash TYPE text USING encode(hash, 'hex')",
            "blog_events was altered: column hash is text, not bytea",
        ),
        (
            "ALTER TABLE blog_events DROP COLUMN inserted_at",
            "blog_events was altered: has no inserted_at",
        ),
    ],
)
def test_an_altered_column_is_reported_before_any_row(
    owner: Conn, alter: str, message: str
) -> None:
    _append(owner, 3)
    owner.execute(alter)
    (broken,) = _reports(owner)
    assert broken.seq == 0 and broken.reason.startswith(message)


def test_a_view_in_the_tables_place_is_reported(owner: Conn) -> None:
    _append(owner, 3)
    owner.execute("ALTER TABLE blog_events RENAME TO blog_events_real")
    owner.execute("CREATE VIEW blog_events AS SELECT * FROM blog_events_real")
    (broken,) = _reports(owner)
    assert broken.seq == 0
    assert broken.reason.startswith("blog_events is not an ordinary table")


def test_a_row_that_cannot_be_hashed_breaks_in_both_verifiers(owner: Conn) -> None:
    """A NULL hash beside a NULL column: the local verifier's expected hash is
    None too, which used to compare equal to the stored NULL."""
    first = _append(owner, 3)[0]
    owner.execute('ALTER TABLE blog_events ALTER "schema" DROP NOT NULL')
    owner.execute('ALTER TABLE blog_events ALTER "hash" DROP NOT NULL')
    owner.execute(
        "INSERT INTO blog_events (seq, id, parent_id, schema, action, hash)"
        " VALUES (4, %s, %s, NULL, 1, NULL)",
        (FORGED, first.id),
    )
    (broken,) = _reports(owner)
    assert (broken.seq, broken.event_id) == (4, FORGED)


def test_rows_without_a_seq_are_named_alike_by_both_verifiers(owner: Conn) -> None:
    first = _append(owner, 1)[0]
    owner.execute('ALTER TABLE blog_events ALTER "seq" DROP NOT NULL')
    low = uuid.UUID("00000000-0000-4000-8000-000000000001")
    for ident in (FORGED, low):  # the higher id first, physically
        owner.execute(
            "INSERT INTO blog_events (seq, id, parent_id, schema, action, hash)"
            " VALUES (NULL, %s, %s, 1, 1, %s)",
            (ident, first.id, bytes(32)),
        )
    (broken,) = _reports(owner)
    assert (broken.seq, broken.event_id) == (0, low)


def test_an_anchor_past_bigint_is_truncation_in_both_verifiers(owner: Conn) -> None:
    _append(owner, 1)
    anchor = blog.ChainHead.from_dict(
        {"table": "blog_events", "seq": 2**63, "hash": "00" * 32}
    )
    (broken,) = _reports(owner, (anchor,))
    assert broken.seq == 2**63 and broken.reason.startswith("truncated")


def test_rows_of_one_seq_and_id_give_both_verifiers_one_head(owner: Conn) -> None:
    first = _append(owner, 1)[0]
    owner.execute(
        "ALTER TABLE blog_events DROP CONSTRAINT blog_events_seq_key,"
        " DROP CONSTRAINT blog_events_pkey CASCADE"
    )
    for digest in (b"\x11" * 32, b"\x01" * 32):
        owner.execute(
            "INSERT INTO blog_events (seq, id, parent_id, schema, action, hash)"
            " VALUES (1, %s, %s, 1, 1, %s)",
            (first.id, first.id, digest),
        )
    (broken,) = _reports(owner)
    assert broken.seq == 1 and broken.reason.startswith("repeated seq")
