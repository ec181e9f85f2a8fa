"""Objects another role makes never act as the log's: those it creates later
on the search_path never run, and those it made first are not adopted.

On PostgreSQL 14 every role may create objects in `public`, and a schema later
on a writer's or a verifier's path than the log's own is often such a place. A
function of an exact argument type matches better than the log's own (psycopg
sends a small int as int2), and so does an operator or function taking the
very types of an expression that needs a cast otherwise: if any of them ran,
its owner would run code as whoever appends or verifies, and could make a
verifier pass an altered table. Each hostile object here raises, so one that
ran fails the test with its name.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from generated_example import plain_events as plain
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db

PATH = "-c search_path=ev,public"

HOSTILE = [
    # Calls from the module, with psycopg's int2 for small ints.
    "public.blog_events_verify(lo smallint, hi smallint, OUT n bigint,"
    " OUT bad bigint, OUT bad_id uuid, OUT last bigint, OUT last_hash bytea)",
    "public.blog_events_append_one(uuid, uuid, smallint, smallint,"
    " jsonb, jsonb) RETURNS bytea",
    "public.chat_events_0_append_one(uuid, uuid, smallint, smallint,"
    " jsonb, jsonb) RETURNS bytea",
    # Built-ins whose own signature needs a cast from the argument given.
    "public.convert_to(text, text) RETURNS bytea",
    "public.unnest(text[]) RETURNS SETOF text",
    "public.encode(bytea, text) RETURNS text",
    "public.hostile_minus(numeric, bigint) RETURNS numeric",
    "public.hostile_append(bytea[], bytea) RETURNS bytea[]",
    "public.hostile_eq(oid, regclass) RETURNS boolean",
    # ... and in the SQL file's own statements, run by the migrating role.
    "public.format(text, text) RETURNS text",
]
OPERATORS = [
    "OPERATOR public.- (LEFTARG = numeric, RIGHTARG = bigint,"
    " FUNCTION = public.hostile_minus)",
    "OPERATOR public.|| (LEFTARG = bytea[], RIGHTARG = bytea,"
    " FUNCTION = public.hostile_append)",
    "OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass,"
    " FUNCTION = public.hostile_eq)",
]


def _may_create_in_public(conn: Conn, role: str) -> None:
    """What PostgreSQL 14 grants every role by default."""
    who = sql.Identifier(role)
    conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(who))
    conn.commit()


def _plant_raising(planter: Conn, signature: str) -> None:
    """A function of `signature` ("public.name(args) RETURNS type") that
    fails the test with its name if it ever runs."""
    name = signature.split("(")[0].removeprefix("public.")
    body = f"BEGIN RAISE EXCEPTION 'hostile {name} ran'; END"
    planter.execute(
        sql.SQL("CREATE FUNCTION " + signature + " LANGUAGE plpgsql AS {}").format(
            sql.Literal(body)
        )
    )


@pytest.fixture
def owner(database: str, conn: Conn, role: str) -> Iterator[Conn]:
    """The log's owner, the log in schema `ev`; `role` has planted HOSTILE in
    `public`, later on the path."""
    conn.execute("CREATE SCHEMA ev")
    conn.execute("SET search_path = ev, public")
    blog.migrate(conn)
    chat.migrate(conn)
    _may_create_in_public(conn, role)
    with psycopg.connect(dbkit.as_role(database, role), autocommit=True) as planter:
        for signature in HOSTILE:
            _plant_raising(planter, signature)
        for operator in OPERATORS:
            planter.execute(sql.SQL("CREATE " + operator))
    with psycopg.connect(database, autocommit=True, options=PATH) as ev:
        yield ev


def test_appends_and_verifiers_run_none_of_them(owner: Conn) -> None:
    first = blog.insert(owner, blog.changeset({"schema": "User", "action": "insert"}))
    blog.insert_many(
        owner, [blog.changeset(first, {"action": "update"}) for _ in range(3)]
    )
    root = chat.insert(
        owner,
        chat.changeset(
            {"id": dbkit.shard_uuid(0), "schema": "Chat", "action": "insert"}
        ),
    )
    chat.insert(
        owner,
        chat.changeset(root, {"schema": "Message", "action": "insert"}),
        links={"ancestors": [root]},
    )
    assert blog.verify_chain(owner).ok and blog.verify_chain_locally(owner).ok
    assert chat.verify_chain(owner).ok and chat.verify_chain_locally(owner).ok
    assert len(blog.events_for(owner, first.id)) == 4


def test_an_altered_table_still_breaks_under_them(owner: Conn) -> None:
    first = blog.insert(owner, blog.changeset({"schema": "User", "action": "insert"}))
    for n in range(3):
        blog.insert(
            owner, blog.changeset(first, {"action": "update", "payload": {"n": n}})
        )
    owner.execute("ALTER TABLE ev.blog_events DISABLE TRIGGER USER")
    owner.execute("UPDATE ev.blog_events SET payload = '{\"n\": 9}' WHERE seq = 2")
    owner.execute("ALTER TABLE ev.blog_events ENABLE TRIGGER USER")
    report = blog.verify_chain(owner)
    assert [b.seq for b in report.breaks] == [2], report
    dbkit.assert_same_reports(report, blog.verify_chain_locally(owner))


def test_migrate_refuses_a_log_another_role_made_first(
    database: str, conn: Conn, role: str
) -> None:
    """CREATE ... IF NOT EXISTS and CREATE OR REPLACE kept, as the log's, a
    table and functions another role made before the first migrate, and that
    role could then alter them at will. A role the migrating one is a member
    of is the log's owner, not another."""
    _may_create_in_public(conn, role)
    with psycopg.connect(dbkit.as_role(database, role), autocommit=True) as first:
        blog.migrate(first)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        blog.migrate(conn)
    conn.rollback()
    message = str(refused.value)
    assert f"relation blog_events is owned by role {role}, not by" in message
    assert refused.value.diag.message_hint is not None
    assert "SET ROLE" in refused.value.diag.message_hint
    conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))
    conn.commit()
    blog.migrate(conn)  # now a role it is a member of
    conn.commit()
    assert blog.verify_chain(conn).ok


