"""Scenario `batch`: many hashed events per call.

For each batch size, the same rows are stored by:
- hashed:  `blog_events.insert_many(conn, changesets)`, one call per batch;
- copy:    `COPY plain_events (...) FROM STDIN` with `write_row`, one transaction
  per batch, into the unhashed table of identical shape (same indexes, same FK);
- peer:    eventsourcing `insert_events(stored_events)`, one call per batch, its
  default pipeline path (only up to peer.PIPELINE_MAX events: it hangs beyond);
- peer_fn: the same with `enable_db_functions=True` (one function call).

Batches are interleaved: batch i runs every contender, in an order rotated by i.
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Callable, Sequence

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import TupleRow

from bench import data, peer
from bench.env import Context
from bench.stats import ScenarioResult, interleaved, ratios
from generated_example import blog_events, plain_events

NAME = "batch"
TITLE = "2. Batches of events per call (events/s)"
VARIANTS = ("hashed", "copy", "peer", "peer_fn", "changesets")
MIN_BATCHES = 6  # per contender per round
LABELS = {
    "changesets": "changeset() alone (built before insert_many's timing)",
    "hashed": "insert_many",
    "copy": "COPY, unhashed",
    "peer": "eventsourcing",
    "peer_fn": "eventsourcing, db function",
}


def steps(ctx: Context) -> int:
    return len(ctx.config.batch_sizes) * ctx.config.total_rounds


def _round(
    conn: psycopg.Connection[TupleRow],
    recs: dict[str, PostgresApplicationRecorder],
    rows: Sequence[data.Row],
    size: int,
    round_no: int,
) -> dict[str, float]:
    batches = [rows[i : i + size] for i in range(0, len(rows), size)]
    start = time.perf_counter()
    changesets = [data.blog_changesets(b) for b in batches]
    built = time.perf_counter() - start
    cur = conn.cursor()

    def hashed(i: int) -> None:
        blog_events.insert_many(conn, changesets[i])

    def copy(i: int) -> None:
        now = datetime.datetime.now(datetime.UTC)
        with conn.transaction(), cur.copy(data.PLAIN_COPY) as cp:
            for r in batches[i]:
                cp.write_row(data.copy_row(r, now))

    def peer_many(rec: PostgresApplicationRecorder) -> Callable[[int], None]:
        def go(i: int) -> None:
            rec.insert_events([data.stored_event(r) for r in batches[i]])

        return go

    variants: dict[str, Callable[[int], None]] = {"hashed": hashed, "copy": copy}
    variants |= {name: peer_many(rec) for name, rec in recs.items()}
    return interleaved(len(batches), variants, round_no) | {"changesets": built}


def run(ctx: Context) -> ScenarioResult:
    cfg = ctx.config
    result = ScenarioResult(NAME, TITLE)
    rng = random.Random(2)
    with (
        ctx.database(NAME) as url,
        psycopg.connect(url) as conn,
        peer.recorder(url) as rec,
        peer.recorder(url, db_functions=True) as rec_fn,
    ):
        blog_events.migrate(conn)
        plain_events.migrate(conn)
        for size in cfg.batch_sizes:
            recs = {"peer": rec, "peer_fn": rec_fn}
            if size > peer.PIPELINE_MAX:
                del recs["peer"]
            rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
            count = max(cfg.batch_events, MIN_BATCHES * size)
            for round_no in range(cfg.total_rounds):
                rows = data.rows(count, rng)
                seconds = _round(conn, recs, rows, size, round_no)
                ctx.tick(f"{NAME} {size:,} round {round_no + 1}")
                if round_no >= cfg.warmup:
                    for variant, spent in seconds.items():
                        rates[variant].append(count / spent)
            for variant in VARIANTS:
                if rates[variant]:
                    label = f"{LABELS[variant]}, batches of {size:,}"
                    result.figure(label, "events/s", rates[variant])
            result.target(
                f"insert_many ({size:,}/batch) vs unhashed COPY",
                0.65,
                ratios(rates["hashed"], rates["copy"]),
            )
            for variant in ("peer", "peer_fn"):
                if rates[variant]:
                    result.figure(
                        f"insert_many / {LABELS[variant]}, batches of {size:,}",
                        "x",
                        ratios(rates["hashed"], rates[variant]),
                    )
        report = blog_events.verify_chain(conn)
        assert report.ok, report.breaks
    result.notes.append(
        f"max({cfg.batch_events:,}, {MIN_BATCHES} x batch size) events per contender"
        " per round (so the rotation of contenders has batches to spread a"
        " checkpoint or autovacuum over);"
        " each batch is its own transaction; changesets are built before timing."
    )
    result.notes.append(
        f"eventsourcing's default (pipeline) path is only measured up to"
        f" {peer.PIPELINE_MAX:,} events per call: with 1,800 it hangs (backend in"
        " ClientRead after NOTIFY, client in Pipeline.sync)."
    )
    return result
