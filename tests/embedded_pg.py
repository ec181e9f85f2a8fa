"""A real, throwaway PostgreSQL server for tests, the demo and benchmarks.

The generated code talks to PostgreSQL for real (hash chain, constraints), so
mocking the database would test nothing.  ``server()`` finds a server without
any manual step, in this order:

1. ``DATABASE_URL`` if set: the user's own server, used unchanged;
2. the ``pgserver`` wheel (bundles PostgreSQL 16, no system install needed);
3. ``initdb``/``pg_ctl`` already on the machine (e.g. Debian's postgresql).

``SPECTORGEN_PG=binaries`` skips step 2 and ``SPECTORGEN_PG=pgserver`` skips
step 3, so each path can be exercised on a machine that has both.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = ["describe", "find_bindir", "fresh_database", "server"]

_MODES = ("", "auto", "pgserver", "binaries")
_INITDB_OPTS = ("-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale")
_HELP = (
    "No PostgreSQL server available. Either point the tests at one, e.g. "
    "`DATABASE_URL=postgresql://user@localhost/db make test`, or "
    "`pip install pgserver` (bundles PostgreSQL), or install PostgreSQL's "
    "initdb/pg_ctl binaries."
)


class _PgServer(Protocol):
    """The part of ``pgserver.PostgresServer`` used here; keeps ``Any`` out."""

    def get_uri(self) -> str: ...
    def cleanup(self) -> None: ...


def _load_pgserver() -> Callable[..., _PgServer] | None:
    """Return ``pgserver.get_server`` or None if the wheel isn't installed.

    Imported lazily via importlib so type checking doesn't depend on whether
    pgserver is installed (it lacks wheels for some Pythons/platforms).
    """
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset
        # (root in containers/CI); harmless, it falls back to /tmp.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        try:
            module = importlib.import_module("pgserver")
        except ImportError:
            return None
    get_server: Callable[..., _PgServer] = module.get_server
    return get_server


def find_bindir() -> Path | None:
    """Directory holding ``initdb`` and ``pg_ctl``, or None.

    Debian keeps them off PATH (/usr/lib/postgresql/NN/bin), hence the glob.
    """
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout
            candidates.append(Path(out.strip()))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    debian = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    debian.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    candidates += reversed(debian)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return bindir
    return None


@contextlib.contextmanager
def _pgserver_server(get_server: Callable[..., _PgServer]) -> Iterator[str]:
    """Throwaway pgserver instance in a fresh temp dir, deleted on exit."""
    tmp = tempfile.mkdtemp(prefix="spectorgen-pg-")
    try:
        srv = get_server(tmp, cleanup_mode="stop")
        try:
            yield str(srv.get_uri())
        finally:
            srv.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _binaries_server(bindir: Path) -> Iterator[str]:
    """Server from system binaries, in a temp dir, on a private unix socket.

    initdb refuses to run as root, so as root the server runs as ``postgres``
    (or ``nobody``) via runuser/su, in directories that user owns.
    """
    base = Path(tempfile.mkdtemp(prefix="spectorgen-pg-"))
    data, sock, log = base / "data", base / "sock", base / "server.log"
    sock.mkdir()
    user: str | None = None
    if os.geteuid() == 0:
        users = {entry.pw_name for entry in pwd.getpwall()}
        user = "postgres" if "postgres" in users else "nobody"
        entry = pwd.getpwnam(user)
        for path in (base, sock):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def run(*args: str) -> None:
        cmd = [str(bindir / args[0]), *args[1:]]
        if user is not None:
            if shutil.which("runuser"):
                cmd = ["runuser", "-u", user, "--", *cmd]
            else:
                cmd = ["su", user, "-s", "/bin/sh", "-c", shlex.join(cmd)]
        proc = subprocess.run(cmd, cwd=base, capture_output=True, text=True)
        if proc.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(
                f"{shlex.join(cmd)} failed ({proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}{server_log}"
            )

    try:
        run("initdb", "-D", str(data), *_INITDB_OPTS)
        # No TCP listener: the socket lives in our private dir, so parallel
        # servers (pytest-xdist) never collide on a port.  fsync off: a test
        # server's data is disposable and this speeds it up a lot.
        k = shlex.quote(str(sock))
        opts = f"-k {k} -p 5432 -c listen_addresses='' -c fsync=off"
        run("pg_ctl", "-w", "-D", str(data), "-l", str(log), "-o", opts, "start")
        yield f"postgresql://postgres@/postgres?host={quote(str(sock))}&port=5432"
    finally:
        if (data / "postmaster.pid").exists():  # also after a failed -w start
            run("pg_ctl", "-w", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def server() -> Iterator[str]:
    """Yield a conninfo URL of a server the caller may create databases on."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    mode = os.environ.get("SPECTORGEN_PG", "")
    if mode not in _MODES:
        raise RuntimeError(f"SPECTORGEN_PG={mode!r}: expected one of {_MODES[1:]}")
    if mode != "binaries" and (get_server := _load_pgserver()) is not None:
        with _pgserver_server(get_server) as url:
            yield url
        return
    if mode != "pgserver" and (bindir := find_bindir()) is not None:
        with _binaries_server(bindir) as url:
            yield url
        return
    raise RuntimeError(_HELP)


@contextlib.contextmanager
def _fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    ident = sql.Identifier(name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield make_conninfo(admin_url, dbname=name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(ident))


def fresh_database(
    admin_url: str, prefix: str = "t"
) -> contextlib.AbstractContextManager[str]:
    """A new, uniquely named database on ``admin_url``'s server; dropped on exit.

    One database per test keeps tests isolated (and parallel-safe) while
    paying for only one server start.
    """
    return _fresh_database(admin_url, prefix[:40])


def describe(url: str) -> dict[str, str]:
    """Server version and durability settings, so benchmark numbers have context."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'),"
            " current_setting('synchronous_commit'), current_setting('fsync')"
        ).fetchone()
    assert row is not None
    return {
        "server_version": str(row[0]),
        "synchronous_commit": str(row[1]),
        "fsync": str(row[2]),
    }
