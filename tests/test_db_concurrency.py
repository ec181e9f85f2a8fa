"""Concurrent writers on their own connections: nothing lost, no fork, no deadlock."""

from __future__ import annotations

import threading
import time
import types
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

import psycopg
import pytest
from psycopg.rows import TupleRow

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from generated_example import plain_events as plain
from tests import dbkit
from tests.dbkit import Conn
from tests.specmods import generate_module

pytestmark = pytest.mark.db

WRITERS, EACH = 8, 250
T = TypeVar("T")


def _in_threads(count: int, work: Callable[[int], T], timeout: float = 90) -> list[T]:
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(work, n) for n in range(count)]
        return [future.result(timeout=timeout) for future in futures]


def _stored(database: str, table: str) -> dict[uuid.UUID, tuple[int, bytes]]:
    query = f'SELECT id, seq, hash FROM "{table}"'
    return {row[0]: (row[1], bytes(row[2])) for row in dbkit.rows(database, query)}


def test_eight_writers_on_one_chain(database: str, conn: Conn) -> None:
    blog.migrate(conn)
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> list[blog.Event]:
        with dbkit.connect(database, autocommit=False) as own:
            start.wait()
            return [
                blog.insert(
                    own,
                    blog.changeset(
                        {"schema": "User", "action": "insert", "payload": {"w": n}}
                    ),
                )
                for _ in range(EACH)
            ]

    written = [e for events in _in_threads(WRITERS, writer) for e in events]
    assert dbkit.count(database, "blog_events") == WRITERS * EACH
    stored = _stored(database, "blog_events")
    assert {e.id: (e.seq, e.hash) for e in written} == stored
    dbkit.assert_no_fork(database, "blog_events")
    report = blog.verify_chain(conn)
    assert report.ok and report.count == WRITERS * EACH
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))


def test_eight_writers_over_four_shards(database: str, conn: Conn) -> None:
    chat.migrate(conn)
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> list[chat.Event]:
        with dbkit.connect(database, autocommit=False) as own:
            start.wait()
            return [
                chat.insert(
                    own,
                    chat.changeset(
                        {"id": uuid.uuid4(), "schema": "Chat", "action": "insert"}
                    ),
                )
                for _ in range(EACH)
            ]

    written = [e for events in _in_threads(WRITERS, writer) for e in events]
    assert sum(dbkit.count(database, t) for t in chat.SHARD_TABLES) == WRITERS * EACH
    for table in chat.SHARD_TABLES:
        mine = {e.id: (e.seq, e.hash) for e in written if e.table == table}
        assert len(mine) > WRITERS * EACH // 8
        assert mine == _stored(database, table)
        dbkit.assert_no_fork(database, table)
    report = chat.verify_chain(conn)
    assert report.ok and report.count == WRITERS * EACH
    dbkit.assert_same_reports(report, chat.verify_chain_locally(conn))


class _YieldingCursor(psycopg.Cursor[TupleRow]):
    """Lets other threads run between a statement and the fetch of its row."""

    def execute(self, *args: Any, **kwargs: Any) -> Self:
        done = super().execute(*args, **kwargs)
        time.sleep(0.0002)
        return done


def test_threads_sharing_one_connection_each_get_their_own_event(
    database: str, conn: Conn
) -> None:
    """insert() keeps a spare cursor on the connection between calls; threads
    sharing the connection must never read each other's results through it."""
    blog.migrate(conn)
    start = threading.Barrier(WRITERS)
    each = 60
    with psycopg.connect(
        database, autocommit=True, cursor_factory=_YieldingCursor
    ) as shared:

        def writer(n: int) -> list[tuple[blog.Event, int]]:
            start.wait()
            out = []
            for i in range(each):
                payload: blog.JsonObject = {"w": n, "i": i}
                cs = blog.changeset(
                    {"schema": "User", "action": "insert", "payload": payload}
                )
                if i % 5 == 4:  # the one-statement insert_many path shares it too
                    (event,) = blog.insert_many(shared, [cs])
                else:
                    event = blog.insert(shared, cs)
                out.append((event, i))
            return out

        written = _in_threads(WRITERS, writer)
    events = [e for mine in written for e, _ in mine]
    assert {e.id: (e.seq, e.hash) for e in events} == _stored(database, "blog_events")
    for n, mine in enumerate(written):
        assert [e.payload for e, _ in mine] == [{"w": n, "i": i} for _, i in mine]
    dbkit.assert_no_fork(database, "blog_events")
    report = blog.verify_chain(conn)
    assert report.ok and report.count == WRITERS * each
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))


def test_opposite_batches_over_the_same_shards_do_not_deadlock(
    database: str, conn: Conn
) -> None:
    chat.migrate(conn)

    def batch() -> list[chat.EventChangeset]:
        return [
            chat.changeset(
                {"id": dbkit.shard_uuid(n % 4), "schema": "Chat", "action": "insert"}
            )
            for n in range(12)
        ]

    def run(
        own: Conn, items: list[chat.EventChangeset], start: threading.Barrier
    ) -> list[chat.Event]:
        start.wait()
        return chat.insert_many(own, items)

    with (
        dbkit.connect(database, autocommit=False) as one,
        dbkit.connect(database, autocommit=False) as two,
        ThreadPoolExecutor(2) as pool,
    ):
        for _ in range(20):  # a deadlock shows as DeadlockDetected or a timeout
            start = threading.Barrier(2)
            futures: list[Future[list[chat.Event]]] = [
                pool.submit(run, one, batch(), start),
                pool.submit(run, two, batch()[::-1], start),
            ]
            for future in futures:
                assert len(future.result(timeout=10)) == 12
    report = chat.verify_chain(conn)
    assert report.ok and report.count == 20 * 24
    for table in chat.SHARD_TABLES:
        dbkit.assert_no_fork(database, table)


