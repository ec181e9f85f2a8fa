"""insert_many sends ids, parents, schemas and actions as binary arrays.

The generated module writes array_send's format itself, so the server must read
back exactly what was meant, and the caller's connection must not learn the
private parameter types.
"""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.adapt import PyFormat
from psycopg.rows import tuple_row

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from tests.dbkit import Conn

pytestmark = pytest.mark.db

INT4 = st.integers(-(2**31), 2**31 - 1)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.uuids(), max_size=40), values=st.lists(INT4, max_size=40))
def test_binary_arrays_read_back_as_the_values_sent(
    conn: Conn, ids: list[uuid.UUID], values: list[int]
) -> None:
    cur = blog._sending_arrays(conn.cursor(row_factory=tuple_row))
    row = cur.execute(
        b"SELECT %s::uuid[], %s::integer[], array_lower(%s::uuid[], 1),"
        b" array_lower(%s::integer[], 1)",
        (blog._uuids(ids), blog._int4s(values), blog._uuids(ids), blog._int4s(values)),
    ).fetchone()
    assert row is not None
    assert row[0] == ids and row[1] == values
    assert row[2] == (1 if ids else None) and row[3] == (1 if values else None)


def test_the_callers_connection_keeps_its_own_adapters(conn: Conn) -> None:
    blog.migrate(conn)
    post: blog.EventAttrs = {"schema": "Post", "action": "insert", "payload": {}}
    stored = blog.insert_many(conn, [blog.changeset(post) for _ in range(3)])
    blog.insert(conn, blog.changeset(post))
    assert [e.seq for e in stored] == [1, 2, 3]
    dumper = conn.adapters.get_dumper(blog._UuidArray, PyFormat.AUTO)
    assert dumper is not blog._UuidArrayDumper
    row = conn.execute(b"SELECT pg_typeof(%s)::text", (blog._UuidArray(b"x"),))
    assert row.fetchone() == ("bytea",)


def test_two_generated_modules_share_a_connection(database: str, conn: Conn) -> None:
    """Each module keeps its own spare cursor: one that knows only another
    module's array types would send this module's arrays as bytea."""
    blog.migrate(conn)
    chat.migrate(conn)
    post: blog.EventAttrs = {"schema": "Post", "action": "insert", "payload": {}}
    room: chat.EventAttrs = {"schema": "Chat", "action": "insert"}
    for _ in range(2):  # each module's spare cursor taken, then reused
        chat.insert(conn, chat.changeset(room))
        blog.insert_many(conn, [blog.changeset(post) for _ in range(3)])
        chat.insert_many(conn, [chat.changeset(room) for _ in range(3)])
        blog.insert(conn, blog.changeset(post))

    async def scenario() -> None:
        aconn = await psycopg.AsyncConnection.connect(database)
        async with aconn:
            for _ in range(2):
                await chat.ainsert(aconn, chat.changeset(room))
                await blog.ainsert_many(aconn, [blog.changeset(post) for _ in range(3)])
                await chat.ainsert_many(aconn, [chat.changeset(room) for _ in range(3)])
                await blog.ainsert(aconn, blog.changeset(post))

    asyncio.run(scenario())
    assert blog.verify_chain(conn).count == 16
    assert chat.verify_chain(conn).count == 16
