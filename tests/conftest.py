"""Shared fixtures: a real PostgreSQL per test session, a fresh database per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.embedded_pg import fresh_database, server

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "generated_example"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin conninfo: `$DATABASE_URL`, else an embedded server for this session."""
    with server() as url:
        yield url


@pytest.fixture
def database(pg_server: str) -> Iterator[str]:
    """Conninfo of a database created for this test alone and dropped after it."""
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture
def conn(database: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection to this test's database (psycopg's default: not autocommit)."""
    with psycopg.connect(database) as connection:
        yield connection


@pytest.fixture
def role(database: str, conn: psycopg.Connection[tuple[object, ...]]) -> Iterator[str]:
    """A login role of its own for this test (password: its name), dropped after."""
    name = f"spectorgen_app_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}")
    try:
        conn.execute(create.format(sql.Identifier(name), sql.Literal(name)))
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("the test server's user may not create roles")
    conn.commit()
    try:
        yield name
    finally:
        with psycopg.connect(database, autocommit=True) as owner:
            owner.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            owner.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture
def loaded() -> Iterator[list[str]]:
    """Names of the modules a test imported; removed from sys.modules after it."""
    names: list[str] = []
    yield names
    for name in names:
        sys.modules.pop(name, None)