def test_a_role_that_may_not_lock_another_s_table_is_told_whose_it_is(
    database: str, conn: Conn, role: str
) -> None:
    """The table locks came before the ownership check: a deployer that is no
    superuser got LOCK TABLE's bare "permission denied for table blog_events"
    instead of who owns it and what to do."""
    _may_create_in_public(conn, role)
    with psycopg.connect(dbkit.as_role(database, role), autocommit=True) as first:
        blog.migrate(first)
    deployer = sql.Identifier(f"{role}_deployer")
    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(deployer))
    conn.commit()
    try:
        _may_create_in_public(conn, f"{role}_deployer")
        conn.execute(sql.SQL("SET ROLE {}").format(deployer))
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            blog.migrate(conn)
        message = str(refused.value)
        assert f"relation blog_events is owned by role {role}, not by" in message
        assert "SET ROLE" in (refused.value.diag.message_hint or "")
    finally:
        conn.rollback()
        conn.execute("RESET ROLE")
        conn.execute(sql.SQL("DROP OWNED BY {}").format(deployer))
        conn.execute(sql.SQL("DROP ROLE {}").format(deployer))
        conn.commit()


def test_migrate_runs_none_of_them_and_keeps_the_sessions_path(owner: Conn) -> None:
    """migrate's own statements (here a second run, whose lock step formats
    each table's name) run as the migrating role, often a superuser."""
    owner.autocommit = False
    before = owner.execute("SHOW search_path").fetchone()
    blog.migrate(owner)
    chat.migrate(owner)
    assert owner.execute("SHOW search_path").fetchone() == before  # in its transaction
    owner.commit()
    assert blog.verify_chain(owner).ok


def test_copies_of_built_ins_in_the_logs_own_schema_never_run(
    database: str, conn: Conn, role: str
) -> None:
    """The log in `public`, where another role may create (PostgreSQL 14's
    default, which the README says to revoke): a function of a built-in's very
    signature there never outranks pg_catalog's, in migrate's SQL or in the
    functions it installs, as pg_catalog comes first on every path they set."""
    _may_create_in_public(conn, role)
    copies = [
        "public.quote_ident(text) RETURNS text",
        "public.to_regclass(text) RETURNS regclass",
        "public.current_setting(text) RETURNS text",
        "public.sha256(bytea) RETURNS bytea",
        "public.int8send(bigint) RETURNS bytea",
    ]
    with psycopg.connect(dbkit.as_role(database, role), autocommit=True) as planter:
        for copy in copies:
            _plant_raising(planter, copy)
    for _ in range(2):  # the second run locks the tables the first made
        blog.migrate(conn)
        conn.commit()
    first = blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    blog.insert_many(conn, [blog.changeset(first, {"action": "update"})])
    conn.commit()
    assert blog.verify_chain(conn).ok and blog.verify_chain_locally(conn).ok


