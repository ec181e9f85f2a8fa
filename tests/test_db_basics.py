"""The generated modules against a real PostgreSQL: migrate, insert, read, verify."""

from __future__ import annotations

import dataclasses
import math
import types
import uuid
from pathlib import Path
from typing import cast

import psycopg
import pytest
from psycopg import sql

from generated_example import blog_events as blog
from generated_example import chat_events, plain_events, region_events
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db

EXAMPLE = Path(__file__).resolve().parent.parent / "generated_example"
MODULES = (blog, chat_events, plain_events, region_events)


def _new_post(payload: blog.JsonObject | None = None) -> blog.EventChangeset:
    return blog.changeset({"schema": "Post", "action": "insert", "payload": payload})


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.split(".")[-1])
def test_migrate_twice_creates_every_table(
    database: str, conn: Conn, module: types.ModuleType
) -> None:
    module.migrate(conn)
    module.migrate(conn)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    for table in (*module.SHARD_TABLES, *module.LINK_TABLES):
        assert dbkit.scalar(database, "SELECT to_regclass(%s) IS NOT NULL", (table,))
    assert len(set(module.SHARD_TABLES)) == len(module.SHARD_TABLES)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.split(".")[-1])
def test_sql_file_is_the_ddl_after_its_header(module: types.ModuleType) -> None:
    name = module.__name__.split(".")[-1]
    lines = (EXAMPLE / f"{name}.sql").read_text(encoding="utf-8").splitlines(True)
    header = 0
    while lines[header].startswith("--"):
        header += 1
    assert header >= 3
    assert "".join(lines[header:]) == module.DDL


def test_sql_file_applies_and_migrate_keeps_events(database: str, conn: Conn) -> None:
    conn.execute((EXAMPLE / "blog_events.sql").read_bytes())
    conn.commit()
    event = blog.insert(conn, _new_post({"kept": True}))
    blog.migrate(conn)
    blog.migrate(conn)
    assert blog.events_for(conn, event.parent_id) == [event]
    assert blog.verify_chain(conn).ok


def test_hashes_are_32_bytes_differ_and_match_event_hash(
    database: str, conn: Conn
) -> None:
    blog.migrate(conn)
    first = blog.insert(conn, _new_post({"title": "hello", "n": [1, 2.5, None]}))
    rest = [
        blog.insert(conn, blog.changeset(first, {"action": "publish"})),
        blog.insert(conn, blog.changeset(first, {"action": "update", "payload": None})),
        blog.insert(conn, _new_post({"b": 1, "a": {"z": "é😀"}})),
    ]
    previous = dbkit.assert_recomputed_chain(database, (first, *rest))
    assert [e.seq for e in (first, *rest)] == [1, 2, 3, 4]
    report = blog.verify_chain(conn)
    assert report.ok and report.count == 4
    assert report.tables[0].head == blog.ChainHead("blog_events", 4, previous)
    assert blog.chain_head(conn, "blog_events") == report.tables[0].head
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))


@pytest.mark.parametrize("module", [blog, chat_events, region_events])
def test_verify_an_empty_log(conn: Conn, module: types.ModuleType) -> None:
    module.migrate(conn)
    report = module.verify_chain(conn)
    assert report.ok and report.count == 0 and report.breaks == ()
    assert len(report.tables) == len(module.SHARD_TABLES)
    for table in report.tables:
        assert table.head == module.ChainHead(table.table, 0, module.GENESIS)
        assert module.chain_head(conn, table.table) == table.head
    assert module.verify_chain_locally(conn) == report
    assert module.verify_chain(conn, module.SHARD_TABLES[-1]).count == 0


def test_events_for_and_previous_events_follow_seq(conn: Conn) -> None:
    blog.migrate(conn)
    post = blog.insert(conn, _new_post({"v": 0}))
    other = blog.insert(conn, _new_post({"other": True}))
    mine = [post]
    for n in range(1, 6):
        blog.insert(conn, blog.changeset(other, {"action": "update"}))
        mine.append(
            blog.insert(
                conn, blog.changeset(post, {"action": "update", "payload": {"v": n}})
            )
        )
    assert blog.events_for(conn, post.parent_id) == mine
    assert [e.seq for e in mine] == sorted(e.seq for e in mine)
    for i, event in enumerate(mine):
        assert blog.previous_events(conn, event) == mine[: i + 1]
    assert blog.events_for(conn, blog.uuid7()) == []


