"""Faults: a writer killed mid-batch, a chain lock that cannot be had in time."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db


def _user(n: int) -> blog.EventChangeset:
    return blog.changeset({"schema": "User", "action": "insert", "payload": {"n": n}})


def _chat(n: int) -> chat.EventChangeset:
    attrs: chat.EventAttrs = {"id": dbkit.shard_uuid(n % 4), "schema": "Chat"}
    return chat.changeset({**attrs, "action": "insert", "payload": {"n": n}})


def _kill_when_appending(database: str, pid: int) -> None:
    dbkit.wait_for(database, pid, dbkit.is_appending, timeout=60)
    time.sleep(0.05)
    assert dbkit.scalar(database, "SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.parametrize("log", ["blog_events", "chat_events"])
def test_connection_killed_mid_batch_leaves_all_or_nothing(
    database: str, conn: Conn, log: str
) -> None:
    module = blog if log == "blog_events" else chat
    module.migrate(conn)
    if module is blog:
        blog.insert_many(conn, [_user(n) for n in range(3)])
    else:
        chat.insert_many(conn, [_chat(n) for n in range(3)])
    size = 50_000 if module is blog else 24_000
    victim = psycopg.connect(database)

    def batch() -> int:
        if module is blog:
            return len(blog.insert_many(victim, [_user(n) for n in range(size)]))
        return len(chat.insert_many(victim, [_chat(n) for n in range(size)]))

    with ThreadPoolExecutor(1) as pool:
        work = pool.submit(batch)
        before = sum(dbkit.count(database, t) for t in module.SHARD_TABLES)
        _kill_when_appending(database, victim.info.backend_pid)
        with pytest.raises(psycopg.OperationalError):
            work.result(timeout=60)
    victim.close()
    after = sum(dbkit.count(database, t) for t in module.SHARD_TABLES)
    assert after - before in (0, size)
    report = module.verify_chain(conn)
    assert report.ok and report.count == after
    assert module.verify_chain_locally(conn) == report
    conn.commit()
    if module is blog:
        assert blog.insert(conn, _user(-1)).seq > 3
    else:
        assert chat.insert(conn, _chat(4)).seq > 1  # shard 0 had an event
    assert module.verify_chain(conn).ok


def test_lock_timeout_raises_chain_lock_timeout(database: str, conn: Conn) -> None:
    blog.migrate(conn)
    blog.insert(conn, _user(0))
    holder = dbkit.holding_lock(database, "blog_events")
    try:
        with dbkit.impatient(database) as waiter:
            started = time.monotonic()
            with pytest.raises(blog.ChainLockTimeout) as raised:
                blog.insert(waiter, _user(1))
            assert time.monotonic() - started < 5
            message = str(raised.value)
            assert "blog_events" in message and "lock" in message
            assert "nothing was written" in message
            assert "roll back" not in message  # no transaction of the caller's
            assert isinstance(raised.value, TimeoutError)
            assert isinstance(raised.value.__cause__, psycopg.errors.LockNotAvailable)
            assert waiter.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert not waiter.autocommit
            with pytest.raises(blog.ChainLockTimeout):
                blog.insert_many(waiter, [_user(2), _user(3)])
            rollback = pytest.raises(blog.ChainLockTimeout, match="transaction failed")
            with rollback, waiter.transaction():
                blog.insert(waiter, _user(4))
            assert waiter.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert dbkit.count(database, "blog_events") == 1  # readers still read
    finally:
        holder.close()
    assert dbkit.count(database, "blog_events") == 1
    report = blog.verify_chain(conn)
    assert report.ok and report.count == 1
    assert blog.insert(conn, _user(5)).seq > 1


def test_lock_timeout_on_one_shard_writes_no_shard(database: str, conn: Conn) -> None:
    chat.migrate(conn)
    holder = dbkit.holding_lock(database, "chat_events_2")
    try:
        with dbkit.impatient(database) as waiter:
            with pytest.raises(chat.ChainLockTimeout, match="chat_events_2"):
                chat.insert_many(waiter, [_chat(n) for n in range(8)])
            with pytest.raises(chat.ChainLockTimeout):
                chat.insert(waiter, _chat(2))
            chat.insert(waiter, _chat(1))  # another shard's chain is free
    finally:
        holder.close()
    counts = {t: dbkit.count(database, t) for t in chat.SHARD_TABLES}
    assert counts == {t: int(t == "chat_events_1") for t in chat.SHARD_TABLES}
    assert chat.verify_chain(conn).ok


def test_async_lock_timeout(database: str, conn: Conn) -> None:
    blog.migrate(conn)
    holder = dbkit.holding_lock(database, "blog_events")

    async def scenario() -> None:
        aconn = await psycopg.AsyncConnection.connect(database, autocommit=True)
        async with aconn:
            await aconn.execute("SET lock_timeout = '200ms'")
            await aconn.set_autocommit(False)
            with pytest.raises(blog.ChainLockTimeout, match="blog_events"):
                await blog.ainsert(aconn, _user(1))
            with pytest.raises(blog.ChainLockTimeout):
                await blog.ainsert_many(aconn, [_user(2), _user(3)])
            assert aconn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    try:
        asyncio.run(scenario())
    finally:
        holder.close()
    assert dbkit.count(database, "blog_events") == 0


@pytest.mark.parametrize("short", ["parents", "schemas", "actions", "payloads"])
def test_the_batch_function_refuses_columns_of_different_lengths(
    database: str, conn: Conn, short: str
) -> None:
    """A caller of the SQL function itself gets an error, never a shifted row."""
    blog.migrate(conn)
    ids = [uuid.uuid4(), uuid.uuid4()]
    full: dict[str, object] = {
        "parents": ids,
        "schemas": [1, 1],
        "actions": [1, 1],
        "payloads": "[null, null]",
    }
    one: dict[str, object] = {
        "parents": ids[:1],
        "schemas": [1],
        "actions": [1],
        "payloads": "[null]",
    }
    args = [one[name] if name == short else value for name, value in full.items()]
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="as many"):
        conn.execute(
            "SELECT * FROM blog_events_append(%s, %s, %s::integer[],"
            " %s::integer[], %s::jsonb)",
            (ids, *args),
        )
    conn.rollback()
    assert dbkit.count(database, "blog_events") == 0


def test_the_batch_function_stores_nothing_for_an_empty_batch(
    database: str, conn: Conn
) -> None:
    blog.migrate(conn)
    blog.insert(conn, _user(0))
    row = conn.execute(
        "SELECT * FROM blog_events_append('{}', '{}', '{}', '{}', '[]')"
    ).fetchone()
    assert row is not None
    assert (row[0], row[2]) == ([], [])
    conn.commit()
    assert dbkit.count(database, "blog_events") == 1
    (later,) = blog.insert_many(conn, [_user(1)])
    assert later.seq == 2  # no sequence value was spent on the empty call


def test_threads_timing_out_on_a_shared_idle_connection_get_no_rollback_hint(
    database: str,
) -> None:
    """The hint to roll back is for a caller's own failed transaction; another
    thread's statement running on the shared connection is not one."""
    with dbkit.connect(database) as setup:
        blog.migrate(setup)
    holder = dbkit.holding_lock(database, "blog_events")
    messages: list[str] = []
    try:
        with dbkit.impatient(database) as shared:

            def insert() -> None:
                with pytest.raises(blog.ChainLockTimeout) as raised:
                    blog.insert(shared, _user(0))
                messages.append(str(raised.value))

            threads = [threading.Thread(target=insert) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert shared.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        holder.close()
    assert len(messages) == 3
    assert not [m for m in messages if "roll back" in m], messages


def _backend_running(database: str, text: str) -> bool:
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s"
    )
    return bool(dbkit.scalar(database, query, (f"%{text}%",)))


