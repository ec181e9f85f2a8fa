"""Two versions of one spec share a database during a rolling deploy (or after a
rollback's migrate): links under a name the installed append functions do not
know are refused, and nothing of the event is stored, never silently dropped;
and two releases migrate one log in turn."""

from __future__ import annotations

import threading
import types
from pathlib import Path

import psycopg
import pytest

from generated_example import blog_events as blog
from generated_example import plain_events as plain
from tests.dbkit import Conn, as_role
from tests.embedded_pg import fresh_database
from tests.specmods import generate_module

pytestmark = pytest.mark.db

SPEC = """\
version: 1
module: versioned_events
table: versioned_events
hashed: {hashed}
schemas: [Post]
{links}"""
ANCESTORS = "links:\n  ancestors: {table: anc, column: ancestor_id}\n"
PARENTS = "links:\n  parents: {table: anc, column: ancestor_id}\n"
BOTH = ANCESTORS + "  refs: {table: refs, column: ref_id, typed: true}\n"


def _version(
    tmp_path: Path, loaded: list[str], name: str, links: str, hashed: bool
) -> types.ModuleType:
    spec = SPEC.format(hashed=str(hashed).lower(), links=links)
    return generate_module(tmp_path / name, spec, loaded, "versioned_events")


def _refused(conn: Conn, log: types.ModuleType, links: dict[str, object]) -> None:
    """Both insert paths refuse `links` and store nothing."""
    before = conn.execute("SELECT count(*) FROM versioned_events").fetchone()
    root_cs = log.changeset({"schema": "Post", "action": "insert"})
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="links"):
        log.insert(conn, root_cs, links=links)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="links"):
        log.insert_many(
            conn, [(log.changeset({"schema": "Post", "action": "insert"}), links)]
        )
    after = conn.execute("SELECT count(*) FROM versioned_events").fetchone()
    assert before == after
    if log.HASHED:
        assert log.verify_chain(conn).ok


@pytest.mark.parametrize("hashed", [True, False])
def test_a_renamed_links_old_name_is_refused_after_the_new_migrate(
    tmp_path: Path, conn: Conn, loaded: list[str], hashed: bool
) -> None:
    v1 = _version(tmp_path, loaded, "v1", ANCESTORS, hashed)
    v2 = _version(tmp_path, loaded, "v2", PARENTS, hashed)
    conn.autocommit = True
    v1.migrate(conn)
    root = v1.insert(conn, v1.changeset({"schema": "Post", "action": "insert"}))
    v2.migrate(conn)
    _refused(conn, v1, {"ancestors": [root]})
    # The version that migrated links as before, its stored links included.
    reply = v2.insert(
        conn,
        v2.changeset(v2.events_for(conn, root.id)[0], {"action": "update"}),
        links={"parents": [root.id]},
    )
    assert [e.id for e in v2.linked(conn, reply, v2.Link.parents)] == [root.id]


@pytest.mark.parametrize("hashed", [True, False])
def test_a_link_added_then_rolled_back_is_refused_not_dropped(
    tmp_path: Path, conn: Conn, loaded: list[str], hashed: bool
) -> None:
    v1 = _version(tmp_path, loaded, "v1", ANCESTORS, hashed)
    v2 = _version(tmp_path, loaded, "v2", BOTH, hashed)
    conn.autocommit = True
    v2.migrate(conn)
    v1.migrate(conn)  # a rollback's migrate, while v2 still writes
    root = v2.insert(conn, v2.changeset({"schema": "Post", "action": "insert"}))
    _refused(conn, v2, {"ancestors": [root], "refs": [(root, 7)]})


