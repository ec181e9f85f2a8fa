"""An application role with the grants the README lists can do all of its work.

The owner migrates; the application role only appends, reads and verifies. It
needs SELECT, INSERT and UPDATE on the events tables (UPDATE because
`LOCK TABLE ... IN EXCLUSIVE MODE` asks for it; the append-only trigger refuses
every actual UPDATE), SELECT and INSERT on the link tables, and UPDATE on the
sequences (`nextval`, and `setval` for a batch's block of values).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from generated_example import chat_events as chat
from generated_example import plain_events as plain
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db


def grants(role: str) -> list[sql.Composed]:
    """The README's grants for one log, for `role`."""
    who = sql.Identifier(role)
    out = [
        sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(
            sql.Identifier(table), who
        )
        for table in chat.SHARD_TABLES
    ]
    out += [
        sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(sql.Identifier(table), who)
        for table in chat.LINK_TABLES
    ]
    out += [
        sql.SQL("GRANT UPDATE ON SEQUENCE {} TO {}").format(
            sql.Identifier(f"{table}_seq"), who
        )
        for table in chat.SHARD_TABLES
    ]
    return out


def test_the_documented_grants_are_enough_and_needed(
    database: str, conn: Conn, role: str
) -> None:
    chat.migrate(conn)
    conn.commit()
    with (
        psycopg.connect(dbkit.as_role(database, role), autocommit=True) as app,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        chat.insert(app, chat.changeset({"schema": "Chat", "action": "insert"}))
    for statement in grants(role):
        conn.execute(statement)
    conn.commit()
    with psycopg.connect(dbkit.as_role(database, role), autocommit=True) as app:
        root = chat.insert(app, chat.changeset({"schema": "Chat", "action": "insert"}))
        replies = chat.insert_many(
            app,
            [
                (
                    chat.changeset(root, {"schema": "Message", "action": "insert"}),
                    {"ancestors": [root]},
                )
                for _ in range(chat.BATCH_CHUNK + 1)  # streamed: two chunks
            ],
        )
        assert len(chat.events_for(app, root.id)) == chat.BATCH_CHUNK + 2
        assert chat.linked(app, replies[-1], chat.Link.ancestors) == [root]
        assert chat.verify_chain(app).ok and chat.verify_chain_locally(app).ok
        assert chat.chain_head(app, root.table).seq == replies[-1].seq
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(
                sql.SQL("UPDATE {} SET action = 2").format(sql.Identifier(root.table))
            )
    # UPDATE on the sequences is what nextval and setval need.
    seq = sql.Identifier(f"{root.table}_seq")
    conn.execute(
        sql.SQL("REVOKE UPDATE ON SEQUENCE {} FROM {}").format(
            seq, sql.Identifier(role)
        )
    )
    conn.commit()
    with psycopg.connect(dbkit.as_role(database, role), autocommit=True) as app:
        more = [chat.changeset(root, {"action": "update"}) for _ in range(3)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            chat.insert_many(app, more)


def test_an_unhashed_log_needs_no_update_on_its_table(
    database: str, conn: Conn, role: str
) -> None:
    """Without the chain there is no EXCLUSIVE lock: the append's ROW EXCLUSIVE
    lock (taken before nextval) comes with INSERT."""
    plain.migrate(conn)
    who = sql.Identifier(role)
    table = sql.Identifier(plain.TABLE)
    conn.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(table, who))
    seq = sql.Identifier(f"{plain.TABLE}_seq")
    conn.execute(sql.SQL("GRANT UPDATE ON SEQUENCE {} TO {}").format(seq, who))
    conn.commit()
    with psycopg.connect(dbkit.as_role(database, role), autocommit=True) as app:
        first = plain.insert(
            app, plain.changeset({"schema": "User", "action": "insert"})
        )
        plain.insert_many(
            app, [plain.changeset(first, {"action": "update"}) for _ in range(2)]
        )
        assert len(plain.events_for(app, first.id)) == 3


def test_the_readmes_safe_setup_works_as_written(database: str, conn: Conn) -> None:
    """The SQL the README gives for a log in a schema of its own: the owner
    role migrates through SET ROLE, the app appends, the auditor verifies."""
    tag = uuid.uuid4().hex[:8]
    owner, deployer, app, auditor = (
        f"ev_owner_{tag}",
        f"deployer_{tag}",
        f"app_{tag}",
        f"auditor_{tag}",
    )
    ident = {name: sql.Identifier(name) for name in (owner, deployer, app, auditor)}
    setup = [
        sql.SQL("CREATE ROLE {} NOLOGIN").format(ident[owner]),
        *(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                ident[name], sql.Literal(name)
            )
            for name in (deployer, app, auditor)
        ),
        sql.SQL("CREATE SCHEMA ev AUTHORIZATION {}").format(ident[owner]),
        sql.SQL("GRANT {} TO {}").format(ident[owner], ident[deployer]),
        sql.SQL("GRANT USAGE ON SCHEMA ev TO {}, {}").format(
            ident[app], ident[auditor]
        ),
        *(
            sql.SQL("ALTER ROLE {} SET search_path = ev").format(ident[name])
            for name in (deployer, app, auditor)
        ),
    ]
    try:
        for statement in setup:
            conn.execute(statement)
        conn.commit()
        with psycopg.connect(dbkit.as_role(database, deployer)) as deploy:
            deploy.execute(sql.SQL("SET ROLE {}").format(ident[owner]))
            chat.migrate(deploy)
            for statement in grants(app):
                deploy.execute(statement)
            for table in (*chat.SHARD_TABLES, *chat.LINK_TABLES):
                deploy.execute(
                    sql.SQL("GRANT SELECT ON {} TO {}").format(
                        sql.Identifier(table), ident[auditor]
                    )
                )
            deploy.commit()
        with psycopg.connect(dbkit.as_role(database, app), autocommit=True) as writer:
            root = chat.insert(
                writer, chat.changeset({"schema": "Chat", "action": "insert"})
            )
            chat.insert(
                writer,
                chat.changeset(root, {"schema": "Message", "action": "insert"}),
                links={"ancestors": [root]},
            )
        with psycopg.connect(
            dbkit.as_role(database, auditor), autocommit=True
        ) as audit:
            assert chat.verify_chain(audit).ok and chat.verify_chain_locally(audit).ok
            assert chat.chain_head(audit, root.table).seq == 2
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
            " WHERE relnamespace = 'ev'::regnamespace"
        ).fetchall()
        assert owners == [(owner,)]
    finally:
        conn.rollback()
        conn.execute("DROP SCHEMA IF EXISTS ev CASCADE")
        for name in (app, auditor, deployer, owner):
            if conn.execute(
                "SELECT FROM pg_roles WHERE rolname = %s", (name,)
            ).rowcount:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(ident[name]))
                conn.execute(sql.SQL("DROP ROLE {}").format(ident[name]))
        conn.commit()