@pytest.mark.parametrize("path", ["idle", "transaction"])
@pytest.mark.parametrize(
    "level",
    [psycopg.IsolationLevel.REPEATABLE_READ, psycopg.IsolationLevel.SERIALIZABLE],
)
def test_snapshot_writer_does_not_fork_the_chain(
    database: str, conn: Conn, path: str, level: psycopg.IsolationLevel
) -> None:
    """A writer whose snapshot predates the chain lock must not hash a stale head.

    The holder, at READ COMMITTED, appends inside an open transaction (holding
    the chain lock); the writer, at REPEATABLE READ or SERIALIZABLE, starts its
    append and waits for the lock; the holder commits. The writer must then
    either chain after the holder's event or fail without writing: never fork
    the chain (SSI does not protect a SERIALIZABLE writer from a READ COMMITTED
    one).
    """
    blog.migrate(conn)
    blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    with (
        dbkit.connect(database, autocommit=False) as holder,
        dbkit.connect(database, autocommit=False) as writer,
        ThreadPoolExecutor(1) as pool,
    ):
        if path == "idle":
            name = level.name.replace("_", " ").lower()
            writer.execute(f"SET default_transaction_isolation = '{name}'".encode())
            writer.commit()
        else:
            writer.isolation_level = level

        def write() -> blog.Event:
            cs = blog.changeset({"schema": "User", "action": "insert"})
            if path == "idle":
                return blog.insert(writer, cs)
            with writer.transaction():
                return blog.insert(writer, cs)

        with holder.transaction():
            blog.insert(holder, blog.changeset({"schema": "Post", "action": "insert"}))
            waiting = pool.submit(write)
            dbkit.wait_for(database, writer.info.backend_pid, dbkit.is_waiting_for_lock)
        try:
            waiting.result(timeout=10)
            written = 3
        except (psycopg.Error, blog.SpectorError):
            written = 2
    assert dbkit.count(database, "blog_events") == written
    dbkit.assert_no_fork(database, "blog_events")
    report = blog.verify_chain(conn)
    assert report.breaks == ()
    assert report.ok and report.count == written


# An unhashed, unsharded log with a link table whose name sorts before its
# events table's ('_' before 's'): migrate once locked them in that order,
# while appenders take the events table first.
LINKED = """\
version: 1
module: linked_events
table: events
hashed: {hashed}
schemas: [Post]
links:
  ancestors: {{table: event_ancestors, column: ancestor_id}}
"""


def _log(kind: str, tmp_path: Path, loaded: list[str]) -> types.ModuleType:
    if kind == "sharded":
        return chat
    if kind == "unhashed":
        return plain
    spec = LINKED.format(hashed=str(kind == "hashed_linked").lower())
    return generate_module(tmp_path / kind, spec, loaded, "linked_events")


@pytest.mark.parametrize(
    "kind", ["sharded", "unhashed", "hashed_linked", "unhashed_linked"]
)
def test_migrate_beside_running_appends_neither_deadlocks(
    database: str, conn: Conn, kind: str, tmp_path: Path, loaded: list[str]
) -> None:
    """A rolling deploy migrates while the old version still appends: migrate
    locks the log's tables first (events tables, then link tables), in the
    appenders' order, and every append takes its events table before its
    sequence and its link tables, so each side waits for the other instead of
    one failing with DeadlockDetected."""
    log = _log(kind, tmp_path, loaded)
    schema = log.Schema(0).name
    links = hasattr(log, "Link")
    log.migrate(conn)
    conn.commit()
    stop = time.monotonic() + 3
    failures: list[BaseException] = []

    def append(_: int) -> int:
        done = 0
        with dbkit.connect(database) as writer:
            while time.monotonic() < stop:
                cs = log.changeset({"schema": schema, "action": "insert"})
                try:
                    root = log.insert(writer, cs)
                    reply = log.changeset(root, {"action": "update"})
                    other = log.changeset({"schema": schema, "action": "insert"})
                    item = (reply, {"ancestors": [root]}) if links else reply
                    log.insert_many(writer, [item, other])
                except psycopg.Error as exc:
                    failures.append(exc)
                done += 1
        return done

    def migrate(_: int) -> int:
        done = 0
        with dbkit.connect(database, autocommit=False) as migrator:
            while time.monotonic() < stop:
                try:
                    log.migrate(migrator)
                except psycopg.Error as exc:
                    failures.append(exc)
                done += 1
                time.sleep(0.02)
        return done

    with ThreadPoolExecutor(5) as pool:
        writers = [pool.submit(append, n) for n in range(4)]
        migrations = pool.submit(migrate, 0)
        appended = sum(f.result(timeout=60) for f in writers)
    assert failures == []
    assert appended > 0 and migrations.result() > 1
    if log.HASHED:
        assert log.verify_chain(conn).ok