INVALID: list[dict[str, object]] = [
    {"schema": "User"},
    {"action": "insert"},
    {"schema": "Nope", "action": "insert"},
    {"schema": "User", "action": "publish"},
    {"schema": "Comment", "action": "soft_delete"},
    {"schema": "User", "action": "insert", "id": "not-a-uuid"},
    {"schema": "User", "action": "insert", "parent_id": 12},
    {"schema": "User", "action": "insert", "bogus": 1},
    {"schema": "User", "action": "insert", "payload": [1, 2]},
    {"schema": 2, "action": 1},  # no schema has code 2
    {"schema": True, "action": 1},  # a bool is not a code
]


@pytest.mark.parametrize("attrs", INVALID, ids=str)
def test_invalid_changesets_fail_before_any_database_work(
    database: str, conn: Conn, attrs: dict[str, object]
) -> None:
    blog.migrate(conn)
    before = dbkit.sequence_state(database, "blog_events")
    cs = blog.changeset(cast(blog.EventAttrs, attrs))
    assert not cs.valid and cs.errors
    with pytest.raises(blog.InvalidEvent) as raised:
        cs.apply()
    assert raised.value.errors == cs.errors
    closed = psycopg.connect(database)
    closed.close()  # any database work would raise OperationalError
    with pytest.raises(blog.InvalidEvent):
        blog.insert(closed, cs)
    with pytest.raises(blog.InvalidEvent):
        blog.insert_many(conn, [_new_post({"ok": 1}), cs])
    assert dbkit.count(database, "blog_events") == 0
    assert dbkit.sequence_state(database, "blog_events") == before
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_insert_on_an_idle_connection_commits(database: str, conn: Conn) -> None:
    blog.migrate(conn)
    assert not conn.autocommit
    event = blog.insert(conn, _new_post({"idle": True}))
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not conn.autocommit
    assert dbkit.count(database, "blog_events") == 1
    many = blog.insert_many(conn, [_new_post({"n": n}) for n in range(3)])
    assert [e.seq for e in many] == [2, 3, 4]
    assert dbkit.count(database, "blog_events") == 4
    with dbkit.connect(database) as other:
        assert blog.events_for(other, event.parent_id) == [event]


def _holds_exclusive_lock(conn: Conn, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()"
        " AND relation = to_regclass(%s) AND mode = 'ExclusiveLock' AND granted",
        (table,),
    ).fetchone()
    return row is not None and row[0] == 1


def test_insert_inside_the_callers_transaction(database: str, conn: Conn) -> None:
    blog.migrate(conn)
    kept = blog.insert(conn, _new_post({"kept": True}))
    with conn.transaction():
        inside = blog.insert(conn, _new_post({"inside": True}))
        assert _holds_exclusive_lock(conn, "blog_events")
        assert dbkit.count(database, "blog_events") == 1  # readers are not blocked
    assert dbkit.count(database, "blog_events") == 2
    with conn.transaction():
        blog.insert(conn, _new_post({"rolled": "back"}))
        blog.insert_many(conn, [_new_post({"n": n}) for n in range(3)])
        assert dbkit.count(database, "blog_events") == 2
        raise psycopg.Rollback()
    conn.execute("SELECT 1")  # an implicit transaction is the caller's too
    blog.insert(conn, _new_post({"implicit": True}))
    assert dbkit.count(database, "blog_events") == 2
    conn.rollback()
    assert dbkit.count(database, "blog_events") == 2
    after = blog.insert(conn, _new_post({"after": "rollback"}))
    assert after.seq > inside.seq + 4  # the rolled back events left a gap
    report = blog.verify_chain(conn)
    assert report.ok and report.count == 3
    assert [e.id for e in blog.events_for(conn, kept.id)] == [kept.id]
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))


