"""The run's configuration, its database server and the machine it runs on."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import subprocess
from collections.abc import Callable, Iterator

import psycopg
from psycopg import sql

from tests.embedded_pg import describe, fresh_database


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    """Sizes and repetitions; `quick()` is the smoke-run variant."""

    quick: bool = False
    rounds: int = 5  # measured rounds, after `warmup` unmeasured ones
    warmup: int = 1
    single_events: int = 1_500  # events per variant per round, one per call
    batch_sizes: tuple[int, ...] = (1_000, 10_000)
    batch_events: int = 30_000  # events per variant per round and batch size
    writers: int = 8
    writer_seconds: float = 2.0  # wall time of one concurrent run
    verify_events: int = 1_000_000
    load_batch: int = 10_000
    gen_sizes: tuple[int, ...] = (10, 100, 1_000, 5_000)

    @classmethod
    def quick_run(cls) -> Config:
        return cls(
            quick=True,
            rounds=3,
            single_events=60,
            batch_sizes=(100, 1_000),
            batch_events=2_000,
            writer_seconds=0.5,
            verify_events=50_000,
            gen_sizes=(10, 100, 1_000),
        )

    @property
    def total_rounds(self) -> int:
        return self.warmup + self.rounds


Tick = Callable[[str], None]


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """What a scenario gets: the configuration, a server and a progress callback."""

    config: Config
    admin_url: str
    tick: Tick  # advance the progress bar by one step, with a short status
    local: bool = True  # the server runs on this machine (its processes are visible)

    @contextlib.contextmanager
    def database(self, name: str) -> Iterator[str]:
        """A fresh database for one scenario, dropped afterwards."""
        with fresh_database(self.admin_url, f"bench_{name}") as url:
            yield url


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what platform says."""
    with (
        contextlib.suppress(OSError),
        open("/proc/cpuinfo", encoding="utf-8") as info,
    ):
        for line in info:
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "cpu model"):
                return value.strip()
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/meminfo", encoding="utf-8") as info,
    ):
        for line in info:
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "max_parallel_workers_per_gather",
    "wal_level",
)


def _checkout() -> str:
    """The commit the generated code comes from, and whether files were modified
    (besides the previous report in bench/results, which a run overwrites)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)bench/results",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (with uncommitted changes)" if dirty else head


def environment(admin_url: str, source: str) -> dict[str, str]:
    """Machine, Python, library and PostgreSQL facts printed with every result."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    env = {
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} (usable by this process: {affinity or '?'})",
        "memory": memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
        "libpq": str(psycopg.pq.version()),
        "server": source,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "spectorgen checkout": _checkout(),
    }
    with contextlib.suppress(ImportError):
        from importlib.metadata import version

        env["eventsourcing"] = version("eventsourcing")
    info = describe(admin_url)
    env["postgresql"] = info["server_version"]
    env["synchronous_commit"] = info["synchronous_commit"]
    env["fsync"] = info["fsync"]
    with psycopg.connect(admin_url) as conn:
        for name in _SETTINGS:
            row = conn.execute(
                sql.SQL("SELECT current_setting({})").format(sql.Literal(name))
            ).fetchone()
            env[name] = str(row[0]) if row else "?"
    return env
