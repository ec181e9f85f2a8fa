"""Real-server tests for tests/embedded_pg.py (no mocks: each path starts Postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests import embedded_pg

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def admin_url() -> Iterator[str]:
    with embedded_pg.server() as url:
        yield url


def _dbname(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


def _database_exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return row is not None and row[0] == 1


def test_server_url_accepts_connections(admin_url: str) -> None:
    with psycopg.connect(admin_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_fresh_databases_are_isolated_and_dropped(admin_url: str) -> None:
    with (
        embedded_pg.fresh_database(admin_url, prefix="iso") as a,
        embedded_pg.fresh_database(admin_url, prefix="iso") as b,
    ):
        names = _dbname(a), _dbname(b)
        assert names[0] != names[1]
        assert all(name.startswith("iso_") for name in names)
        with psycopg.connect(a) as conn:
            conn.execute("CREATE TABLE only_in_a (x int)")
        with psycopg.connect(a) as conn:
            row = conn.execute("SELECT to_regclass('only_in_a') IS NOT NULL")
            assert row.fetchone() == (True,)
        with psycopg.connect(b) as conn:
            row = conn.execute("SELECT to_regclass('only_in_a') IS NOT NULL")
            assert row.fetchone() == (False,)
        # An open connection must not stop the drop (DROP ... WITH (FORCE)).
        lingering = psycopg.connect(b)
    lingering.close()
    assert not any(_database_exists(admin_url, name) for name in names)


def test_describe_reports_settings(admin_url: str) -> None:
    info = embedded_pg.describe(admin_url)
    assert set(info) == {"server_version", "synchronous_commit", "fsync"}
    assert info["server_version"][:2].isdigit()
    assert info["fsync"] in {"on", "off"}


def test_database_url_is_used_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://someone@db.invalid/somedb"
    monkeypatch.setenv("DATABASE_URL", url)
    with embedded_pg.server() as got:
        assert got == url


def test_unknown_mode_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SPECTORGEN_PG", "docker")
    with pytest.raises(RuntimeError, match="SPECTORGEN_PG"), embedded_pg.server():
        pass


def _check_throwaway_server(url: str) -> Path:
    """Use the server like a test would; return its data dir for post-checks."""
    with (
        embedded_pg.fresh_database(url) as db,
        psycopg.connect(db) as conn,
    ):
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT x FROM t").fetchone() == (1,)
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    return Path(str(row[0]))


def _assert_stopped(url: str, data_dir: Path) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3).close()
    assert not data_dir.exists()


def test_binaries_fallback_starts_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    if embedded_pg.find_bindir() is None:
        pytest.skip("no PostgreSQL binaries (initdb/pg_ctl) on this machine")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SPECTORGEN_PG", "binaries")
    with embedded_pg.server() as url:
        assert "host=/" in url
        data_dir = _check_throwaway_server(url)
        assert embedded_pg.describe(url)["fsync"] == "off"
    _assert_stopped(url, data_dir)


def test_pgserver_starts_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pgserver", reason="pgserver wheel not installed")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SPECTORGEN_PG", "pgserver")
    with embedded_pg.server() as url:
        data_dir = _check_throwaway_server(url)
        assert embedded_pg.describe(url)["server_version"].startswith("16")
    _assert_stopped(url, data_dir)