def test_plain_log_inserts_without_the_chain_lock(database: str, conn: Conn) -> None:
    plain_events.migrate(conn)
    start: plain_events.EventAttrs = {"schema": "User", "action": "insert"}
    with dbkit.connect(database, autocommit=False) as other:
        pending = plain_events.insert(
            other, plain_events.changeset({"schema": "Post", "action": "insert"})
        )
        assert other.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with other.transaction():
            plain_events.insert(
                other, plain_events.changeset(pending, {"action": "update"})
            )
            assert not _holds_exclusive_lock(other, "plain_events")
            conn.execute("SET lock_timeout = '200ms'")
            conn.commit()
            event = plain_events.insert(conn, plain_events.changeset(start))
    assert event.hash is None and event.table == "plain_events"
    assert plain_events.events_for(conn, event.id) == [event]
    assert dbkit.count(database, "plain_events") == 3


@pytest.mark.parametrize(
    "statement", ["UPDATE {} SET {} = {}", "DELETE FROM {}", "TRUNCATE {} CASCADE"]
)
@pytest.mark.parametrize(
    "table",
    ["blog_events", "chat_events_2", "chat_events_2_ancestors", "region_events_us"],
)
def test_append_only_trigger_rejects_changes(
    database: str, conn: Conn, statement: str, table: str
) -> None:
    for module in (blog, chat_events, region_events):
        module.migrate(conn)
    root = chat_events.insert(
        conn,
        chat_events.changeset(
            {"id": dbkit.shard_uuid(2), "schema": "Chat", "action": "insert"}
        ),
    )
    chat_events.insert(
        conn,
        chat_events.changeset(root, {"action": "update"}),
        links={"ancestors": [root]},
    )
    blog.insert(conn, _new_post())
    region_events.insert(
        conn,
        region_events.changeset(
            {"id": dbkit.shard_uuid(1, 2), "schema": "Account", "action": "insert"}
        ),
    )
    before = dbkit.count(database, table)
    assert before > 0
    column = sql.Identifier("event_id" if "ancestors" in table else "action")
    query = sql.SQL(statement).format(sql.Identifier(table), column, column)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute(query)
    conn.rollback()
    assert dbkit.count(database, table) == before


@pytest.mark.parametrize("missing", ["id", "parent_id", "schema", "action", "table"])
def test_a_hand_built_changeset_missing_a_field_is_refused_before_database_work(
    database: str, conn: Conn, missing: str
) -> None:
    blog.migrate(conn)
    full = blog.changeset({"schema": "Post", "action": "insert", "payload": {"n": 1}})
    assert full.valid
    fields: dict[str, object] = {missing: None}
    hand = dataclasses.replace(full, **fields)  # type: ignore[arg-type]
    assert hand.valid  # no recorded errors: only apply() can tell
    with pytest.raises(blog.InvalidEvent) as raised:
        hand.apply()
    assert raised.value.errors == ((missing, "is required"),)
    with pytest.raises(blog.InvalidEvent):
        blog.insert(conn, hand)
    with pytest.raises(blog.InvalidEvent):
        blog.insert_many(conn, [_new_post({"ok": 1}), hand])
    assert dbkit.count(database, "blog_events") == 0


@dataclasses.dataclass(frozen=True, slots=True)
class _Stamped(blog.EventChangeset):
    """A changeset whose own apply() adds to the payload."""

    def apply(self) -> blog.PendingEvent:
        pending = blog.EventChangeset.apply(self)
        payload = pending.payload if isinstance(pending.payload, dict) else {}
        return dataclasses.replace(pending, payload={**payload, "stamped": True})


def _stamped(cs: blog.EventChangeset, **changes: object) -> _Stamped:
    fields = {f.name: getattr(cs, f.name) for f in dataclasses.fields(cs) if f.init}
    return _Stamped(**{**fields, **changes})


def test_a_changeset_subclass_is_stored_through_its_own_apply(conn: Conn) -> None:
    """Only an exact EventChangeset is read in place; a subclass goes through its
    apply(), in insert and insert_many alike."""
    blog.migrate(conn)
    first = _new_post({"n": 1})
    one = blog.insert(conn, _stamped(first))
    many = blog.insert_many(
        conn, [_new_post({"n": 2}), _stamped(first, id=blog.uuid7())]
    )
    assert one.payload == {"n": 1, "stamped": True}
    assert [e.payload for e in many] == [{"n": 2}, {"n": 1, "stamped": True}]
    assert first.parent_id is not None
    stored = blog.events_for(conn, first.parent_id)
    assert [e.payload for e in stored] == [{"n": 1, "stamped": True}] * 2
    assert blog.verify_chain(conn).ok


