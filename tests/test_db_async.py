"""`ainsert` and `ainsert_many` on psycopg.AsyncConnection match the sync API."""

from __future__ import annotations

import asyncio
import contextlib
import types
import warnings
from collections.abc import Awaitable, Callable

import psycopg
import pytest

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db


def test_ainsert_and_ainsert_many(database: str, conn: Conn) -> None:
    blog.migrate(conn)

    async def scenario() -> tuple[list[blog.Event], blog.Event]:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            post = blog.changeset({"schema": "Post", "action": "insert"})
            first = await blog.ainsert(aconn, post)
            assert aconn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert not aconn.autocommit
            assert dbkit.count(database, "blog_events") == 1  # committed on return
            more = await blog.ainsert_many(
                aconn,
                [
                    blog.changeset(first, {"action": "publish", "payload": {"n": n}})
                    for n in range(3)
                ],
            )
            async with aconn.transaction():
                inside = await blog.ainsert(
                    aconn, blog.changeset(first, {"action": "soft_delete"})
                )
                assert dbkit.count(database, "blog_events") == 4
            assert dbkit.count(database, "blog_events") == 5
            async with aconn.transaction():
                await blog.ainsert(aconn, blog.changeset(first, {"action": "update"}))
                raise psycopg.Rollback()
            return [first, *more, inside], first

    events, first = asyncio.run(scenario())
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert blog.events_for(conn, first.id) == events
    dbkit.assert_recomputed_chain(database, events)
    report = blog.verify_chain(conn)
    assert report.ok and report.count == 5
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))


def test_ainsert_many_over_shards_with_links(database: str, conn: Conn) -> None:
    chat.migrate(conn)
    roots = [
        chat.changeset(
            {"id": dbkit.shard_uuid(n), "schema": "Chat", "action": "insert"}
        )
        for n in (3, 0, 2, 1)
    ]

    async def scenario() -> list[chat.Event]:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            stored = await chat.ainsert_many(aconn, roots)
            replies: list[chat.Event] = []
            for root in stored:
                attrs: chat.EventAttrs = {"schema": "Message", "action": "insert"}
                replies.append(
                    await chat.ainsert(
                        aconn,
                        chat.changeset(root, attrs),
                        links={"ancestors": [root], "mentions": [(root, 3)]},
                    )
                )
            return [*stored, *replies]

    events = asyncio.run(scenario())
    for root, reply in zip(events[:4], events[4:], strict=True):
        assert root.table == reply.table == chat.table_for(root.id)
        assert (root.seq, reply.seq) == (1, 2)
        assert chat.events_for(conn, root.id) == [root, reply]
        assert chat.linked(conn, reply, chat.Link.ancestors) == [root]
        assert chat.linked(conn, reply, chat.Link.mentions, link_type=3) == [root]
    for table in chat.SHARD_TABLES:
        assert dbkit.count(database, table) == 2
        assert dbkit.count(database, f"{table}_ancestors") == 1
    report = chat.verify_chain(conn)
    assert report.ok and report.count == 8
    dbkit.assert_same_reports(report, chat.verify_chain_locally(conn))


def test_tasks_sharing_one_async_connection_each_get_their_own_event(
    database: str, conn: Conn
) -> None:
    """ainsert() keeps a spare cursor on the connection between calls; tasks
    interleaving on one connection must never read each other's results."""
    blog.migrate(conn)
    tasks, each = 8, 40

    async def scenario() -> list[list[blog.Event]]:
        aconn = await psycopg.AsyncConnection.connect(database, autocommit=True)
        async with aconn:

            async def writer(n: int) -> list[blog.Event]:
                out = []
                for i in range(each):
                    payload: blog.JsonObject = {"w": n, "i": i}
                    cs = blog.changeset(
                        {"schema": "User", "action": "insert", "payload": payload}
                    )
                    out.append(await blog.ainsert(aconn, cs))
                return out

            return await asyncio.gather(*(writer(n) for n in range(tasks)))

    written = asyncio.run(scenario())
    stored = {
        row[0]: (row[1], bytes(row[2]))
        for row in dbkit.rows(database, "SELECT id, seq, hash FROM blog_events")
    }
    assert {e.id: (e.seq, e.hash) for mine in written for e in mine} == stored
    assert len(stored) == tasks * each
    for n, mine in enumerate(written):
        assert [e.payload for e in mine] == [{"w": n, "i": i} for i in range(each)]
    report = blog.verify_chain(conn)
    assert report.ok and report.count == tasks * each