def test_a_cancel_while_autocommit_switches_back_still_switches_it(
    database: str, conn: Conn
) -> None:
    """ainsert waits for psycopg's lock to switch autocommit back off when
    another task's statement holds it; a cancel landing there used to leave
    autocommit on, and a pool handed the connection on like that."""
    blog.migrate(conn)
    conn.commit()

    async def scenario() -> tuple[list[object], bool]:
        async with await psycopg.AsyncConnection.connect(database) as shared:
            with dbkit.holding_lock(database, "blog_events") as holder:
                cs = blog.changeset({"schema": "User", "action": "insert"})
                inserting = asyncio.create_task(blog.ainsert(shared, cs))
                await asyncio.sleep(0.2)  # the insert waits for the chain lock
                other = asyncio.create_task(shared.execute("SELECT pg_sleep(1.5)"))
                await asyncio.sleep(0.2)  # and the other task for psycopg's lock
                holder.rollback()
            for _ in range(100):  # the other task's statement has psycopg's lock
                if _backend_running(database, "pg_sleep(1.5)"):
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # ainsert now waits to switch autocommit off
            inserting.cancel()
            done = await asyncio.gather(inserting, other, return_exceptions=True)
            return list(done), shared.autocommit

    done, autocommit = asyncio.run(scenario())
    assert isinstance(done[0], asyncio.CancelledError)
    assert autocommit is False