def test_links_given_to_a_log_whose_functions_take_none_are_refused(
    tmp_path: Path, conn: Conn, loaded: list[str]
) -> None:
    v1 = _version(tmp_path, loaded, "v1", "", True)
    v2 = _version(tmp_path, loaded, "v2", ANCESTORS, True)
    conn.autocommit = True
    v2.migrate(conn)
    v1.migrate(conn)
    root = v2.insert(conn, v2.changeset({"schema": "Post", "action": "insert"}))
    before = conn.execute("SELECT count(*) FROM versioned_events").fetchone()
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="take no links"):
        v2.insert(
            conn,
            v2.changeset({"schema": "Post", "action": "insert"}),
            links={"ancestors": [root]},
        )
    assert conn.execute("SELECT count(*) FROM versioned_events").fetchone() == before
    assert v2.verify_chain(conn).ok


@pytest.mark.parametrize("hashed", [True, False])
def test_writers_of_the_version_before_the_first_link_keep_writing(
    tmp_path: Path,
    database: str,
    conn: Conn,
    loaded: list[str],
    role: str,
    hashed: bool,
) -> None:
    """Adding a link is a safe change, yet the batch append of a log without
    links had no `links` parameter: the new migrate dropped that signature and
    the previous version's insert_many failed (UndefinedFunction). And the
    appends inserted into every link table, so a writer not yet granted a new
    link's table could store nothing at all."""
    v1 = _version(tmp_path, loaded, "v1", "", hashed)
    v2 = _version(tmp_path, loaded, "v2", BOTH, hashed)
    conn.autocommit = True
    v1.migrate(conn)
    tables = ", ".join(f'"{name}"' for name in v1.SHARD_TABLES)
    conn.execute(f'GRANT SELECT, INSERT, UPDATE ON {tables} TO "{role}"')
    conn.execute(f'GRANT UPDATE ON SEQUENCE versioned_events_seq TO "{role}"')
    v2.migrate(conn)  # the app role has no grant on anc or refs yet
    with psycopg.connect(as_role(database, role), autocommit=True) as app:
        old = v1.insert_many(
            app,
            [v1.changeset({"schema": "Post", "action": "insert"}) for _ in range(3)],
        )
        root = v1.insert(app, v1.changeset({"schema": "Post", "action": "insert"}))
        new = v2.insert_many(
            app,
            [v2.changeset({"schema": "Post", "action": "insert"}) for _ in range(2)],
        )
        v2.insert(app, v2.changeset({"schema": "Post", "action": "insert"}))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="anc"):
            v2.insert(
                app,
                v2.changeset(new[0], {"action": "update"}),
                links={"ancestors": [root.id]},
            )
    conn.execute(f'GRANT SELECT, INSERT ON anc, refs TO "{role}"')
    with psycopg.connect(as_role(database, role), autocommit=True) as app:
        linked = v2.insert_many(
            app,
            [
                (
                    v2.changeset(
                        v2.events_for(app, old[0].id)[0], {"action": "update"}
                    ),
                    {"refs": [(old[0].id, 7)]},
                )
            ],
        )
    assert [e.id for e in v2.linked(conn, linked[0], v2.Link.refs)] == [old[0].id]
    count = conn.execute("SELECT count(*) FROM versioned_events").fetchone()
    assert count == (8,)
    if hashed:
        assert v2.verify_chain(conn).ok


