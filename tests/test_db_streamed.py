"""insert_many streams a long batch in chunks through one pipeline, one transaction.

The chunk sizes are made tiny here (first chunk 2 events, then 4, then 8), so
small batches cross many chunk and table boundaries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence

import psycopg
import pytest

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for module in (blog, chat):
        monkeypatch.setattr(module, "BATCH_CHUNK", 8)
        monkeypatch.setattr(module, "_FIRST_CHUNK", 2)
    yield


def _posts(count: int) -> list[blog.EventChangeset]:
    out = []
    for n in range(count):
        payload: blog.JsonObject | blog.RawJson | None = {"n": n, "s": "x" * n}
        if n % 5 == 1:
            payload = blog.RawJson(f'{{"raw": {n}, "raw": "last wins"}}')
        elif n % 7 == 2:
            payload = None
        out.append(
            blog.changeset({"schema": "Post", "action": "insert", "payload": payload})
        )
    return out


def test_a_streamed_batch_is_one_chain_in_input_order(
    database: str, conn: Conn
) -> None:
    blog.migrate(conn)
    first = blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    batch = _posts(61)
    events = blog.insert_many(conn, batch)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert [e.id for e in events] == [cs.id for cs in batch]
    assert [e.seq for e in events] == list(range(2, 63))
    assert len({e.inserted_at for e in events}) == 1  # one transaction
    assert events[1].payload == {"raw": "last wins"}
    assert events[2].payload is None and events[3].payload == {"n": 3, "s": "xxx"}
    for event in events[::7]:
        assert blog.events_for(conn, event.parent_id) == [event]
    dbkit.assert_recomputed_chain(database, [first, *events])
    report = blog.verify_chain(conn)
    assert report.ok and report.count == 62
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))


def test_a_streamed_batch_over_shards_stores_its_links(conn: Conn) -> None:
    chat.migrate(conn)
    roots = chat.insert_many(
        conn,
        [
            chat.changeset(
                {"id": dbkit.shard_uuid(n % 4), "schema": "Chat", "action": "insert"}
            )
            if n < 4
            else chat.changeset({"schema": "Chat", "action": "insert"})
            for n in range(40)
        ],
    )
    items: list[chat.EventChangeset | tuple[chat.EventChangeset, chat.EventLinks]] = []
    for n, root in enumerate(roots):
        reply = chat.changeset(root, {"schema": "Message", "action": "insert"})
        items.append((reply, {"ancestors": [root], "mentions": [(root, n)]}))
        items.append(chat.changeset(root, {"schema": "Message", "action": "insert"}))
    stored = chat.insert_many(conn, items)
    assert len(stored) == 80
    for n, root in enumerate(roots):
        linked, plain = stored[2 * n], stored[2 * n + 1]
        assert linked.parent_id == plain.parent_id == root.id
        assert linked.table == plain.table == root.table
        assert root.seq < linked.seq < plain.seq
        assert chat.linked(conn, linked, chat.Link.ancestors) == [root]
        assert chat.linked(conn, linked, chat.Link.mentions, link_type=n) == [root]
        assert chat.linked(conn, plain, chat.Link.ancestors) == []
    report = chat.verify_chain(conn)
    assert report.ok and report.count == 120
    assert all(t.count > 0 for t in report.tables)


@pytest.mark.parametrize("enclosing", [False, True])
def test_a_failure_in_a_late_chunk_writes_nothing(
    database: str, conn: Conn, enclosing: bool
) -> None:
    blog.migrate(conn)
    first = blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    batch = _posts(40)
    taken = batch[3].id
    assert taken is not None
    batch[37] = blog.changeset({"id": taken, "schema": "Post", "action": "insert"})
    with pytest.raises(psycopg.errors.UniqueViolation):
        if enclosing:
            with conn.transaction():
                blog.insert_many(conn, batch)
        else:
            blog.insert_many(conn, batch)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert dbkit.count(database, "blog_events") == 1
    assert blog.verify_chain(conn).ok
    again = blog.insert_many(conn, _posts(20))
    assert again[0].seq > first.seq
    report = blog.verify_chain(conn)
    assert report.ok and report.count == 21


def test_inside_a_callers_transaction_a_failed_batch_leaves_it_usable(
    database: str, conn: Conn
) -> None:
    """A streamed batch runs under a savepoint: its failure undoes only itself."""
    blog.migrate(conn)
    first = blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    batch = _posts(40)
    batch[37] = blog.changeset({"id": first.id, "schema": "Post", "action": "insert"})
    with conn.transaction():
        kept = blog.insert(conn, blog.changeset(first, {"action": "update"}))
        with pytest.raises(psycopg.errors.UniqueViolation):
            blog.insert_many(conn, batch)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        after = blog.insert(conn, blog.changeset(first, {"action": "update"}))
    assert dbkit.count(database, "blog_events") == 3
    assert blog.events_for(conn, first.id) == [first, kept, after]
    report = blog.verify_chain(conn)
    assert report.ok and report.count == 3


@pytest.mark.parametrize("enclosing", [False, True])
def test_a_client_fault_mid_stream_writes_nothing(
    database: str, conn: Conn, monkeypatch: pytest.MonkeyPatch, enclosing: bool
) -> None:
    """A Python error after some chunks were sent (injected: the 3rd encoding)."""
    blog.migrate(conn)
    blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    calls = [0]
    encode = blog._payloads

    def failing(events: Sequence[blog.PendingEvent]) -> str:
        calls[0] += 1
        if calls[0] == 3:
            raise MemoryError("injected")
        return encode(events)

    monkeypatch.setattr(blog, "_payloads", failing)
    with pytest.raises(MemoryError, match="injected"):
        if enclosing:
            with conn.transaction():
                try:
                    blog.insert_many(conn, _posts(40))
                finally:
                    assert dbkit.count(database, "blog_events") == 1
                    status = conn.info.transaction_status
                    assert status == psycopg.pq.TransactionStatus.INTRANS
        else:
            blog.insert_many(conn, _posts(40))
    assert calls[0] == 3
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert dbkit.count(database, "blog_events") == 1
    monkeypatch.setattr(blog, "_payloads", encode)
    assert len(blog.insert_many(conn, _posts(40))) == 40
    report = blog.verify_chain(conn)
    assert report.ok and report.count == 41


def test_a_streamed_batch_times_out_on_the_chain_lock(
    database: str, conn: Conn
) -> None:
    blog.migrate(conn)
    holder = dbkit.holding_lock(database, "blog_events")
    try:
        with dbkit.impatient(database) as waiter:
            with pytest.raises(blog.ChainLockTimeout, match="nothing was written"):
                blog.insert_many(waiter, _posts(30))
            assert waiter.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            with waiter.transaction():  # under a savepoint: no need to roll back
                with pytest.raises(blog.ChainLockTimeout) as raised:
                    blog.insert_many(waiter, _posts(30))
                assert "roll back" not in str(raised.value)
                assert waiter.execute("SELECT 1").fetchone() == (1,)
    finally:
        holder.close()
    assert dbkit.count(database, "blog_events") == 0
    assert len(blog.insert_many(conn, _posts(30))) == 30
    assert blog.verify_chain(conn).count == 30


def test_ainsert_many_streams_too(database: str, conn: Conn) -> None:
    chat.migrate(conn)
    batch = [chat.changeset({"schema": "Chat", "action": "insert"}) for _ in range(50)]

    async def scenario() -> list[chat.Event]:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            stored = await chat.ainsert_many(aconn, batch)
            status = aconn.info.transaction_status
            assert status == psycopg.pq.TransactionStatus.IDLE
            return stored

    events = asyncio.run(scenario())
    assert [e.id for e in events] == [cs.id for cs in batch]
    for table in chat.SHARD_TABLES:
        seqs = [e.seq for e in events if e.table == table]
        assert seqs == list(range(1, len(seqs) + 1))
    report = chat.verify_chain(conn)
    assert report.ok and report.count == 50
    assert all(isinstance(e.id, uuid.UUID) for e in events)


@pytest.mark.parametrize("children", [3, 20])  # one statement; streamed chunks
def test_a_record_must_start_before_its_other_events_in_a_batch(
    database: str, conn: Conn, children: int
) -> None:
    """Whatever the batch size: an event before its record's first event would
    be stored (and read back) before it, and across chunks its parent's row
    does not exist yet when the chunk's foreign keys are checked."""
    blog.migrate(conn)
    root = blog.changeset({"schema": "Post", "action": "insert"})
    assert root.id is not None
    start: blog.EventAttrs = {"parent_id": root.id, "schema": "Post"}
    kids = [blog.changeset({**start, "action": "update"}) for _ in range(children)]
    other = blog.changeset({"schema": "User", "action": "insert"})
    with pytest.raises(
        blog.InvalidEvent,
        match=r"items\[1\]\.parent_id: comes before its record's first event"
        r" \(items\[\d+\]\)",
    ):
        blog.insert_many(conn, [other, *kids, root])
    with pytest.raises(blog.InvalidEvent, match="before its record's first"):
        asyncio.run(_ainsert_many(database, [*kids[:1], root]))
    assert dbkit.count(database, "blog_events") == 0
    stored = blog.insert_many(conn, [other, root, *kids])
    assert [e.id for e in blog.events_for(conn, root.id)] == [e.id for e in stored[1:]]
    later = blog.insert_many(
        conn, [blog.changeset(stored[1], {"action": "update"}) for _ in range(children)]
    )
    assert len(later) == children  # a record started earlier needs no start here
    assert blog.verify_chain(conn).ok