def test_async_reads_match_the_sync_ones(database: str, conn: Conn) -> None:
    """aevents_for, aprevious_events, alinked, achain_head and averify_chain give
    what their sync twins give, and leave an idle connection idle."""
    chat.migrate(conn)
    root = chat.insert(
        conn,
        chat.changeset(
            {"id": dbkit.shard_uuid(1), "schema": "Chat", "action": "insert"}
        ),
    )
    reply = chat.insert(
        conn, chat.changeset(root, {"action": "update"}), links={"ancestors": [root]}
    )
    anchor = chat.chain_head(conn, root.table)

    async def scenario() -> tuple[tuple[object, ...], tuple[object, ...]]:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            got = (
                await chat.aevents_for(aconn, root.id),
                await chat.aprevious_events(aconn, reply),
                await chat.alinked(aconn, reply, chat.Link.ancestors),
                await chat.achain_head(aconn, root.table),
                await chat.averify_chain(aconn, anchors=[anchor]),
                await chat.achain_head(aconn, chat.SHARD_TABLES[0]),  # empty
            )
            return got, (aconn.info.transaction_status, aconn.autocommit)

    got, state = asyncio.run(scenario())
    assert got == (
        chat.events_for(conn, root.id),
        chat.previous_events(conn, reply),
        chat.linked(conn, reply, chat.Link.ancestors),
        chat.chain_head(conn, root.table),
        chat.verify_chain(conn, anchors=[anchor]),
        chat.chain_head(conn, chat.SHARD_TABLES[0]),
    )
    assert got[0] == [root, reply] and got[2] == [root]
    assert state == (psycopg.pq.TransactionStatus.IDLE, False)


def test_averify_chain_finds_what_verify_chain_finds(database: str, conn: Conn) -> None:
    blog.migrate(conn)
    events = blog.insert_many(
        conn,
        [blog.changeset({"schema": "User", "action": "insert"}) for _ in range(20)],
    )
    anchor = blog.chain_head(conn, "blog_events")
    with dbkit.connect(database) as attacker:
        attacker.execute('ALTER TABLE "blog_events" DISABLE TRIGGER USER')
        attacker.execute(
            "UPDATE blog_events SET payload = '{\"x\": 1}' WHERE seq = %s",
            (events[7].seq,),
        )
        attacker.execute("DELETE FROM blog_events WHERE seq = %s", (events[-1].seq,))
        attacker.execute('ALTER TABLE "blog_events" ENABLE TRIGGER USER')

    async def scenario() -> blog.ChainReport:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            return await blog.averify_chain(aconn, "blog_events", anchors=[anchor])

    async def locally() -> tuple[blog.ChainReport, bool]:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            report = await blog.averify_chain_locally(aconn, anchors=[anchor])
            idle = aconn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            return report, idle and not aconn.autocommit

    report = asyncio.run(scenario())
    assert report == blog.verify_chain(conn, "blog_events", anchors=[anchor])
    assert not report.ok and report.breaks[0].seq == events[7].seq
    local, idle = asyncio.run(locally())
    assert local == blog.verify_chain_locally(conn, anchors=[anchor]) and idle
    dbkit.assert_same_reports(report, local)


def test_async_calls_in_pipeline_mode_switch_autocommit_back(
    database: str, conn: Conn
) -> None:
    """In pipeline mode a result is pending until fetched: the async calls fetch
    it before switching autocommit back off, as the sync ones do."""
    blog.migrate(conn)
    first = blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))

    async def scenario() -> list[tuple[bool, psycopg.pq.TransactionStatus]]:
        aconn = await psycopg.AsyncConnection.connect(database)
        states = []
        async with aconn:
            calls: list[Callable[[], Awaitable[object]]] = [
                lambda: blog.aevents_for(aconn, first.id),
                lambda: blog.aprevious_events(aconn, first),
                lambda: blog.achain_head(aconn, "blog_events"),
                lambda: blog.ainsert(
                    aconn, blog.changeset(first, {"action": "update"})
                ),
            ]
            for call in calls:
                async with aconn.pipeline():
                    await call()
                states.append((aconn.autocommit, aconn.info.transaction_status))
        return states

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "autocommit left on" would fail here
        states = asyncio.run(scenario())
    assert states == [(False, psycopg.pq.TransactionStatus.IDLE)] * 4
    assert dbkit.count(database, "blog_events") == 2