@pytest.mark.parametrize("other", ["renamed module", "more tables", "sql file"])
def test_two_migrations_of_one_fresh_log_wait_for_each_other(
    tmp_path: Path, pg_server: str, loaded: list[str], other: str
) -> None:
    """The DDL takes one advisory lock for every log and every version of its
    spec: the release before a rename and the one after it, two releases of
    different shard tables (the key once came from the log's tables), and the
    SQL file applied in one transaction (as `psql -1` does; the key was taken
    by migrate() alone) wait for each other. Otherwise both create the same
    functions at once: a unique violation in pg_proc."""
    old = _version(tmp_path, loaded, "old", ANCESTORS, True)
    if other == "more tables":
        region = (
            "version: 1\nmodule: versioned_events\ntable: region_events\n"
            "hashed: true\nschemas: [Post]\nshard:\n"
            "  function: generated_example.sharding:region_table\n"
            "  tables: [region_events_eu, region_events_us{}]\n"
        )
        old = generate_module(
            tmp_path / "old_region", region.format(""), loaded, "versioned_events"
        )
        new = generate_module(
            tmp_path / "new_region",
            region.format(", region_events_ap"),
            loaded,
            "versioned_events",
        )
    elif other == "renamed module":
        spec = SPEC.format(hashed="true", links=ANCESTORS).replace(
            "module: versioned_events", "module: renamed_events"
        )
        new = generate_module(tmp_path / "new", spec, loaded, "renamed_events")
    else:
        new = _version(tmp_path, loaded, "new", BOTH, True)
    failures: list[BaseException] = []
    for _ in range(3):
        with fresh_database(pg_server) as database:
            start = threading.Barrier(2)

            def run(
                log: types.ModuleType,
                database: str,
                start: threading.Barrier,
                file: bool,
            ) -> None:
                with psycopg.connect(database) as conn:
                    start.wait()
                    try:
                        if file:  # as `psql -1 -f` runs it
                            conn.execute(log.DDL.encode(), prepare=False)
                            conn.commit()
                        else:
                            log.migrate(conn)
                    except psycopg.Error as exc:
                        failures.append(exc)

            threads = [
                threading.Thread(
                    target=run,
                    args=(m, database, start, other == "sql file" and m is new),
                )
                for m in (old, new)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
    assert failures == []


def test_a_migration_waiting_for_a_writer_does_not_hold_up_other_logs(
    database: str,
) -> None:
    """One advisory key for every log made a deadlock: a session inserting
    into one log, then migrating another in the same transaction, waited for
    the key that a migration of the first log held while it waited for that
    session's insert."""
    with psycopg.connect(database) as writer, psycopg.connect(database) as other:
        plain.migrate(writer)
        writer.commit()
        writer.execute("SELECT 1")  # the writer's own transaction, left open
        plain.insert(writer, plain.changeset({"schema": "User", "action": "insert"}))
        failures: list[BaseException] = []

        def migrate_plain() -> None:
            try:
                plain.migrate(other)
                other.commit()
            except psycopg.Error as exc:
                failures.append(exc)

        waiting = threading.Thread(target=migrate_plain)
        waiting.start()
        for _ in range(200):  # until it waits for the writer's table lock
            row = writer.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = %s",
                (other.info.backend_pid,),
            ).fetchone()
            if row and row[0]:
                break
            threading.Event().wait(0.05)
        else:
            pytest.fail("the second migrate never waited for the writer")
        writer.execute("SET LOCAL lock_timeout = '20s'")
        blog.migrate(writer)  # another log: no wait for the first one's keys
        writer.commit()
        waiting.join(60)
    assert failures == []


def test_a_link_given_no_targets_is_not_sent(
    tmp_path: Path, conn: Conn, loaded: list[str]
) -> None:
    """An empty list stores nothing, so functions that do not know its name
    (another version's) have nothing to refuse."""
    v1 = _version(tmp_path, loaded, "v1", ANCESTORS, True)
    v2 = _version(tmp_path, loaded, "v2", BOTH, True)
    conn.autocommit = True
    v2.migrate(conn)
    v1.migrate(conn)
    root = v2.insert(conn, v2.changeset({"schema": "Post", "action": "insert"}))
    reply = v2.insert(
        conn,
        v2.changeset(root, {"action": "update"}),
        links={"ancestors": [root], "refs": []},
    )
    [batched] = v2.insert_many(
        conn, [(v2.changeset(root, {"action": "update"}), {"refs": []})]
    )
    assert [e.id for e in v2.linked(conn, reply, v2.Link.ancestors)] == [root.id]
    assert v2.linked(conn, batched, v2.Link.ancestors) == []