def _copies(good: blog.EventChangeset) -> dict[str, blog.EventChangeset]:
    """Copies of a valid changeset, each with one field changed past its checks:
    dataclasses.replace keeps `errors` empty."""
    replace = dataclasses.replace
    return {
        "payload": replace(good, payload={"x": math.nan}),
        "action": replace(good, schema=blog.Schema.User, action=blog.Action.publish),
        "schema": replace(good, schema=cast(blog.Schema, 99)),
        "id": replace(good, id=cast(uuid.UUID, str(good.id))),
        "table": replace(good, table="blog_events_elsewhere"),
    }


@pytest.mark.parametrize("field", list(_copies(_new_post())))
def test_changesets_copied_past_their_checks_are_checked_again(
    database: str, conn: Conn, field: str
) -> None:
    """Only what changeset() or shard() found valid is read in place; a copy made
    with dataclasses.replace, or the PendingEvent it applies to, is checked field
    by field before any database work."""
    blog.migrate(conn)
    good = _new_post({"n": 1})
    copy = _copies(good)[field]
    assert copy.valid
    for item in (copy, copy.apply()):
        with pytest.raises(blog.InvalidEvent) as raised:
            blog.insert(conn, item)
        assert field in [name.split(".")[0] for name, _ in raised.value.errors]
        with pytest.raises(blog.InvalidEvent):
            blog.insert_many(conn, [good, item])
    assert dbkit.count(database, "blog_events") == 0
    fine = dataclasses.replace(good, payload={"n": 2})
    assert blog.insert(conn, fine).payload == {"n": 2}
    assert blog.verify_chain(conn).ok


def test_an_event_aimed_at_another_shard_is_refused(database: str, conn: Conn) -> None:
    chat_events.migrate(conn)
    cs = chat_events.changeset({"schema": "Chat", "action": "insert"})
    other = next(t for t in chat_events.SHARD_TABLES if t != cs.table)
    for item in (
        dataclasses.replace(cs, table=other),
        dataclasses.replace(cs.apply(), table=other),
    ):
        with pytest.raises(chat_events.InvalidEvent, match="its record's table"):
            chat_events.insert(conn, item)
        with pytest.raises(chat_events.InvalidEvent, match="its record's table"):
            chat_events.insert_many(conn, [item])
    assert all(dbkit.count(database, t) == 0 for t in chat_events.SHARD_TABLES)
    aimed = chat_events.shard(cs, cs.parent_id or cs.id or chat_events.uuid7())
    assert chat_events.insert(conn, aimed).table == cs.table


@pytest.mark.parametrize(
    ("schema", "action", "unknown"), [(7, 1, "schema code 7"), (1, 9, "action code 9")]
)
def test_a_stored_code_the_module_does_not_know_is_a_clear_error(
    database: str, conn: Conn, schema: int, action: int, unknown: str
) -> None:
    """A schema removed from the spec, an action renamed without an alias, or an
    event a newer module wrote: the read names the table, seq and code."""
    plain_events.migrate(conn)
    first = plain_events.insert(
        conn, plain_events.changeset({"schema": "User", "action": "insert"})
    )
    conn.execute(
        "INSERT INTO plain_events (id, parent_id, schema, action)"
        " VALUES (%s, %s, %s, %s)",
        (uuid.uuid4(), first.id, schema, action),
    )
    conn.commit()
    with pytest.raises(plain_events.UnknownCode, match=unknown) as raised:
        plain_events.events_for(conn, first.id)
    assert "plain_events seq 2 (event " in str(raised.value)
    assert isinstance(raised.value, plain_events.SpectorError | ValueError)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_inserted_at_is_in_the_sessions_time_zone_as_reads_give_it(
    database: str, conn: Conn, zone: str
) -> None:
    blog.migrate(conn)
    conn.execute(sql.SQL("SET TIME ZONE {}").format(zone))
    conn.commit()
    first = blog.insert(conn, _new_post({"n": 1}))
    (more,) = blog.insert_many(conn, [blog.changeset(first, {"action": "update"})])
    read = blog.events_for(conn, first.id)
    assert read == [first, more]
    for event, stored in zip([first, more], read, strict=True):
        assert event.inserted_at.tzinfo == stored.inserted_at.tzinfo
        assert event.inserted_at.isoformat() == stored.inserted_at.isoformat()
