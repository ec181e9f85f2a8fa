"""Threads and tasks sharing one connection, and reads on an idle connection.

On an idle connection every generated function runs as its own autocommit
statement: an insert is committed on return and a read leaves no transaction
open (which would hold the next insert's chain lock until the caller commits).
Checking that the connection is idle, switching autocommit and running the
statement happen under the connection's lock, so threads or tasks sharing the
connection cannot interleave them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import psycopg
import pytest
from psycopg import pq

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db

IDLE = pq.TransactionStatus.IDLE


def _threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:  # reported by the test, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_threads_sharing_a_connection_commit_every_insert(
    database: str, conn: Conn
) -> None:
    blog.migrate(conn)
    per_thread = 150

    def work(n: int) -> None:
        for i in range(per_thread):
            if n == 0 and i % 10 == 0:  # one thread also reads and batches
                blog.events_for(conn, blog.uuid7())
                blog.insert_many(conn, [_user(), _user()])
            blog.insert(conn, _user())

    assert _threads(4, work) == []
    expected = 4 * per_thread + 2 * (per_thread // 10)
    assert dbkit.count(database, "blog_events") == expected  # seen from outside
    assert conn.info.transaction_status == IDLE and not conn.autocommit
    report = blog.verify_chain(conn)
    assert report.ok and report.count == expected


def test_tasks_sharing_an_async_connection_commit_every_insert(
    database: str, conn: Conn
) -> None:
    blog.migrate(conn)

    async def scenario() -> tuple[pq.TransactionStatus, bool]:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            inserts = [blog.ainsert(aconn, _user()) for _ in range(200)]
            batches = [blog.ainsert_many(aconn, [_user(), _user()]) for _ in range(10)]
            await asyncio.gather(*inserts, *batches)
            return aconn.info.transaction_status, aconn.autocommit

    status, autocommit = asyncio.run(scenario())
    assert (status, autocommit) == (IDLE, False)
    assert dbkit.count(database, "blog_events") == 220
    assert blog.verify_chain(conn).ok


def test_reads_leave_an_idle_connection_idle(database: str, conn: Conn) -> None:
    chat.migrate(conn)
    root = chat.insert(conn, chat.changeset({"schema": "Chat", "action": "insert"}))
    reply = chat.insert(
        conn,
        chat.changeset(root, {"action": "update"}),
        links={"ancestors": [root]},
    )
    reads: list[Callable[[], object]] = [
        lambda: chat.events_for(conn, root.id),
        lambda: chat.previous_events(conn, reply),
        lambda: chat.linked(conn, reply, chat.Link.ancestors),
        lambda: chat.chain_head(conn, root.table),
        lambda: chat.verify_chain(conn),
        lambda: chat.verify_chain_locally(conn),
    ]
    for read in reads:
        assert read()
        assert conn.info.transaction_status == IDLE and not conn.autocommit
    # So the next insert commits on return and holds no chain lock after it.
    chat.insert(conn, chat.changeset(root, {"action": "update"}))
    assert dbkit.count(database, root.table) == 3


def test_reads_inside_the_callers_transaction_stay_in_it(
    database: str, conn: Conn
) -> None:
    blog.migrate(conn)
    with conn.transaction():
        first = blog.insert(conn, _user())
        assert blog.events_for(conn, first.id) == [first]  # sees its own insert
        assert blog.verify_chain(conn).count == 1
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        assert dbkit.count(database, "blog_events") == 0  # not committed yet
    assert dbkit.count(database, "blog_events") == 1


def _user() -> blog.EventChangeset:
    return blog.changeset({"schema": "User", "action": "insert"})


def test_autocommit_that_cannot_be_switched_back_warns_instead_of_failing(
    conn: Conn,
) -> None:
    """Another thread's own transaction, opened on the shared connection while a
    module statement ran in autocommit, keeps autocommit from switching back:
    the statement that ran is not reported as failed, and a warning says why."""
    conn.autocommit = True
    with conn.transaction(), pytest.warns(RuntimeWarning, match="autocommit left on"):
        blog._restore(conn)
    assert conn.autocommit
