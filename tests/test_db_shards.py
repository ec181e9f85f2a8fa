"""Sharded logs and links: routing, one chain per shard, link tables, `linked`."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import psycopg
import pytest

from generated_example import chat_events as chat
from generated_example import region_events as region
from generated_example.sharding import region_table
from generator.loader import parse
from generator.plan import plan
from generator.render import render
from generator.validate import validate
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db


def _record(conn: Conn, record_id: uuid.UUID) -> chat.Event:
    attrs: chat.EventAttrs = {"id": record_id, "schema": "Chat", "action": "insert"}
    return chat.insert(conn, chat.changeset(attrs))


def _message(
    conn: Conn, parent: chat.Event, links: chat.EventLinks | None = None
) -> chat.Event:
    attrs: chat.EventAttrs = {"schema": "Message", "action": "insert"}
    return chat.insert(conn, chat.changeset(parent, attrs), links=links)


def test_events_go_to_table_for_parent_and_chain_per_shard(
    database: str, conn: Conn
) -> None:
    chat.migrate(conn)
    expected = dict.fromkeys(chat.SHARD_TABLES, 0)
    firsts: dict[str, chat.Event] = {}
    for n in (3, 1, 0, 2, 1, 3, 3):
        root = _record(conn, dbkit.shard_uuid(n))
        child = _message(conn, root)
        for event in (root, child):
            assert event.table == chat.table_for(root.id) == f"chat_events_{n}"
            firsts.setdefault(event.table, event)
        expected[root.table] += 2
    for table, n in expected.items():
        assert dbkit.count(database, table) == n
        assert firsts[table].seq == 1
        assert firsts[table].hash == chat.event_hash(
            chat.GENESIS,
            seq=1,
            id=firsts[table].id,
            parent_id=firsts[table].parent_id,
            schema=firsts[table].schema,
            action=firsts[table].action,
            inserted_at=firsts[table].inserted_at,
            payload_text=None,
        )
        report = chat.verify_chain(conn, table)
        assert report.ok and report.count == n
        assert [t.table for t in report.tables] == [table]
        assert report.tables[0].head == chat.chain_head(conn, table)
        assert report.tables[0].head.seq == n
    report = chat.verify_chain(conn)
    assert report.ok and report.count == sum(expected.values())
    dbkit.assert_same_reports(report, chat.verify_chain_locally(conn))


def test_links_land_in_the_shards_link_tables(database: str, conn: Conn) -> None:
    chat.migrate(conn)
    assert len(chat.LINK_TABLES) == 8
    root = _record(conn, dbkit.shard_uuid(2))
    other = _record(conn, dbkit.shard_uuid(2))
    reply = _message(
        conn, root, {"ancestors": [root], "mentions": [(other.id, 7), (root, 1)]}
    )
    assert (
        chat.link_table_for(root.id, chat.Link.ancestors) == "chat_events_2_ancestors"
    )
    assert chat.link_table_for(root.id, chat.Link.mentions) == "chat_events_2_mentions"
    for table in chat.LINK_TABLES:
        expected = {"chat_events_2_ancestors": 1, "chat_events_2_mentions": 2}
        assert dbkit.count(database, table) == expected.get(table, 0)
    assert dbkit.rows(
        database,
        "SELECT event_id, mentioned_id, type FROM chat_events_2_mentions ORDER BY type",
    ) == [(reply.id, root.id, 1), (reply.id, other.id, 7)]
    assert chat.linked(conn, reply, chat.Link.ancestors) == [root]
    assert chat.linked(conn, reply, chat.Link.mentions) == [root, other]
    assert chat.linked(conn, reply, chat.Link.mentions, link_type=7) == [other]
    assert chat.linked(conn, reply, chat.Link.mentions, link_type=8) == []
    assert chat.linked(conn, root, chat.Link.ancestors) == []


def test_constrained_link_across_parents_is_rejected(database: str, conn: Conn) -> None:
    chat.migrate(conn)
    mine = _record(conn, dbkit.shard_uuid(1))
    same_shard = _record(conn, dbkit.shard_uuid(1))
    elsewhere = _record(conn, dbkit.shard_uuid(3))
    before = {
        t: dbkit.count(database, t) for t in (*chat.SHARD_TABLES, *chat.LINK_TABLES)
    }
    with pytest.raises(psycopg.errors.IntegrityError, match="different parents"):
        _message(conn, mine, {"ancestors": [same_shard]})
    with pytest.raises(psycopg.errors.IntegrityError, match="different parents"):
        chat.insert_many(
            conn,
            [
                chat.changeset(mine, {"action": "update"}),
                (
                    chat.changeset(mine, {"schema": "Message", "action": "edit"}),
                    {"ancestors": [mine]},
                ),
                (
                    chat.changeset(mine, {"schema": "Message", "action": "react"}),
                    {"ancestors": [same_shard]},
                ),
            ],
        )
    # Another shard's event: refused before any database work when it is an
    # Event (its table is known), by the link table's foreign key when an id.
    one_table = "a link joins events of one table"
    with pytest.raises(chat.InvalidEvent, match=one_table):
        _message(conn, mine, {"ancestors": [elsewhere]})
    with pytest.raises(chat.InvalidEvent, match=one_table):
        _message(conn, mine, {"mentions": [(elsewhere, 1)]})  # unconstrained too
    with pytest.raises(chat.InvalidEvent, match=one_table):
        chat.insert_many(
            conn,
            [(chat.changeset(mine, {"action": "update"}), {"ancestors": [elsewhere]})],
        )
    with pytest.raises(psycopg.errors.IntegrityError):
        _message(conn, mine, {"ancestors": [elsewhere.id]})
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    after = {
        t: dbkit.count(database, t) for t in (*chat.SHARD_TABLES, *chat.LINK_TABLES)
    }
    assert after == before
    report = chat.verify_chain(conn)
    assert report.ok and report.count == 3
    assert _message(conn, mine, {"ancestors": [mine]}).seq > 2


def test_unconstrained_typed_link_across_parents_is_accepted(conn: Conn) -> None:
    chat.migrate(conn)
    mine = _record(conn, dbkit.shard_uuid(0))
    theirs = _record(conn, dbkit.shard_uuid(0))
    assert mine.parent_id != theirs.parent_id
    mention = _message(conn, mine, {"mentions": [(theirs, 42)]})
    assert chat.linked(conn, mention, chat.Link.mentions) == [theirs]
    assert chat.linked(conn, mention, chat.Link.mentions, link_type=42) == [theirs]
    assert chat.verify_chain(conn).ok


def test_a_tree_reads_back_its_ancestors(conn: Conn) -> None:
    chat.migrate(conn)
    root = _record(conn, dbkit.shard_uuid(3))
    paths: list[list[chat.Event]] = [[root]]
    frontier = [[root]]
    for _ in range(3):  # three levels of two children each: 15 events
        grown = []
        for path in frontier:
            for _ in range(2):
                node = _message(conn, root, {"ancestors": path})
                grown.append([*path, node])
        paths += grown
        frontier = grown
    assert len(paths) == 15
    for *ancestors, node in paths:
        assert chat.linked(conn, node, chat.Link.ancestors) == ancestors
    everything = [path[-1] for path in paths]
    assert chat.events_for(conn, root.id) == sorted(everything, key=lambda e: e.seq)
    last = max(everything, key=lambda e: e.seq)
    assert chat.previous_events(conn, last) == chat.events_for(conn, root.id)
    assert chat.verify_chain(conn, "chat_events_3").count == 15


def test_region_log_routes_by_its_function(database: str, conn: Conn) -> None:
    region.migrate(conn)
    counts = dict.fromkeys(region.SHARD_TABLES, 0)
    for first in (0, 1, 2, 3, 4, 254, 255):
        record_id = uuid.UUID(bytes=bytes([first]) + uuid.uuid4().bytes[1:])
        attrs: region.EventAttrs = {
            "id": record_id,
            "schema": "Invoice",
            "action": "insert",
        }
        account = region.insert(conn, region.changeset(attrs))
        paid = region.insert(
            conn, region.changeset(account, {"action": "pay", "payload": {"eur": 5}})
        )
        table = region_table(record_id)
        assert account.table == paid.table == region.table_for(record_id) == table
        assert table == ("region_events_us" if first % 2 else "region_events_eu")
        counts[table] += 2
    for table, n in counts.items():
        assert dbkit.count(database, table) == n
        assert region.verify_chain(conn, table).count == n
    report = region.verify_chain(conn)
    assert report.ok
    dbkit.assert_same_reports(report, region.verify_chain_locally(conn))


def test_insert_many_takes_items_with_and_without_links(conn: Conn) -> None:
    """`(changeset, None)` is an item without links, as `insert(links=None)` is."""
    chat.migrate(conn)
    root = _record(conn, dbkit.shard_uuid(1))
    items: list[
        chat.EventChangeset | tuple[chat.EventChangeset, chat.EventLinks | None]
    ]
    items = [
        (chat.changeset(root, {"action": "update"}), None),
        (chat.changeset(root, {"action": "update"}), {"ancestors": [root]}),
        chat.changeset(root, {"action": "update"}),
    ]
    stored = chat.insert_many(conn, items)
    assert [chat.linked(conn, e, chat.Link.ancestors) for e in stored] == [
        [],
        [root],
        [],
    ]


def _migrate_as_constrained(conn: Conn) -> None:
    """Migrate the log as an earlier spec made it: `mentions` constrained."""
    spec = Path(__file__).parent.parent / "generated_example/specs/chat_events.yaml"
    earlier = spec.read_bytes().replace(
        b"typed: true, constrained: false", b"typed: true"
    )
    loaded = parse(earlier, "chat_events.yaml")
    planned = plan(validate(loaded), loaded, spec_path="x", generator_version="0")
    conn.execute(render(planned).files["chat_events.sql"].encode())
    conn.commit()


def test_a_link_made_unconstrained_loses_its_same_parent_check(conn: Conn) -> None:
    """The log as an earlier spec made it, then migrated by the current module
    (`constrained: false`): the old trigger checks nothing any more, so a link
    between records of one shard is accepted."""
    _migrate_as_constrained(conn)
    one = chat.changeset(
        {"id": dbkit.shard_uuid(2), "schema": "Chat", "action": "insert"}
    )
    two = chat.changeset(
        {"id": dbkit.shard_uuid(2), "schema": "Chat", "action": "insert"}
    )
    first, second = chat.insert_many(conn, [one, two])
    linking = chat.changeset(first, {"schema": "Message", "action": "insert"})
    with pytest.raises(psycopg.errors.CheckViolation, match="different parents"):
        chat.insert(conn, linking, links={"mentions": [(second, 1)]})
    conn.rollback()
    chat.migrate(conn)
    reply = chat.insert(conn, linking, links={"mentions": [(second, 1)]})
    assert chat.linked(conn, reply, chat.Link.mentions) == [second]


def test_migrating_a_link_made_unconstrained_beside_a_reader_that_appends(
    database: str, conn: Conn
) -> None:
    """The earlier spec's trigger stays (its function now checks nothing):
    dropping it took an ACCESS EXCLUSIVE lock that deadlocked with a
    transaction that had read the join table and then appended."""
    _migrate_as_constrained(conn)
    start = {"id": dbkit.shard_uuid(0), "schema": "Chat", "action": "insert"}
    root = chat.insert(conn, chat.changeset(cast(chat.EventAttrs, start)))
    conn.commit()
    with (
        dbkit.connect(database, autocommit=False) as reader,
        ThreadPoolExecutor(1) as pool,
    ):
        reader.execute("SELECT count(*) FROM chat_events_0_mentions").fetchone()

        def migrate() -> None:
            with dbkit.connect(database, autocommit=False) as migrator:
                chat.migrate(migrator)

        migrating = pool.submit(migrate)
        time.sleep(0.3)  # migrate has started (and, before, waited on the reader)
        reply = chat.changeset(root, {"schema": "Message", "action": "insert"})
        chat.insert(reader, reply, links={"mentions": [(root, 1)]})
        reader.commit()
        migrating.result(timeout=30)
    assert chat.verify_chain(conn).ok


def test_link_rows_copied_under_an_empty_search_path_are_checked_not_lost(
    conn: Conn,
) -> None:
    """A data-only restore (pg_dump's script, or pg_restore --data-only) COPYs
    the join tables with search_path set empty: the same-parent trigger could
    not find its events table, and every constrained link row failed to load
    while the chain still verified."""
    chat.migrate(conn)
    start: chat.EventAttrs = {"id": dbkit.shard_uuid(2), "schema": "Chat"}
    root = chat.insert(conn, chat.changeset({**start, "action": "insert"}))
    other = chat.insert(
        conn,
        chat.changeset(
            {"id": dbkit.shard_uuid(2), "schema": "Chat", "action": "insert"}
        ),
    )
    reply = chat.insert(
        conn, chat.changeset(root, {"schema": "Message", "action": "insert"})
    )
    table = chat.link_table_for(root.parent_id, chat.Link.ancestors)
    row = conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    target = f'"{row[0]}"."{table}"'
    conn.execute("SELECT pg_catalog.set_config('search_path', '', false)")
    copy = f"COPY {target} (event_id, ancestor_id) FROM STDIN"
    with conn.cursor().copy(copy.encode()) as loading:
        loading.write_row((reply.id, root.id))
    conn.commit()
    conn.execute("RESET search_path")
    assert chat.linked(conn, reply, chat.Link.ancestors) == [root]
    conn.execute("SELECT pg_catalog.set_config('search_path', '', false)")
    with (
        pytest.raises(psycopg.errors.CheckViolation, match="different parents"),
        conn.cursor().copy(copy.encode()) as loading,
    ):
        loading.write_row((reply.id, other.id))
    conn.rollback()


def test_the_same_parent_check_reads_its_own_schema_not_the_session_s(
    conn: Conn,
) -> None:
    """Kept to migrate's path, the check failed after the tables moved to
    another schema, and read a temporary table of the events table's name
    (accepting a link between records)."""
    chat.migrate(conn)
    records = [
        chat.insert(
            conn,
            chat.changeset(
                {"id": dbkit.shard_uuid(2), "schema": "Chat", "action": "insert"}
            ),
        )
        for _ in range(2)
    ]
    root, other = records
    reply = chat.insert(
        conn, chat.changeset(root, {"schema": "Message", "action": "insert"})
    )
    events = chat.table_for(root.parent_id)
    links = chat.link_table_for(root.parent_id, chat.Link.ancestors)
    conn.execute(f'CREATE TEMP TABLE "{events}" (id uuid, parent_id uuid)'.encode())
    conn.execute(
        f'INSERT INTO pg_temp."{events}" VALUES (%s, %s), (%s, %s)'.encode(),
        (reply.id, reply.parent_id, other.id, reply.parent_id),
    )
    insert = f'INSERT INTO "{links}" (event_id, ancestor_id) VALUES (%s, %s)'
    with pytest.raises(psycopg.errors.CheckViolation, match="different parents"):
        conn.execute(insert.encode(), (reply.id, other.id))
    conn.rollback()
    conn.execute("CREATE SCHEMA moved")
    for table in (events, links):
        conn.execute(f'ALTER TABLE "{table}" SET SCHEMA moved'.encode())
    conn.execute("SET search_path = moved")
    conn.execute(insert.encode(), (reply.id, root.id))
    with pytest.raises(psycopg.errors.CheckViolation, match="different parents"):
        conn.execute(insert.encode(), (reply.id, other.id))
    conn.rollback()
