"""Shared fixtures: a real PostgreSQL per test session, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

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
