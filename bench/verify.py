"""Scenario `verify`: `verify_chain` over a large chain against a bare hashing scan.

The chain is loaded with `insert_many` in batches. The baseline is the in-database
limit: one scan computing SHA-256 per row over the bytes a verification hashes
(the stored hash in place of the previous one, every column, the payload's
UTF-8 text; only the payload's 4-byte length is left out, since adding it would
either print each payload twice or, through a subquery, keep the scan out of
parallel workers), with no ordering and no window (`lag(hash)`), so it does
strictly less than a verification. It is run as the server plans it (which may
use parallel workers) and, as extra information, with parallel workers off.
"""

from __future__ import annotations

import functools
import json
import random
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from bench import data
from bench.env import Context
from bench.stats import ScenarioResult, ratios, rotated, timed
from generated_example import blog_events

NAME = "verify"
TITLE = "4. Chain verification (events/s)"

# Every stored column and the stored hash, each converted once per row.
SCAN = sql.SQL(
    "SELECT count(sha256(e.hash || int8send(e.seq) || uuid_send(e.id)"
    " || uuid_send(e.parent_id) || int4send(e.schema) || int4send(e.action)"
    " || timestamptz_send(e.inserted_at)"
    " || coalesce(convert_to(e.payload::text, 'UTF8'), '\\xffffffff'::bytea)))"
    " FROM blog_events AS e"
)
SERIAL = b"SET max_parallel_workers_per_gather = 0"
PARALLEL = b"RESET max_parallel_workers_per_gather"
VARIANTS = ("verify_chain", "scan", "scan_serial")


def steps(ctx: Context) -> int:
    cfg = ctx.config
    loads = -(-cfg.verify_events // cfg.load_batch)
    return loads + cfg.total_rounds * len(VARIANTS)


def _plan(
    conn: psycopg.Connection[TupleRow],
    query: sql.Composable,
    params: list[int] | None = None,
) -> str:
    """A one-line summary of the plan's top nodes and parallel workers."""
    explain = sql.SQL("EXPLAIN (FORMAT JSON) {}").format(query)
    row = conn.execute(explain, params).fetchone()
    assert row is not None
    raw: Any = row[0]
    doc: Any = json.loads(raw) if isinstance(raw, str) else raw
    node: Any = doc[0]["Plan"]
    nodes: list[str] = []
    workers = 0
    while node is not None:
        nodes.append(str(node["Node Type"]))
        workers = max(workers, int(node.get("Workers Planned", 0)))
        children = node.get("Plans") or [None]
        node = children[0]
    return f"{' > '.join(nodes)} ({workers} parallel workers planned)"


def run(ctx: Context) -> ScenarioResult:
    cfg = ctx.config
    result = ScenarioResult(NAME, TITLE)
    rng = random.Random(4)
    total = cfg.verify_events
    with ctx.database(NAME) as url, psycopg.connect(url, autocommit=True) as conn:
        blog_events.migrate(conn)
        loaded, load_seconds = 0, 0.0
        while loaded < total:
            rows = data.rows(min(cfg.load_batch, total - loaded), rng)
            changesets = data.blog_changesets(rows)
            load_seconds += timed(
                functools.partial(blog_events.insert_many, conn, changesets)
            )
            loaded += len(rows)
            ctx.tick(f"{NAME} load {loaded:,}")
        conn.execute(b"VACUUM (ANALYZE) blog_events")

        def verify() -> None:
            report = blog_events.verify_chain(conn)
            assert report.ok and report.count == total, report

        def scan() -> None:
            # Never prepared: a prepared plan would outlive the SET that turns
            # parallel workers off or on, and the two scans would share a plan.
            row = conn.execute(SCAN, prepare=False).fetchone()
            assert row is not None and row[0] == total, row

        def scan_serial() -> None:
            conn.execute(SERIAL)
            try:
                scan()
            finally:
                conn.execute(PARALLEL)

        make = {"verify_chain": verify, "scan": scan, "scan_serial": scan_serial}
        rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for round_no in range(cfg.total_rounds):
            for variant in rotated(VARIANTS, round_no):
                seconds = timed(make[variant])
                ctx.tick(f"{NAME} {variant}")
                if round_no >= cfg.warmup:
                    rates[variant].append(total / seconds)
        # The generated module's own query: one verify call per seq range.
        bounds = conn.execute(blog_events._BOUNDS["blog_events"]).fetchone()
        assert bounds is not None
        low, high = bounds[0], bounds[1]  # then the NULL-seq check's columns
        ranges = blog_events._ranges(low, high)
        query = sql.SQL(
            blog_events._verify_sql("blog_events", len(ranges) // 2).decode()
        )
        result.notes.append(
            f"verify_chain plan ({len(ranges) // 2} seq ranges):"
            f" {_plan(conn, query, ranges)}"
        )
        result.notes.append(f"scan plan: {_plan(conn, SCAN)}")
        size = conn.execute(
            b"SELECT pg_size_pretty(pg_total_relation_size('blog_events'))"
        ).fetchone()
    result.figure(
        f"verify_chain over {total:,} events", "events/s", rates["verify_chain"]
    )
    result.figure("bare SHA-256 scan (server's plan)", "events/s", rates["scan"])
    result.figure(
        "bare SHA-256 scan, no parallel workers", "events/s", rates["scan_serial"]
    )
    result.figure(
        f"load with insert_many ({cfg.load_batch:,}/batch)",
        "events/s",
        [loaded / load_seconds],
    )
    result.target(
        "verify_chain vs bare SHA-256 scan of the same rows",
        0.8,
        ratios(rates["verify_chain"], rates["scan"]),
    )
    result.figure(
        "verify_chain / scan without parallel workers",
        "x",
        ratios(rates["verify_chain"], rates["scan_serial"]),
    )
    result.notes.append(
        f"{total:,} events ({size[0] if size else '?'} with indexes), loaded in"
        f" {load_seconds:.0f} s; VACUUM ANALYZE before measuring."
    )
    return result
