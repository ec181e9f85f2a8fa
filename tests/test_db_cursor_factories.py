"""The generated functions work whatever cursor class the caller's connection makes.

psycopg lets a connection default to a ClientCursor (parameters bound on the
client) or a RawCursor ($1 placeholders). The module's statements take %s
parameters bound on the server, some as binary with binary results, so it makes
its own cursors there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from tests import dbkit

pytestmark = pytest.mark.db

SYNC = [psycopg.ClientCursor, psycopg.RawCursor]
ASYNC = [psycopg.AsyncClientCursor, psycopg.AsyncRawCursor]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(chat, "BATCH_CHUNK", 8)
    monkeypatch.setattr(chat, "_FIRST_CHUNK", 2)
    yield


def _chats(count: int) -> list[chat.EventChangeset]:
    attrs: chat.EventAttrs = {"schema": "Chat", "action": "insert"}
    return [chat.changeset(attrs) for _ in range(count)]


@pytest.mark.parametrize("factory", SYNC, ids=lambda f: f.__name__)
def test_every_function_runs_on_a_connection_of_another_cursor_class(
    database: str, factory: type[psycopg.Cursor[tuple[object, ...]]]
) -> None:
    with psycopg.connect(database, cursor_factory=factory) as conn:
        assert isinstance(conn.cursor(), factory)
        chat.migrate(conn)
        root = chat.insert(conn, _chats(1)[0])
        reply = chat.changeset(root, {"schema": "Message", "action": "insert"})
        linked = chat.insert(conn, reply, links={"mentions": [(root, 3)]})
        many = chat.insert_many(conn, _chats(6))  # one statement
        streamed = chat.insert_many(conn, _chats(30))  # chunks through a pipeline
        assert len(many) == 6 and len(streamed) == 30
        assert chat.events_for(conn, root.id) == [root, linked]
        assert chat.previous_events(conn, linked) == [root, linked]
        assert chat.linked(conn, linked, chat.Link.mentions, link_type=3) == [root]
        report = chat.verify_chain(conn)
        assert report.ok and report.count == 38
        dbkit.assert_same_reports(report, chat.verify_chain_locally(conn))
        heads = {t.table: t.head for t in report.tables}
        assert chat.chain_head(conn, linked.table) == heads[linked.table]


@pytest.mark.parametrize("factory", ASYNC, ids=lambda f: f.__name__)
def test_the_async_functions_run_on_a_connection_of_another_cursor_class(
    database: str, factory: type[psycopg.AsyncCursor[tuple[object, ...]]]
) -> None:
    async def scenario() -> list[chat.Event]:
        aconn = await psycopg.AsyncConnection.connect(database, cursor_factory=factory)
        async with aconn:
            assert isinstance(aconn.cursor(), factory)
            one = await chat.ainsert(aconn, _chats(1)[0])
            return [one, *await chat.ainsert_many(aconn, _chats(30))]

    with dbkit.connect(database) as conn:
        chat.migrate(conn)
        events = asyncio.run(scenario())
        assert len(events) == 31
        report = chat.verify_chain(conn)
        assert report.ok and report.count == 31


@pytest.mark.parametrize("factory", [psycopg.Cursor, *SYNC], ids=lambda f: f.__name__)
def test_no_statement_is_prepared_on_the_server_when_the_connection_says_so(
    database: str, factory: type[psycopg.Cursor[tuple[object, ...]]]
) -> None:
    """Behind a transaction-pooling PgBouncer without prepared statements the
    caller connects with prepare_threshold=None; the module's cursors follow."""
    with psycopg.connect(database, cursor_factory=factory) as conn:
        conn.prepare_threshold = None
        chat.migrate(conn)
        for _ in range(8):  # past psycopg's default threshold of 5
            root = chat.insert(conn, _chats(1)[0])
            chat.insert_many(conn, _chats(6))
            chat.insert_many(conn, _chats(30))
            chat.events_for(conn, root.id)
        assert chat.verify_chain(conn).count == 8 * 37
        row = conn.execute(b"SELECT count(*) FROM pg_prepared_statements").fetchone()
        assert row == (0,)


def test_the_local_verifier_reads_with_psycopgs_own_loaders(database: str) -> None:
    """A connection that loads uuid as str (and timestamps as text) made every
    hash of an untouched chain mismatch in verify_chain_locally."""
    from psycopg.types.string import TextBinaryLoader, TextLoader

    with psycopg.connect(database, autocommit=True) as conn:
        blog.migrate(conn)
        first = blog.insert(
            conn, blog.changeset({"schema": "Post", "action": "insert"})
        )
        blog.insert(conn, blog.changeset(first, {"action": "update"}))
        for name in ("uuid", "timestamptz", "int8"):
            conn.adapters.register_loader(name, TextLoader)
            conn.adapters.register_loader(name, TextBinaryLoader)
        local = blog.verify_chain_locally(conn)
        assert local.ok and local.count == 2, local
        assert local == blog.verify_chain(conn)
        # The connection keeps its own loaders.
        assert conn.execute("SELECT %s::uuid", (str(first.id),)).fetchone() == (
            str(first.id),
        )