async def _ainsert_many(database: str, items: Sequence[blog.EventChangeset]) -> None:
    async with await psycopg.AsyncConnection.connect(
        database, autocommit=True
    ) as aconn:
        await blog.ainsert_many(aconn, items)


@pytest.mark.parametrize("children", [3, 20])  # one statement; streamed chunks
def test_a_link_to_a_later_event_of_the_batch_is_refused(
    database: str, conn: Conn, children: int
) -> None:
    """Its target is not stored yet where the link is (across chunks, the link
    table's foreign key fails): at any size, a link's target must come first."""
    chat.migrate(conn)
    parent = dbkit.shard_uuid(1)
    root = chat.changeset({"id": parent, "schema": "Chat", "action": "insert"})
    kids = [
        chat.changeset({"parent_id": parent, "schema": "Message", "action": "insert"})
        for _ in range(children)
    ]
    forward: list[chat.EventChangeset | tuple[chat.EventChangeset, chat.EventLinks]]
    forward = [root, (kids[0], {"ancestors": [kids[-1].apply().id]}), *kids[1:]]
    with pytest.raises(
        chat.InvalidEvent,
        match=r"items\[1\]\.links\.ancestors: links to items\[\d+\], which",
    ):
        chat.insert_many(conn, forward)
    assert all(dbkit.count(database, t) == 0 for t in chat.SHARD_TABLES)
    back: list[chat.EventChangeset | tuple[chat.EventChangeset, chat.EventLinks]]
    back = [root, *kids[:-1], (kids[-1], {"ancestors": [kids[0].apply().id]})]
    stored = chat.insert_many(conn, back)
    assert chat.linked(conn, stored[-1], chat.Link.ancestors) == [stored[1]]
    assert chat.verify_chain(conn).ok