TRIP_TYPES = [
    "oid", "regclass", "regprocedure", "name", "text", "smallint", "integer",
    "bigint", "numeric", "uuid", "bytea", "bytea[]", "bigint[]", "integer[]",
    "uuid[]", "text[]", "jsonb", "timestamptz", '"char"', "boolean",
]  # fmt: skip
TRIP_OPERATORS = ["=", "<", ">", "<=", ">=", "<>", "||", "-", "+", "*", "->", "->>"]
TRIPWIRES = """
DO $plant$
DECLARE
    op text;
    l text;
    r text;
    n integer := 0;
BEGIN
    FOREACH op IN ARRAY {operators}::text[] LOOP
        FOREACH l IN ARRAY {types}::text[] LOOP
            FOREACH r IN ARRAY {types}::text[] LOOP
                CONTINUE WHEN EXISTS (
                    SELECT FROM pg_catalog.pg_operator AS o
                    WHERE o.oprname = op AND o.oprleft = l::regtype
                        AND o.oprright = r::regtype
                        AND o.oprnamespace = 'pg_catalog'::regnamespace
                );
                n := n + 1;
                EXECUTE format(
                    'CREATE FUNCTION public.trip_%s(%s, %s) RETURNS %s'
                    ' LANGUAGE plpgsql AS %L',
                    n, l, r,
                    CASE WHEN op IN ('=', '<', '>', '<=', '>=', '<>')
                        THEN 'boolean' ELSE l END,
                    format(
                        'BEGIN INSERT INTO public.tripped VALUES (%L);'
                        ' RETURN NULL; END',
                        format('%s %s %s', l, op, r)
                    )
                );
                EXECUTE format(
                    'CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s,'
                    ' FUNCTION = public.trip_%s)',
                    op, l, r, n
                );
            END LOOP;
        END LOOP;
    END LOOP;
END
$plant$;
CREATE FUNCTION public.trip_fn(what text) RETURNS void LANGUAGE sql
    AS 'INSERT INTO public.tripped VALUES (what)';
CREATE FUNCTION public.unnest(uuid[]) RETURNS SETOF uuid LANGUAGE sql
    AS $$ SELECT public.trip_fn('unnest(uuid[])'); SELECT pg_catalog.unnest($1) $$;
CREATE FUNCTION public.unnest(integer[]) RETURNS SETOF integer LANGUAGE sql
    AS $$ SELECT public.trip_fn('unnest(integer[])'); SELECT pg_catalog.unnest($1) $$;
CREATE FUNCTION public.cardinality(uuid[]) RETURNS integer LANGUAGE sql
    AS $$ SELECT public.trip_fn('cardinality(uuid[])');
        SELECT pg_catalog.cardinality($1) $$;
CREATE FUNCTION public.cardinality(integer[]) RETURNS integer LANGUAGE sql
    AS $$ SELECT public.trip_fn('cardinality'); SELECT pg_catalog.cardinality($1) $$;
CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql
    AS $$ SELECT public.trip_fn('nextval(text)'); SELECT pg_catalog.nextval($1) $$;
CREATE FUNCTION public.convert_to(text, text) RETURNS bytea LANGUAGE sql
    AS $$ SELECT public.trip_fn('convert_to(text, text)');
        SELECT pg_catalog.convert_to($1, $2::name) $$;
CREATE FUNCTION public.trip_agg(state bytea, value bytea) RETURNS bytea
    LANGUAGE sql AS $$ SELECT public.trip_fn('an aggregate of bytea'); SELECT value $$;
CREATE AGGREGATE public.lag(bytea) (SFUNC = public.trip_agg, STYPE = bytea);
CREATE AGGREGATE public.count(bytea) (SFUNC = public.trip_agg, STYPE = bytea);
"""


