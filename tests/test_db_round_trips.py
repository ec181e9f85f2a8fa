"""Round trips, counted on the wire with libpq's protocol trace.

A round trip is one Sync (extended protocol) or one simple Query: the client
waits for ReadyForQuery after each. Round trips, not hashing, are what costs.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable

import psycopg
from psycopg import pq

from generated_example import blog_events as blog
from generated_example import chat_events as chat

Conn = psycopg.Connection[tuple[object, ...]]


def sent(conn: Conn, action: Callable[[], object]) -> list[str]:
    """The frontend messages libpq sends while `action` runs, in order."""
    fd, path = tempfile.mkstemp()
    try:
        conn.pgconn.trace(fd)
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            action()
        finally:
            conn.pgconn.untrace()
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line.split("\t") for line in handle if line.startswith("F")]
    finally:
        os.close(fd)
        os.unlink(path)
    return [fields[2].split()[0] for fields in lines]


def round_trips(conn: Conn, action: Callable[[], object]) -> int:
    return sum(1 for message in sent(conn, action) if message in {"Sync", "Query"})


def test_one_hashed_insert_is_one_round_trip_on_an_idle_connection(
    conn: Conn,
) -> None:
    blog.migrate(conn)
    conn.commit()
    trips = []
    for _ in range(12):
        cs = blog.changeset({"schema": "User", "action": "insert"})
        trips.append(round_trips(conn, functools.partial(blog.insert, conn, cs)))
    # psycopg prepares a statement on its 5th run, at the cost of one more trip.
    assert trips == [1] * 5 + [2] + [1] * 6
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert blog.verify_chain(conn).ok


def test_inside_a_callers_transaction_no_savepoint_trips(conn: Conn) -> None:
    blog.migrate(conn)
    conn.commit()
    with conn.transaction():
        cs = blog.changeset({"schema": "User", "action": "insert"})
        assert round_trips(conn, lambda: blog.insert(conn, cs)) == 1
        batch = [blog.changeset({"schema": "User", "action": "insert"})] * 1
        assert round_trips(conn, lambda: blog.insert_many(conn, batch)) == 1


def test_a_batch_for_one_table_is_one_round_trip(conn: Conn) -> None:
    blog.migrate(conn)
    conn.commit()
    batch = [blog.changeset({"schema": "User", "action": "insert"}) for _ in range(500)]
    assert round_trips(conn, lambda: blog.insert_many(conn, batch)) == 1
    assert blog.verify_chain(conn).count == 500


def test_a_batch_over_shards_is_pipelined(conn: Conn) -> None:
    chat.migrate(conn)
    conn.commit()
    batch = [chat.changeset({"schema": "Chat", "action": "insert"}) for _ in range(200)]
    assert len({cs.table for cs in batch}) == 4
    trips = round_trips(conn, lambda: chat.insert_many(conn, batch))
    assert trips <= 4  # BEGIN, then LOCK and every append together, COMMIT, sync
    assert chat.verify_chain(conn).count == 200


def test_verify_is_one_round_trip_then_two_per_table(conn: Conn) -> None:
    chat.migrate(conn)
    conn.commit()
    tables = len(chat.SHARD_TABLES)
    idle = pq.TransactionStatus.IDLE
    # One look at every table's shape, then an empty table needs only its
    # bounds. On an idle connection each read is its own autocommit statement:
    # no BEGIN trip, and no transaction left open.
    assert round_trips(conn, lambda: chat.verify_chain(conn)) == 1 + tables
    assert conn.info.transaction_status == idle and not conn.autocommit
    batch = [chat.changeset({"schema": "Chat", "action": "insert"}) for _ in range(200)]
    assert len({cs.table for cs in batch}) == tables
    chat.insert_many(conn, batch)
    # Then the bounds and the ranges of each table.
    assert round_trips(conn, lambda: chat.verify_chain(conn)) == 1 + 2 * tables
    assert conn.info.transaction_status == idle and not conn.autocommit
    # Inside the caller's transaction, the reads are part of it.
    with conn.transaction():
        assert round_trips(conn, lambda: chat.verify_chain(conn)) == 1 + 2 * tables
    conn.autocommit = True
    assert round_trips(conn, lambda: chat.verify_chain(conn)) == 1 + 2 * tables
    # Anchors add one read per table they name, whatever their number.
    heads = [chat.chain_head(conn, table) for table in chat.SHARD_TABLES[:2]]
    trips = round_trips(conn, lambda: chat.verify_chain(conn, anchors=heads * 3))
    assert trips == 1 + 2 * tables + 2


def test_a_streamed_batch_is_one_pipeline_sync(conn: Conn) -> None:
    blog.migrate(conn)
    conn.commit()
    size = blog.BATCH_CHUNK * 4 + 1  # 7 chunks: 64, 128, 256, 500, 500, 500, 53
    user: blog.EventAttrs = {"schema": "User", "action": "insert"}
    batch = [blog.changeset(user) for _ in range(size)]
    messages = sent(conn, lambda: blog.insert_many(conn, batch))
    executes = [i for i, message in enumerate(messages) if message == "Execute"]
    assert len(executes) == 9  # BEGIN, 7 appends, COMMIT
    # No append waits for another: none is followed by a Sync before the last.
    assert "Sync" not in messages[executes[1] : executes[7]]
    assert messages.count("Flush") >= 6  # each earlier result is read, not waited for
    assert messages.count("Sync") <= 4  # BEGIN, the last append, COMMIT, pipeline end
    assert blog.verify_chain(conn).count == size
