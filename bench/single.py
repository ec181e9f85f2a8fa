"""Scenario `single`: one hashed event per call, on one connection.

Contenders, each storing the same rows one per call:
- hashed: `blog_events.insert(conn, changeset)`;
- plain:  `with conn.transaction(): INSERT INTO plain_events ...` on the same
  connection (BEGIN; INSERT; COMMIT), into the unhashed table of the same shape;
- peer:   eventsourcing `insert_events([stored_event])`, one event per call.

The rows of a round are split in chunks; each chunk runs every contender in an
order rotated per chunk, so a slow spell of the machine hits all of them alike.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import TupleRow

from bench import data, peer
from bench.env import Context
from bench.stats import ScenarioResult, interleaved, ratios
from bench.trips import turnarounds
from generated_example import blog_events, plain_events

NAME = "single"
TITLE = "1. One event per call (events/s)"
VARIANTS = ("hashed", "plain", "peer")
CHUNK = 20
TRACED = 20  # events whose round trips are counted


def steps(ctx: Context) -> int:
    return ctx.config.total_rounds


def _round(
    conn: psycopg.Connection[TupleRow],
    rec: PostgresApplicationRecorder,
    rows: Sequence[data.Row],
    round_no: int,
) -> dict[str, float]:
    chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
    changesets = [data.blog_changesets(c) for c in chunks]
    cur = conn.cursor()

    def hashed(i: int) -> None:
        for cs in changesets[i]:
            blog_events.insert(conn, cs)

    def plain(i: int) -> None:
        for r in chunks[i]:
            with conn.transaction():
                cur.execute(data.PLAIN_INSERT, data.plain_params(r))

    def peer_one(i: int) -> None:
        for r in chunks[i]:
            rec.insert_events([data.stored_event(r)])

    variants = {"hashed": hashed, "plain": plain, "peer": peer_one}
    return interleaved(len(chunks), variants, round_no)


def _trips(
    conn: psycopg.Connection[TupleRow],
    rec: PostgresApplicationRecorder,
    rng: random.Random,
) -> dict[str, int]:
    """Round trips each contender needs for TRACED events, one per call.

    Runs after the measured rounds, so statements are already prepared.
    """
    with rec.datastore.get_connection() as peer_conn:
        pass  # the pool's only connection: the one insert_events will use
    trips: dict[str, int] = {}
    for name, make, traced in (
        ("hashed", _hashed, conn),
        ("plain", _plain, conn),
        ("peer", _peer, peer_conn),
    ):
        work = make(conn, rec, data.rows(TRACED, rng))
        trips[name] = turnarounds(traced, work)
    return trips


Work = Callable[[], None]


def _ping(url: str, count: int = 300) -> float:
    """Median seconds of one `SELECT 1` round trip from psycopg."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.cursor()
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            cur.execute(b"SELECT 1").fetchone()
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _hashed(
    conn: psycopg.Connection[TupleRow],
    rec: PostgresApplicationRecorder,
    rows: Sequence[data.Row],
) -> Work:
    changesets = data.blog_changesets(rows)

    def go() -> None:
        for cs in changesets:
            blog_events.insert(conn, cs)

    return go


def _plain(
    conn: psycopg.Connection[TupleRow],
    rec: PostgresApplicationRecorder,
    rows: Sequence[data.Row],
) -> Work:
    def go() -> None:
        cur = conn.cursor()
        for r in rows:
            with conn.transaction():
                cur.execute(data.PLAIN_INSERT, data.plain_params(r))

    return go


def _peer(
    conn: psycopg.Connection[TupleRow],
    rec: PostgresApplicationRecorder,
    rows: Sequence[data.Row],
) -> Work:
    def go() -> None:
        for r in rows:
            rec.insert_events([data.stored_event(r)])

    return go


def run(ctx: Context) -> ScenarioResult:
    cfg = ctx.config
    result = ScenarioResult(NAME, TITLE)
    rng = random.Random(1)
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with (
        ctx.database(NAME) as url,
        psycopg.connect(url) as conn,
        peer.recorder(url) as rec,
    ):
        blog_events.migrate(conn)
        plain_events.migrate(conn)
        for round_no in range(cfg.total_rounds):
            rows = data.rows(cfg.single_events, rng)
            seconds = _round(conn, rec, rows, round_no)
            ctx.tick(f"{NAME} round {round_no + 1}")
            if round_no >= cfg.warmup:
                for variant in VARIANTS:
                    rates[variant].append(len(rows) / seconds[variant])
        report = blog_events.verify_chain(conn)
        assert report.ok, report.breaks
        trips = _trips(conn, rec, rng)
        ping = _ping(url)
    for variant in VARIANTS:
        result.figure(f"{variant} insert", "events/s", rates[variant])
    result.target(
        "hashed insert vs plain BEGIN; INSERT; COMMIT",
        1.0,
        ratios(rates["hashed"], rates["plain"]),
    )
    result.target(
        "hashed insert vs eventsourcing, one event per call",
        2.0,
        ratios(rates["hashed"], rates["peer"]),
    )
    result.notes.append(
        "client-server round trips per event (libpq trace): "
        + ", ".join(f"{v} {n / TRACED:.1f}" for v, n in trips.items())
        + f"; one bare round trip (`SELECT 1`, psycopg) costs {ping * 1e6:.0f} us"
        " here (median)."
    )
    result.notes.append(
        f"{cfg.single_events} events per contender per round, one per call, in"
        f" interleaved chunks of {CHUNK}; durability is the server's"
        " (synchronous_commit and fsync as listed)."
    )
    return result