@pytest.mark.parametrize("module", [blog, chat], ids=["blog", "chat"])
def test_amigrate_creates_what_migrate_creates(
    database: str, module: types.ModuleType
) -> None:
    async def scenario() -> tuple[psycopg.pq.TransactionStatus, bool]:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            await module.amigrate(aconn)
            await module.amigrate(aconn)  # idempotent, as migrate is
            await module.ainsert_many(aconn, [_first(module)])
            return aconn.info.transaction_status, aconn.autocommit

    assert asyncio.run(scenario()) == (psycopg.pq.TransactionStatus.IDLE, False)
    for table in (*module.SHARD_TABLES, *module.LINK_TABLES):
        assert dbkit.scalar(database, "SELECT to_regclass(%s) IS NOT NULL", (table,))
    with dbkit.connect(database) as conn:
        assert module.verify_chain(conn).count == 1


def _first(module: types.ModuleType) -> object:
    schema = module.Schema(0).name
    return module.changeset({"schema": schema, "action": "insert"})


def test_a_task_cancelled_while_autocommit_switches_switches_it_back(
    database: str, conn: Conn
) -> None:
    """psycopg may yield once after switching autocommit on: a cancellation
    landing there must still switch it back off."""
    blog.migrate(conn)

    async def scenario() -> tuple[bool, psycopg.pq.TransactionStatus]:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            switch = aconn.set_autocommit

            async def switch_then_yield(value: bool) -> None:
                await switch(value)
                await asyncio.sleep(0.05)  # the moment a cancellation can land

            vars(aconn)["set_autocommit"] = switch_then_yield
            task = asyncio.create_task(blog.achain_head(aconn, "blog_events"))
            await asyncio.sleep(0.01)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            del vars(aconn)["set_autocommit"]
            return aconn.autocommit, aconn.info.transaction_status

    assert asyncio.run(scenario()) == (False, psycopg.pq.TransactionStatus.IDLE)


