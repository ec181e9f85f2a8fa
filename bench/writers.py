"""Scenario `writers`: concurrent writers, one thread and one connection each.

Each writer stores one event per call (`insert`) for a fixed wall time. Measured
on `blog_events` (one hashed table: every writer contends for its one chain lock)
and on `chat_events` (4 shards, random parent ids: up to four chains advance at
once), with N writers against one writer on the same table. After every burst
`verify_chain` must report every chain intact (no fork) and every event present.

A control runs the same writers against the unhashed `plain_events` (one
autocommit INSERT per event, no lock): how far the machine itself lets N writers
scale. CPU use (this client, its server backends, everything else) is recorded.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable

import psycopg
from psycopg.rows import TupleRow

from bench import data
from bench.cpu import CpuUse, Meter
from bench.env import Context
from bench.stats import ScenarioResult, ratios, rotated
from generated_example import blog_events, chat_events, plain_events

NAME = "writers"
TITLE = "3. Concurrent writers, one event per call (events/s)"

Conn = psycopg.Connection[TupleRow]
Verdict = tuple[bool, int, str]  # chain intact, events counted, breaks


def _store_blog(conn: Conn, r: data.Row) -> object:
    return blog_events.insert(conn, data.blog_changeset(r))


def _store_chat(conn: Conn, r: data.Row) -> object:
    return chat_events.insert(conn, data.chat_changeset(r))


def _store_plain(conn: Conn, r: data.Row) -> object:
    conn.autocommit = True  # one statement, one round trip, no lock
    return conn.execute(data.PLAIN_INSERT, data.plain_params(r))


def _verify_blog(conn: Conn) -> Verdict:
    report = blog_events.verify_chain(conn)
    return report.ok, report.count, repr(report.breaks)


def _verify_chat(conn: Conn) -> Verdict:
    report = chat_events.verify_chain(conn)
    return report.ok, report.count, repr(report.breaks)


def _count_plain(conn: Conn) -> Verdict:
    row = conn.execute(b"SELECT count(*) FROM plain_events").fetchone()
    return True, int(row[0]) if row else -1, ""


@dataclasses.dataclass(frozen=True, slots=True)
class Log:
    label: str
    store: Callable[[Conn, data.Row], object]
    verify: Callable[[Conn], Verdict]
    target: float | None  # N writers / 1 writer; None for the control


LOGS = (
    Log("blog_events (1 table)", _store_blog, _verify_blog, 0.9),
    Log("chat_events (4 shards)", _store_chat, _verify_chat, 1.0),
    Log("plain_events control (unhashed)", _store_plain, _count_plain, None),
)


def steps(ctx: Context) -> int:
    return ctx.config.total_rounds * len(LOGS) * 4


@dataclasses.dataclass(frozen=True, slots=True)
class Burst:
    events: int
    seconds: float
    cpu: CpuUse


def _burst(
    url: str, log: Log, writers: int, seconds: float, seed: int, local: bool
) -> Burst:
    """Run `writers` threads for `seconds`: events stored, wall time, CPU use."""
    conns = [psycopg.connect(url) for _ in range(writers)]
    pids = [c.info.backend_pid for c in conns] if local else []
    counts = [0] * writers
    errors: list[BaseException] = []
    start = threading.Barrier(writers + 1)
    deadline = [0.0]

    def work(i: int) -> None:
        rows = data.stream(random.Random(seed * 100 + i))
        conn = conns[i]
        start.wait()
        try:
            while time.perf_counter() < deadline[0]:
                log.store(conn, next(rows))
                counts[i] += 1
        except BaseException as exc:  # reported after join
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    meter = Meter()
    meter.start(pids)
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    cpu = meter.stop()
    for conn in conns:
        conn.close()
    if errors:
        raise errors[0]
    return Burst(sum(counts), elapsed, cpu)


def _cpu_note(label: str, n: int, uses: list[CpuUse]) -> str:
    k = len(uses) or 1
    machine = sum(u.machine for u in uses) / k
    client = sum(u.client for u in uses) / k
    backends = sum(u.backends for u in uses) / k
    return (
        f"{label}, {n} writer(s): CPU busy {machine:.2f} cores (this client"
        f" {client:.2f}, its backends {backends:.2f}, everything else"
        f" {max(machine - client - backends, 0.0):.2f})"
    )


def run(ctx: Context) -> ScenarioResult:
    cfg = ctx.config
    result = ScenarioResult(NAME, TITLE)
    counts = (1, cfg.writers)
    seed = 0  # every burst draws fresh ids from its own seeds
    with ctx.database(NAME) as url, psycopg.connect(url, autocommit=True) as admin:
        for module in (blog_events, chat_events, plain_events):
            module.migrate(admin)
        for log in LOGS:
            rates: dict[int, list[float]] = {n: [] for n in counts}
            cpu: dict[int, list[CpuUse]] = {n: [] for n in counts}
            stored = 0
            for round_no in range(cfg.total_rounds):
                # A B B A: half-length bursts, so drift hits both alike.
                a, b = rotated(counts, round_no)
                done = dict.fromkeys(counts, 0)
                spent = dict.fromkeys(counts, 0.0)
                for writers in (a, b, b, a):
                    seed += 1
                    burst = _burst(
                        url, log, writers, cfg.writer_seconds / 2, seed, ctx.local
                    )
                    stored += burst.events
                    ok, total, breaks = log.verify(admin)
                    assert ok, f"{log.label}: chain broken, {writers} writers: {breaks}"
                    assert total == stored, f"{log.label}: {total} != {stored}"
                    ctx.tick(f"{NAME} {log.label.split()[0]} x{writers}")
                    done[writers] += burst.events
                    spent[writers] += burst.seconds
                    if round_no >= cfg.warmup:
                        cpu[writers].append(burst.cpu)
                if round_no >= cfg.warmup:
                    for n in counts:
                        rates[n].append(done[n] / spent[n])
            for n in counts:
                result.figure(f"{log.label}, {n} writer(s)", "events/s", rates[n])
                result.notes.append(_cpu_note(log.label, n, cpu[n]))
            scaling = ratios(rates[cfg.writers], rates[1])
            if log.target is None:
                result.figure(f"{log.label}: {cfg.writers} / 1 writer", "x", scaling)
            elif log is LOGS[0]:
                result.target(
                    f"{cfg.writers} writers vs 1 on one hashed table (no collapse)",
                    log.target,
                    scaling,
                )
            else:
                result.target(
                    f"{cfg.writers} writers vs 1 on the 4-shard table (scales)",
                    log.target,
                    scaling,
                    better="above",
                )
    result.notes.append(
        f"each round: bursts of {cfg.writer_seconds / 2:g} s in the order"
        " 1, N, N, 1 (or N, 1, 1, N); rates are events stored / wall time;"
        " verify_chain after every burst: intact (no fork), no event lost."
    )
    return result
