"""migrate and a table already under a log's name.

CREATE TABLE IF NOT EXISTS keeps whatever has the name: a table made by hand,
by another spec, or by this spec before a breaking change. Kept silently, a
`json` payload column would store text that the chain's verifiers print
otherwise (every event a break), a missing `hash` would fail every insert and
a NOT NULL column the appends never fill would too. migrate says so instead,
by table and column, and leaves nothing of its file behind.
"""

from __future__ import annotations

import psycopg
import pytest

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from generated_example import plain_events as plain
from tests.dbkit import Conn

pytestmark = pytest.mark.db

COLUMNS = {
    "seq": "bigint UNIQUE",
    "id": "uuid PRIMARY KEY",
    "parent_id": "uuid NOT NULL",
    "schema": "integer NOT NULL",
    "action": "integer NOT NULL",
    "payload": "jsonb",
    "inserted_at": "timestamptz NOT NULL DEFAULT now()",
    "hash": "bytea NOT NULL",
}


def _make(conn: Conn, table: str, **changes: str | None) -> None:
    """`table` with the log's columns, some changed (None: left out)."""
    columns = {**COLUMNS, **changes}
    body = ", ".join(f'"{k}" {v}' for k, v in columns.items() if v is not None)
    conn.execute(f'CREATE TABLE "{table}" ({body})'.encode())
    conn.commit()


def _functions(conn: Conn, prefix: str) -> list[str]:
    rows = conn.execute(
        "SELECT proname::text FROM pg_proc WHERE proname::text LIKE %s ORDER BY 1",
        (prefix + "%",),
    ).fetchall()
    return [str(name) for (name,) in rows]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"payload": "json"}, "column payload is json, not jsonb"),
        ({"schema": "smallint NOT NULL"}, "column schema is smallint, not integer"),
        ({"inserted_at": "timestamp NOT NULL"}, "column inserted_at is timestamp"),
        ({"hash": None}, "no column hash (bytea)"),
        ({"parent_id": None, "action": "text"}, "no column parent_id (uuid); column"),
        (
            {"tenant": "text NOT NULL"},
            "column tenant may not be NULL and has no default",
        ),
    ],
)
def test_migrate_refuses_a_table_of_another_shape(
    conn: Conn, changes: dict[str, str | None], problem: str
) -> None:
    _make(conn, "blog_events", **changes)
    with pytest.raises(psycopg.errors.InvalidTableDefinition) as raised:
        blog.migrate(conn)
    message = str(raised.value)
    assert message.startswith("table public.blog_events is not this log's: "), message
    assert problem in message, message
    assert raised.value.diag.message_hint is not None
    assert "CREATE TABLE IF NOT EXISTS kept" in raised.value.diag.message_hint
    assert _functions(conn, "blog_events_") == []  # nothing of the file stays
    assert conn.execute("SELECT to_regclass('blog_events_seq')").fetchone() == (None,)


def test_every_difference_is_named_in_the_columns_order(conn: Conn) -> None:
    _make(conn, "blog_events", parent_id=None, action="text", zone="int NOT NULL")
    with pytest.raises(psycopg.errors.InvalidTableDefinition) as raised:
        blog.migrate(conn)
    assert raised.value.diag.message_primary == (
        "table public.blog_events is not this log's: no column parent_id (uuid);"
        " column action is text, not integer;"
        " column zone may not be NULL and has no default"
    )


def test_a_hashed_spec_over_an_unhashed_logs_table_says_what_is_missing(
    conn: Conn,
) -> None:
    """`hashed: true` turned on with --allow-breaking: the table has no chain."""
    _make(conn, "blog_events", hash=None)
    conn.execute(
        "INSERT INTO blog_events (seq, id, parent_id, schema, action)"
        " VALUES (1, gen_random_uuid(), gen_random_uuid(), 0, 0)"
    )
    conn.commit()
    with pytest.raises(psycopg.errors.InvalidTableDefinition, match="no column hash"):
        blog.migrate(conn)
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM blog_events").fetchone() == (1,)


def test_an_unhashed_spec_over_a_hashed_logs_table_names_the_hash(conn: Conn) -> None:
    _make(conn, "plain_events")
    with pytest.raises(psycopg.errors.InvalidTableDefinition) as raised:
        plain.migrate(conn)
    assert raised.value.diag.message_primary == (
        "table public.plain_events is not this log's:"
        " column hash may not be NULL and has no default"
    )