@pytest.mark.parametrize("call", ["migrate", "insert", "events_for", "verify_chain"])
def test_a_connection_left_with_a_result_unread_is_closed(
    database: str, conn: Conn, call: str
) -> None:
    """An interrupt that lands in psycopg's own code after a statement was sent
    (a Ctrl-C, about 2% of them in a migrate) leaves its result unread: the
    connection stays ACTIVE, refuses every later statement, and the server
    session may hold the transaction, and its locks, open. The module closes
    such a connection, as it does one left in pipeline mode, so a pool
    discards it. Here the unread result is sent by hand."""
    blog.migrate(conn)
    conn.commit()
    conn.pgconn.send_query(b"SELECT pg_sleep(0.1)")
    work: dict[str, Callable[[], object]] = {
        "migrate": lambda: blog.migrate(conn),
        "insert": lambda: blog.insert(
            conn, blog.changeset({"schema": "User", "action": "insert"})
        ),
        "events_for": lambda: blog.events_for(conn, uuid.uuid4()),
        "verify_chain": lambda: blog.verify_chain(conn),
    }
    with pytest.raises(psycopg.Error, match="another command"):
        work[call]()
    assert conn.closed


@pytest.mark.parametrize("call", ["amigrate", "ainsert", "aevents_for"])
def test_an_async_connection_left_with_a_result_unread_is_closed(
    database: str, conn: Conn, call: str
) -> None:
    blog.migrate(conn)
    conn.commit()

    async def scenario() -> bool:
        aconn = await psycopg.AsyncConnection.connect(database)
        aconn.pgconn.send_query(b"SELECT pg_sleep(0.1)")
        work: dict[str, Callable[[], Awaitable[object]]] = {
            "amigrate": lambda: blog.amigrate(aconn),
            "ainsert": lambda: blog.ainsert(
                aconn, blog.changeset({"schema": "User", "action": "insert"})
            ),
            "aevents_for": lambda: blog.aevents_for(aconn, uuid.uuid4()),
        }
        with pytest.raises(psycopg.Error, match="another command"):
            await work[call]()
        closed = aconn.closed
        await aconn.close()
        return closed

    assert asyncio.run(scenario())


def test_a_shared_connection_running_anothers_statement_is_not_closed(
    database: str, conn: Conn
) -> None:
    """ACTIVE because another task's statement runs (a shared connection) is
    not a result left unread: a timeout on the module's call, waiting for
    psycopg's lock meanwhile, must not close the connection under it."""
    blog.migrate(conn)
    conn.commit()

    async def scenario() -> tuple[bool, object]:
        shared = await psycopg.AsyncConnection.connect(database, autocommit=True)
        other = asyncio.create_task(shared.execute("SELECT pg_sleep(1)"))
        await asyncio.sleep(0.2)
        cs = blog.changeset({"schema": "User", "action": "insert"})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(blog.ainsert(shared, cs), 0.2)
        closed = shared.closed
        done = await asyncio.gather(other, return_exceptions=True)
        await shared.close()
        return closed, done[0]

    closed, other = asyncio.run(scenario())
    assert not closed
    assert not isinstance(other, BaseException)