def test_migrate_does_not_wait_for_a_writer_holding_the_sequence(
    database: str, conn: Conn
) -> None:
    """A writer of an earlier version took the sequence (nextval) before its
    table; migrate, which locks the table first, must not then wait for the
    sequence: it sets the sequence's owner only once, not on every run."""
    conn.autocommit = True
    plain.migrate(conn)
    with psycopg.connect(database) as writer:
        writer.execute("SELECT nextval('plain_events_seq')")  # transaction left open
        with psycopg.connect(database) as migrator:
            migrator.execute("SET lock_timeout = '3s'")
            plain.migrate(migrator)
        writer.rollback()


@pytest.mark.parametrize("links", ["", BOTH])
def test_the_previous_release_s_migrate_can_run_again_over_this_one(
    tmp_path: Path, conn: Conn, loaded: list[str], links: str
) -> None:
    """A rollback runs the previous release's migrate. Its batch append took
    `links` only on a log with links, and with no default: had this release
    given the parameter a default, CREATE OR REPLACE of the previous one
    would fail ("cannot remove parameter defaults from existing function").
    Simulated by hand: the previous release's functions of both kinds."""
    log = _version(tmp_path, loaded, "v", links, True)
    conn.autocommit = True
    log.migrate(conn)
    table = "versioned_events"
    arrays = "ids uuid[], parents uuid[], schemas integer[], actions integer[]"
    returns = (
        "RETURNS TABLE (r_seqs bigint[], r_inserted_at timestamptz,"
        " r_hashes bytea[]) LANGUAGE plpgsql AS $$ BEGIN RETURN; END $$"
    )
    extra = ", links jsonb" if links else ""
    conn.execute(
        f"CREATE OR REPLACE FUNCTION {table}_append({arrays}, payloads jsonb"
        f"{extra}) {returns}"
    )  # as the previous release's migrate does: it must not be refused
    log.migrate(conn)  # and this one's again, after it
    defaults = conn.execute(
        "SELECT max(pronargdefaults) FROM pg_proc WHERE proname = %s",
        (f"{table}_append",),
    ).fetchone()
    assert defaults == (0,)
    root = log.insert(conn, log.changeset({"schema": "Post", "action": "insert"}))
    assert len(log.insert_many(conn, [log.changeset(root, {"action": "update"})])) == 1
    assert log.verify_chain(conn).ok


def test_migrate_drops_an_earlier_versions_append_signatures(conn: Conn) -> None:
    """An earlier version's append function of another signature stayed
    installed beside this one's: its writers kept appending through a body
    that may lock or chain another way (two of them once took an advisory lock,
    and forked the chain beside this version's writers). It is dropped, so they
    fail instead; this version's functions stay, and so do other names'."""
    plain.migrate(conn)
    conn.execute(
        "CREATE FUNCTION plain_events_append(jsonb) RETURNS void"
        " LANGUAGE sql AS 'SELECT'"
    )
    conn.execute(
        "CREATE FUNCTION plain_events_append_one(uuid, jsonb) RETURNS void"
        " LANGUAGE sql AS 'SELECT'"
    )
    conn.execute(
        "CREATE FUNCTION plain_events_helper(jsonb) RETURNS void"
        " LANGUAGE sql AS 'SELECT'"
    )
    # A procedure under the name is not a function: DROP FUNCTION refused it.
    conn.execute("CREATE PROCEDURE plain_events_append(text) LANGUAGE sql AS 'SELECT'")
    plain.migrate(conn)
    left = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc AS p"
        " WHERE p.proname LIKE 'plain\\_events\\_%' ORDER BY 1"
    ).fetchall()
    assert [name for (name,) in left] == [
        "plain_events_append(text)",
        "plain_events_append(uuid[],uuid[],integer[],integer[],jsonb)",
        "plain_events_append(uuid[],uuid[],integer[],integer[],jsonb,jsonb)",
        "plain_events_append_one(uuid,uuid,integer,integer,jsonb,jsonb)",
        "plain_events_helper(jsonb)",
    ]
    first = plain.insert(conn, plain.changeset({"schema": "User", "action": "insert"}))
    assert plain.insert_many(conn, [plain.changeset(first, {"action": "update"})])
