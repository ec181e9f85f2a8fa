"""Small helpers shared by the tests/test_db_*.py files (real PostgreSQL only).

Every helper that only looks at the database opens its own short autocommit
connection, so it never leaves the connection under test inside an implicit
transaction (which would change what `insert` does: it joins the caller's
transaction instead of committing on return).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeAlias

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from generated_example import blog_events as blog

Conn: TypeAlias = psycopg.Connection[TupleRow]
Query: TypeAlias = str | sql.SQL | sql.Composed


class Report(Protocol):
    """What the tests read of a generated module's ChainReport."""

    @property
    def ok(self) -> bool: ...

    @property
    def count(self) -> int: ...


@contextlib.contextmanager
def connect(database: str, *, autocommit: bool = True) -> Iterator[Conn]:
    """A new connection to the test database, closed on exit."""
    with psycopg.connect(database, autocommit=autocommit) as conn:
        yield conn


def as_role(database: str, role: str) -> str:
    """Conninfo for `role` (the `role` fixture's, whose password is its name)."""
    return make_conninfo(database, user=role, password=role)


def rows(database: str, query: Query, params: Sequence[object] = ()) -> list[TupleRow]:
    """Every row of one query, run on a fresh autocommit connection."""
    with connect(database) as conn:
        return conn.execute(query, params).fetchall()


def scalar(database: str, query: Query, params: Sequence[object] = ()) -> Any:
    """The single value of a one-row, one-column query."""
    (row,) = rows(database, query, params)
    (value,) = row
    return value


def count(database: str, table: str) -> int:
    """How many rows `table` holds, seen from another connection."""
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    return int(scalar(database, query))


def payload_text(database: str, table: str, event_id: uuid.UUID) -> str | None:
    """The stored payload as PostgreSQL prints it (what the hash covers)."""
    query = sql.SQL("SELECT payload::text FROM {} WHERE id = %s").format(
        sql.Identifier(table)
    )
    value = scalar(database, query, (event_id,))
    assert value is None or isinstance(value, str)
    return value


def sequence_state(database: str, table: str) -> tuple[int, bool]:
    """`last_value, is_called` of a table's seq sequence (`<table>_seq`)."""
    query = sql.SQL("SELECT last_value, is_called FROM {}").format(
        sql.Identifier(f"{table}_seq")
    )
    (row,) = rows(database, query)
    return int(row[0]), bool(row[1])


def shard_uuid(shard: int, shards: int = 4) -> uuid.UUID:
    """A random UUIDv4 whose first byte modulo `shards` is `shard`."""
    raw = bytearray(uuid.uuid4().bytes)
    raw[0] = raw[0] - raw[0] % shards + shard
    return uuid.UUID(bytes=bytes(raw))


def assert_no_fork(database: str, table: str) -> None:
    """Every hash appears once and no previous hash is followed twice."""
    query = sql.SQL(
        "SELECT count(*), count(DISTINCT hash), count(prev), count(DISTINCT prev),"
        " bool_and(octet_length(hash) = 32)"
        " FROM (SELECT hash, lag(hash) OVER (ORDER BY seq) AS prev FROM {}) AS c"
    ).format(sql.Identifier(table))
    (n, distinct, prevs, distinct_prevs, sized) = rows(database, query)[0]
    assert n == distinct, f"{table}: a hash appears twice"
    assert prevs == distinct_prevs, f"{table}: a previous hash is used twice"
    assert sized is None or sized, f"{table}: a hash is not 32 bytes"


def assert_same_reports(in_db: Report, in_python: Report) -> None:
    """verify_chain and verify_chain_locally must give the very same report."""
    assert in_db == in_python


def wait_for(
    database: str, pid: int, ready: Callable[[TupleRow], bool], timeout: float = 30
) -> TupleRow:
    """Poll pg_stat_activity for backend `pid` until `ready(row)`; return the row.

    The row is (state, wait_event_type, query).
    """
    deadline = time.monotonic() + timeout
    with connect(database) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT state, wait_event_type, query FROM pg_stat_activity"
                " WHERE pid = %s",
                (pid,),
            ).fetchone()
            if row is not None and ready(row):
                return row
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} never reached the expected state")


def holding_lock(database: str, *tables: str) -> Conn:
    """A new connection, inside a transaction that holds the tables' chain locks."""
    holder = psycopg.connect(database)
    for table in tables:
        holder.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
    return holder


def impatient(database: str) -> Conn:
    """A new connection that waits at most 200 ms for any lock."""
    waiter = psycopg.connect(database)
    waiter.execute("SET lock_timeout = '200ms'")
    waiter.commit()
    return waiter


def is_waiting_for_lock(row: TupleRow) -> bool:
    return bool(row[0] == "active" and row[1] == "Lock")


def is_appending(row: TupleRow) -> bool:
    return bool(row[0] == "active" and "_append" in str(row[2]))


def assert_recomputed_chain(database: str, events: Sequence[blog.Event]) -> bytes:
    """Each event's hash equals event_hash over its stored columns; the last hash."""
    previous = blog.GENESIS
    for event in events:
        assert event.hash is not None and len(event.hash) == 32
        assert event.hash != previous
        assert event.hash == blog.event_hash(
            previous,
            seq=event.seq,
            id=event.id,
            parent_id=event.parent_id,
            schema=event.schema,
            action=event.action,
            inserted_at=event.inserted_at,
            payload_text=payload_text(database, event.table, event.id),
        )
        previous = event.hash
    return previous