@pytest.mark.parametrize("path", [PATH, "-c search_path=public"], ids=["ev", "public"])
def test_no_expression_needs_an_operator_outside_pg_catalog(
    database: str, conn: Conn, role: str, path: str
) -> None:
    """Every operator of these types that pg_catalog lacks, planted in public
    to record its use: the whole API then runs without one of them (an
    expression of types no built-in takes exactly resolves to such a planted
    operator, as `oid = regclass` once did in the verifiers)."""
    conn.execute("CREATE SCHEMA ev")
    conn.execute("CREATE TABLE public.tripped (what text)")
    conn.execute("GRANT INSERT ON public.tripped TO PUBLIC")
    _may_create_in_public(conn, role)
    with psycopg.connect(dbkit.as_role(database, role), autocommit=True) as planter:
        planter.execute(
            sql.SQL(TRIPWIRES).format(
                operators=sql.Literal(TRIP_OPERATORS), types=sql.Literal(TRIP_TYPES)
            )
        )
        planted = planter.execute(
            "SELECT count(*) FROM pg_operator"
            " WHERE oprnamespace = 'public'::regnamespace"
        ).fetchone()
        assert planted is not None and planted[0] > 1000
    with psycopg.connect(database, autocommit=True, options=path) as ev:
        for module in (blog, chat, plain):
            module.migrate(ev)
            module.migrate(ev)  # the second run locks what the first made
        first = blog.insert(ev, blog.changeset({"schema": "User", "action": "insert"}))
        more = blog.insert_many(
            ev, [blog.changeset(first, {"action": "update"}) for _ in range(600)]
        )
        blog.events_for(ev, first.id, after=first.seq, limit=10)
        blog.previous_events(ev, more[-1])
        blog.previous_events(ev, more[-1], after=more[0].seq, limit=10)
        root = chat.insert(
            ev,
            chat.changeset(
                {"id": dbkit.shard_uuid(1), "schema": "Chat", "action": "insert"}
            ),
        )
        reply = chat.insert(
            ev,
            chat.changeset(root, {"schema": "Message", "action": "insert"}),
            links={"ancestors": [root], "mentions": [(root, 7)]},
        )
        chat.insert_many(
            ev,
            [
                (
                    chat.changeset(root, {"schema": "Message", "action": "insert"}),
                    {"ancestors": [root, reply]},
                )
            ],
        )
        chat.linked(ev, reply, chat.Link.ancestors)
        chat.linked(ev, reply, chat.Link.mentions, link_type=7)
        chat.linked_types(ev, reply, chat.Link.mentions)
        for module in (blog, chat):
            assert module.verify_chain(ev).ok
            assert module.verify_chain_locally(ev).ok
        blog.chain_head(ev, blog.TABLE)
        plain.insert(ev, plain.changeset({"schema": "User", "action": "insert"}))
        tripped = ev.execute("SELECT DISTINCT what FROM public.tripped").fetchall()
    assert tripped == []


def test_a_renamed_logs_functions_never_append_to_the_new_log_of_its_old_name(
    database: str, conn: Conn
) -> None:
    """The functions are pinned to their schema by name: after ALTER SCHEMA ev
    RENAME TO ev_2024 and a new log in a new `ev`, ev_2024's appended into the
    new log. The new log's migrate pins them to ev_2024 again."""
    conn.autocommit = True
    conn.execute("CREATE SCHEMA ev")
    conn.execute("SET search_path = ev")
    blog.migrate(conn)
    blog.insert(conn, blog.changeset({"schema": "User", "action": "insert"}))
    conn.execute("ALTER SCHEMA ev RENAME TO ev_2024")
    conn.execute("CREATE SCHEMA ev")
    blog.migrate(conn)  # a new log in the new `ev`
    with psycopg.connect(
        database, autocommit=True, options="-c search_path=ev_2024"
    ) as old:
        blog.insert(old, blog.changeset({"schema": "User", "action": "insert"}))
        assert blog.verify_chain(old).count == 2
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM ev_2024.blog_events),"
        " (SELECT count(*) FROM ev.blog_events)"
    ).fetchone()
    assert counts == (2, 0)


def test_without_a_schema_to_create_in_migrate_says_so(conn: Conn) -> None:
    conn.execute("SET search_path = no_such_schema")
    with pytest.raises(psycopg.errors.InvalidSchemaName, match="no schema has been"):
        blog.migrate(conn)


def test_the_database_owner_migrates_a_log_its_owner_role_owns(
    database: str, conn: Conn, role: str
) -> None:
    """pg_database_owner (the role that owns public from PostgreSQL 15) counts
    as a role of the database owner's."""
    who = sql.Identifier(role)
    dbname = sql.Identifier(conn.info.dbname)
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(dbname, who))
    try:
        _migrate_as_database_owner(database, conn, role)
    finally:  # the role is dropped after the test
        conn.rollback()
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(dbname))
        conn.commit()


def _migrate_as_database_owner(database: str, conn: Conn, role: str) -> None:
    _may_create_in_public(conn, role)
    with psycopg.connect(dbkit.as_role(database, role)) as owner:
        blog.migrate(owner)
        owner.commit()
    conn.execute("ALTER TABLE blog_events OWNER TO pg_database_owner")
    conn.execute("ALTER SEQUENCE blog_events_seq OWNER TO pg_database_owner")
    for (function,) in conn.execute(
        "SELECT oid::regprocedure::text FROM pg_proc"
        " WHERE proname LIKE 'blog\\_events\\_%'"
    ).fetchall():
        conn.execute(f"ALTER FUNCTION {function} OWNER TO pg_database_owner".encode())
    conn.commit()
    with psycopg.connect(dbkit.as_role(database, role)) as owner:
        blog.migrate(owner)  # no longer the owner by name, by pg_database_owner
        owner.commit()
        blog.insert(owner, blog.changeset({"schema": "User", "action": "insert"}))