@pytest.mark.parametrize(
    "extra",
    [
        "text",  # NULL in every event: fine
        "text NOT NULL DEFAULT 'eu'",
        "bigint GENERATED ALWAYS AS IDENTITY",
        "integer GENERATED ALWAYS AS (schema * 2) STORED",
        "region_code",  # a NOT NULL domain with a default
        "local_code",  # a domain over it: the default holds for it too
    ],
)
def test_columns_of_your_own_that_fill_themselves_are_kept(
    conn: Conn, extra: str
) -> None:
    conn.execute("CREATE DOMAIN region_code AS text NOT NULL DEFAULT 'eu'")
    conn.execute("CREATE DOMAIN local_code AS region_code")
    _make(conn, "blog_events", extra=extra)
    blog.migrate(conn)
    conn.commit()
    first = blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    blog.insert_many(
        conn, [blog.changeset(first, {"action": "update"}) for _ in range(2)]
    )
    conn.commit()
    assert blog.verify_chain(conn).ok


@pytest.mark.parametrize(
    ("ddl", "kind"),
    [
        ("CREATE VIEW blog_events AS SELECT 1 AS seq", "v"),
        # FROM ONLY on a partitioned table reads no rows: every append would
        # hash from the chain's start.
        (
            "CREATE TABLE blog_events (seq bigint, id uuid)"
            " PARTITION BY HASH (id);"
            " CREATE TABLE blog_events_p0 PARTITION OF blog_events"
            " FOR VALUES WITH (MODULUS 1, REMAINDER 0)",
            "p",
        ),
    ],
)
def test_what_is_not_a_plain_table_is_refused_by_its_kind(
    conn: Conn, ddl: str, kind: str
) -> None:
    conn.execute(ddl.encode())
    conn.commit()
    with pytest.raises(psycopg.errors.WrongObjectType) as raised:
        blog.migrate(conn)
    assert raised.value.diag.message_primary == (
        f"public.blog_events is not a plain table (pg_class.relkind {kind})"
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"seq": "bigint GENERATED ALWAYS AS IDENTITY UNIQUE"},
            "column seq is generated, but the appends write it",
        ),
        (
            {"payload": "jsonb GENERATED ALWAYS AS (NULL::jsonb) STORED"},
            "column payload is generated, but the appends write it",
        ),
        ({"id": "uuid"}, "no unique, not deferrable index on id alone"),
        (
            {"id": "uuid PRIMARY KEY DEFERRABLE"},
            "no unique, not deferrable index on id alone",
        ),
        ({"seq": "bigint"}, "no unique, not deferrable index on seq alone"),
        (
            {"tenant": "strict_text"},  # NOT NULL by its domain
            "column tenant may not be NULL and has no default",
        ),
        (
            {"tenant": "stricter_text"},  # by the domain its domain is over
            "column tenant may not be NULL and has no default",
        ),
        (
            {"Tenant": "text NOT NULL"},
            'column "Tenant" may not be NULL and has no default',
        ),
    ],
)
def test_what_every_append_would_fail_on_is_refused(
    conn: Conn, changes: dict[str, str], problem: str
) -> None:
    conn.execute("CREATE DOMAIN strict_text AS text NOT NULL")
    conn.execute("CREATE DOMAIN stricter_text AS strict_text")
    if (
        changes.get("id") == "uuid"
    ):  # a unique index on more than id alone is not its key
        changes = {**changes, "other": "int UNIQUE", "k": "int, UNIQUE (id, k)"}
    _make(conn, "blog_events", **changes)
    with pytest.raises(psycopg.errors.InvalidTableDefinition) as raised:
        blog.migrate(conn)
    assert raised.value.diag.message_primary == (
        f"table public.blog_events is not this log's: {problem}"
    )


def test_the_message_names_the_tables_schema(conn: Conn) -> None:
    conn.execute('CREATE SCHEMA "App"')
    conn.execute('SET search_path = "App"')
    _make(conn, "blog_events", payload="text")
    with pytest.raises(psycopg.errors.InvalidTableDefinition) as raised:
        blog.migrate(conn)
    assert raised.value.diag.message_primary == (
        'table "App".blog_events is not this log\'s: column payload is text, not jsonb'
    )


def test_a_link_table_is_checked_too(conn: Conn) -> None:
    """A typed link's table needs its `type`, as the appends write it."""
    chat.migrate(conn)
    conn.commit()
    conn.execute("DROP TABLE chat_events_2_mentions")
    conn.execute(
        "CREATE TABLE chat_events_2_mentions (event_id uuid NOT NULL,"
        " mentioned_id uuid NOT NULL)"
    )
    conn.commit()
    with pytest.raises(psycopg.errors.InvalidTableDefinition) as raised:
        chat.migrate(conn)
    assert raised.value.diag.message_primary == (
        "table public.chat_events_2_mentions is not this log's:"
        " no column type (integer)"
    )


def test_a_migrated_log_passes_its_own_check_again(conn: Conn) -> None:
    for _ in range(2):
        chat.migrate(conn)
        blog.migrate(conn)
        plain.migrate(conn)
        conn.commit()
    blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    conn.commit()
    assert blog.verify_chain(conn).ok