def test_a_streamed_batch_cancelled_anywhere_leaves_no_connection_in_pipeline_mode(
    database: str, conn: Conn
) -> None:
    """psycopg can leave pipeline mode on when a task is cancelled inside its
    pipeline() and transaction() context managers: the connection then looks
    idle, swallows errors, and a pool hands it on. After a cancelled streamed
    batch the connection is either usable as before or closed, and the batch
    is stored whole or not at all."""
    blog.migrate(conn)
    size = blog.BATCH_CHUNK + 100  # streamed: more than one chunk

    def batch() -> list[blog.EventChangeset]:
        first = blog.changeset({"schema": "Post", "action": "insert"})
        assert first.id is not None
        return [first] + [
            blog.changeset(
                {"parent_id": first.id, "schema": "Post", "action": "update"}
            )
            for _ in range(size - 1)
        ]

    async def scenario() -> tuple[int, int]:
        closed = usable = 0
        aconn = await psycopg.AsyncConnection.connect(database)
        for attempt in range(48):
            task = asyncio.create_task(blog.ainsert_many(aconn, batch()))
            for _ in range(attempt % 12):
                await asyncio.sleep(0)
            await asyncio.sleep(0.0002 * (attempt // 12) * (attempt % 12))
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if aconn.closed:
                closed += 1
                aconn = await psycopg.AsyncConnection.connect(database)
                continue
            usable += 1
            assert aconn.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
            assert aconn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            with pytest.raises(psycopg.errors.DivisionByZero):
                await aconn.execute("SELECT 1 / 0")
            await aconn.rollback()
        await aconn.close()
        return closed, usable

    closed, usable = asyncio.run(scenario())
    assert closed + usable == 48
    stored = dbkit.count(database, "blog_events")
    assert stored % size == 0  # whole batches only
    report = blog.verify_chain(conn)
    assert report.ok and report.count == stored


def test_a_call_through_the_wrong_api_is_a_type_error_with_no_lasting_effect(
    database: str, conn: Conn
) -> None:
    """A sync function given an AsyncConnection (or the reverse) says so, and
    leaves nothing on the connection: the right calls then work on it."""
    blog.migrate(conn)
    first = blog.insert(conn, blog.changeset({"schema": "Post", "action": "insert"}))

    async def scenario() -> list[blog.Event]:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            wrong: list[Callable[[], object]] = [
                lambda: blog.chain_head(aconn, "blog_events"),  # type: ignore[arg-type]
                lambda: blog.events_for(aconn, first.id),  # type: ignore[arg-type]
                lambda: blog.insert(aconn, blog.changeset(first, {"action": "update"})),  # type: ignore[arg-type]
            ]
            wrong_kind = r"psycopg\.Connection, got AsyncConnection: call its twin \(a"
            for call in wrong:
                with pytest.raises(TypeError, match=wrong_kind):
                    call()
            await blog.ainsert(aconn, blog.changeset(first, {"action": "update"}))
            return await blog.aevents_for(aconn, first.id)

    assert [e.seq for e in asyncio.run(scenario())] == [1, 2]
    with pytest.raises(
        TypeError,
        match=r"psycopg\.AsyncConnection, got Connection: call its twin \(insert",
    ):
        asyncio.run(blog.aevents_for(conn, first.id))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"expected a psycopg\.Connection, got NoneType$"
    ):
        blog.insert(None, blog.changeset(first, {"action": "update"}))  # type: ignore[arg-type]
    blog.insert(conn, blog.changeset(first, {"action": "update"}))
    assert [e.seq for e in blog.events_for(conn, first.id)] == [1, 2, 3]


def test_a_batch_cancelled_while_queued_behind_another_tasks_batch(
    database: str, conn: Conn
) -> None:
    """Whether the connection was in pipeline mode before the batch must be read
    once the batch holds the connection's lock: read earlier, it saw the other
    task's pipeline, and a connection the cancellation left in pipeline mode was
    kept open."""
    blog.migrate(conn)

    def batch() -> list[blog.EventChangeset]:
        first = blog.changeset({"schema": "Post", "action": "insert"})
        assert first.id is not None
        update: blog.EventAttrs = {
            "parent_id": first.id,
            "schema": "Post",
            "action": "update",
        }
        return [first] + [blog.changeset(update) for _ in range(blog.BATCH_CHUNK)]

    async def scenario() -> int:
        usable = 0
        aconn = await psycopg.AsyncConnection.connect(database, autocommit=True)
        for attempt in range(48):
            first = asyncio.create_task(blog.ainsert_many(aconn, batch()))
            await asyncio.sleep(0.001)
            queued = asyncio.create_task(blog.ainsert_many(aconn, batch()))
            await first
            for _ in range(attempt % 12):
                await asyncio.sleep(0)
            await asyncio.sleep(0.0002 * (attempt // 12) * (attempt % 12))
            queued.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await queued
            if aconn.closed:
                aconn = await psycopg.AsyncConnection.connect(database, autocommit=True)
                continue
            usable += 1
            assert aconn.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
            with pytest.raises(psycopg.errors.DivisionByZero):
                await aconn.execute("SELECT 1 / 0")
        await aconn.close()
        return usable

    asyncio.run(scenario())
    assert dbkit.count(database, "blog_events") % (blog.BATCH_CHUNK + 1) == 0
    assert blog.verify_chain(conn).ok


def test_amigrate_waits_for_another_tasks_streamed_batch(
    database: str, conn: Conn
) -> None:
    """It used to see that batch's pipeline and refuse to run in pipeline mode."""
    blog.migrate(conn)
    first = blog.changeset({"schema": "Post", "action": "insert"})
    assert first.id is not None
    update: blog.EventAttrs = {
        "parent_id": first.id,
        "schema": "Post",
        "action": "update",
    }
    items = [first] + [blog.changeset(update) for _ in range(blog.BATCH_CHUNK * 4)]

    async def scenario() -> int:
        async with await psycopg.AsyncConnection.connect(database) as aconn:
            streaming = asyncio.create_task(blog.ainsert_many(aconn, items))
            await asyncio.sleep(0.005)
            await blog.amigrate(aconn)
            return len(await streaming)

    assert asyncio.run(scenario()) == len(items)
    assert blog.verify_chain(conn).count == len(items)
