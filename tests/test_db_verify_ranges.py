"""verify_chain cuts a long chain into seq ranges that parallel workers check.

Each range is one call of the table's verify function; the first event of a
range is checked against the stored hash of the last event before the range.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from generated_example import blog_events as blog
from tests import dbkit
from tests.dbkit import Conn


@given(
    low=st.integers(-(2**63), 2**62),
    span=st.integers(0, 10**9),
    size=st.integers(1, 10**6),
)
def test_ranges_cover_the_span_without_gaps_or_overlaps(
    low: int, span: int, size: int
) -> None:
    high = min(low + span, 2**63 - 1)
    original = blog.VERIFY_RANGE
    try:
        blog.VERIFY_RANGE = size  # type: ignore[misc]
        bounds = blog._ranges(low, high)
    finally:
        blog.VERIFY_RANGE = original  # type: ignore[misc]
    pairs = list(zip(bounds[::2], bounds[1::2], strict=True))
    assert pairs[0][0] == low and pairs[-1][1] == high
    assert all(lo <= hi for lo, hi in pairs)  # both ends included, never empty
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(pairs))
    assert all(-(2**63) <= bound < 2**63 for bound in bounds)  # bigint parameters
    assert len(pairs) <= blog._MAX_RANGES
    if len(pairs) < blog._MAX_RANGES:
        assert all(hi - lo + 1 <= size for lo, hi in pairs)


@pytest.mark.db
def test_a_long_chain_is_checked_range_by_range(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    blog.migrate(conn)
    rng = random.Random(7)
    events = blog.insert_many(
        conn,
        [
            blog.changeset(
                {"schema": "Post", "action": "insert", "payload": {"n": rng.random()}}
            )
            for _ in range(1_000)
        ],
    )
    whole = blog.verify_chain(conn)
    monkeypatch.setattr(blog, "VERIFY_RANGE", 37)
    ranged = blog.verify_chain(conn)
    assert whole == ranged
    assert ranged.ok and ranged.count == 1_000
    (table,) = ranged.tables
    assert table.head == blog.chain_head(conn, "blog_events")
    assert (table.head.seq, table.head.hash) == (events[-1].seq, events[-1].hash)
    dbkit.assert_same_reports(ranged, blog.verify_chain_locally(conn))


@pytest.mark.db
def test_ranges_are_planned_as_a_parallel_append(conn: Conn) -> None:
    blog.migrate(conn)
    with conn.transaction():
        conn.execute(b"SET LOCAL max_parallel_workers_per_gather = 2")
        bounds = blog._ranges(1, 400_000)  # 8 ranges of 50,000
        query = blog._verify_sql("blog_events", len(bounds) // 2)
        row = conn.execute(b"EXPLAIN (FORMAT JSON) " + query, bounds).fetchone()
    assert row is not None
    raw: Any = row[0]
    top = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    assert top["Node Type"] == "Gather" and top["Workers Planned"] >= 1
    (append,) = top["Plans"]
    assert (append["Node Type"], append["Parallel Aware"]) == ("Append", True)
    calls = {child["Function Name"] for child in append["Plans"]}
    assert calls == {"blog_events_verify"} and len(append["Plans"]) == 8


@pytest.mark.db
@pytest.mark.parametrize("workers", [0, 2])
def test_ranges_give_one_report_with_or_without_parallel_workers(
    conn: Conn, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    blog.migrate(conn)
    post: blog.EventAttrs = {"schema": "Post", "action": "insert"}
    events = blog.insert_many(conn, [blog.changeset(post) for _ in range(300)])
    monkeypatch.setattr(blog, "VERIFY_RANGE", 7)
    with conn.transaction():
        conn.execute(f"SET LOCAL max_parallel_workers_per_gather = {workers}".encode())
        report = blog.verify_chain(conn)
    assert report.ok and report.count == 300
    last = events[-1]
    assert last.hash is not None
    assert report.tables[0].head == blog.ChainHead("blog_events", last.seq, last.hash)
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))


TAMPERINGS = {
    "intact": [],
    "payload": ["UPDATE blog_events SET payload = '{\"n\": 99}' WHERE seq = 5"],
    "hash": ["UPDATE blog_events SET hash = sha256('x') WHERE seq = 5"],
    "short_hash": ["UPDATE blog_events SET hash = '\\x01' WHERE seq = 5"],
    "first_row": ["UPDATE blog_events SET action = 3 WHERE seq = 1"],
    "last_row": ["UPDATE blog_events SET hash = sha256('y') WHERE seq = 12"],
    "swapped": [
        "UPDATE blog_events SET seq = -4 WHERE seq = 4",
        "UPDATE blog_events SET seq = 4 WHERE seq = 5",
        "UPDATE blog_events SET seq = 5 WHERE seq = -4",
    ],
    # Hashes of another length just below a range that starts at seq 5.
    "long_head": ["UPDATE blog_events SET hash = hash || hash WHERE seq = 4"],
    "short_head": ["UPDATE blog_events SET hash = substr(hash, 1, 31) WHERE seq = 4"],
}


def _tampered(database: str, conn: Conn, statements: list[str]) -> None:
    """12 events in one chain, then `statements` run with the triggers off."""
    blog.migrate(conn)
    post: blog.EventAttrs = {"schema": "Post", "action": "insert", "payload": {}}
    blog.insert_many(conn, [blog.changeset(post) for _ in range(12)])
    conn.commit()
    with dbkit.connect(database) as attacker:
        attacker.execute("ALTER TABLE blog_events DISABLE TRIGGER USER")
        for statement in statements:
            attacker.execute(statement.encode())
        attacker.execute("ALTER TABLE blog_events ENABLE TRIGGER USER")


def _both_paths(conn: Conn, lo: int, hi: int) -> tuple[Any, Any]:
    """The verify function's row for lo..hi, and for the same rows in a range
    too long for the offset path, which pairs them with lag() instead."""
    query = b"SELECT * FROM blog_events_verify(%s, %s)"
    by_offset = conn.execute(query, (lo, hi)).fetchone()
    by_lag = conn.execute(query, (lo, hi + 1_000_000)).fetchone()
    return by_offset, by_lag


@pytest.mark.db
@pytest.mark.parametrize("case", TAMPERINGS)
def test_a_range_starting_mid_chain_agrees_with_the_lag_path(
    database: str, conn: Conn, case: str
) -> None:
    """The first row of a range is checked against the whole stored hash below
    it, on the offset path as on the lag() path."""
    _tampered(database, conn, TAMPERINGS[case])
    by_offset, by_lag = _both_paths(conn, 5, 12)
    assert by_offset == by_lag
    assert by_offset is not None and by_offset[0] == 8
    if case.endswith("_head"):
        assert by_offset[1] == 5


@pytest.mark.db
def test_a_range_as_wide_as_bigint_is_checked_without_overflow(conn: Conn) -> None:
    blog.migrate(conn)
    post: blog.EventAttrs = {"schema": "Post", "action": "insert", "payload": {}}
    events = blog.insert_many(conn, [blog.changeset(post) for _ in range(12)])
    query = b"SELECT * FROM blog_events_verify(%s, %s)"
    row = conn.execute(query, (-(2**63), 2**63 - 1)).fetchone()
    assert row == (12, None, None, 12, events[-1].hash)


@pytest.mark.db
@pytest.mark.parametrize("lo", [1, 5, 13, 20])
def test_an_empty_range_reports_no_rows_and_no_head(conn: Conn, lo: int) -> None:
    blog.migrate(conn)
    post: blog.EventAttrs = {"schema": "Post", "action": "insert", "payload": {}}
    blog.insert_many(conn, [blog.changeset(post) for _ in range(12)])
    row = conn.execute(b"SELECT * FROM blog_events_verify(%s, %s)", (lo, lo - 1))
    assert row.fetchone() == (0, None, None, None, None)


@pytest.mark.db
@pytest.mark.parametrize("case", TAMPERINGS)
def test_a_gapless_range_and_the_lag_path_give_the_same_result(
    database: str, conn: Conn, case: str
) -> None:
    """A range with every seq present takes predecessors by offset; the same rows
    in a range too long for that path pair them with lag(). Both must agree."""
    _tampered(database, conn, TAMPERINGS[case])
    by_offset, by_lag = _both_paths(conn, 1, 12)
    assert by_offset == by_lag
    assert by_offset is not None and by_offset[0] == 12
    report = blog.verify_chain(conn)
    assert report.ok == (case == "intact")
    if not report.ok:
        assert report.breaks[0].seq == by_offset[1]
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))


GAPPED_TAMPERINGS = {
    "intact": [],
    "payload": ["UPDATE blog_events SET payload = '{\"n\": 99}' WHERE seq = 5"],
    "hash": ["UPDATE blog_events SET hash = sha256('x') WHERE seq = 5"],
    "short_hash": ["UPDATE blog_events SET hash = '\\x01' WHERE seq = 5"],
    "first_row": ["UPDATE blog_events SET action = 3 WHERE seq = 1"],
    "before_gap": ["UPDATE blog_events SET hash = sha256('z') WHERE seq = 6"],
    "after_gap": ["UPDATE blog_events SET action = 3 WHERE seq = 10"],
    "last_row": ["UPDATE blog_events SET hash = sha256('y') WHERE seq = 15"],
    "swapped": [
        "UPDATE blog_events SET seq = -4 WHERE seq = 4",
        "UPDATE blog_events SET seq = 4 WHERE seq = 5",
        "UPDATE blog_events SET seq = 5 WHERE seq = -4",
    ],
    "moved_into_gap": ["UPDATE blog_events SET seq = 8 WHERE seq = 11"],
}


@pytest.mark.db
@pytest.mark.parametrize("lo", [1, 7])  # 7: the range starts inside the gap
@pytest.mark.parametrize("case", GAPPED_TAMPERINGS)
def test_a_range_with_a_gap_or_starting_in_one_is_checked_alike(
    database: str, conn: Conn, case: str, lo: int
) -> None:
    """A range with a gap (seqs burned by a rolled-back batch) pairs rows with
    lag(); whether it ends at the chain's head or runs far past it, and whether
    it starts before the gap or inside it, the result is the same and matches
    the Python verifier, tampered or not."""
    blog.migrate(conn)
    post: blog.EventAttrs = {"schema": "Post", "action": "insert", "payload": {}}
    blog.insert_many(conn, [blog.changeset(post) for _ in range(6)])
    with conn.transaction():
        blog.insert_many(conn, [blog.changeset(post) for _ in range(3)])
        raise psycopg.Rollback()  # seqs 7-9 are burned: a gap
    blog.insert_many(conn, [blog.changeset(post) for _ in range(6)])
    conn.commit()
    with dbkit.connect(database) as attacker:
        attacker.execute("ALTER TABLE blog_events DISABLE TRIGGER USER")
        for statement in GAPPED_TAMPERINGS[case]:
            attacker.execute(statement.encode())
        attacker.execute("ALTER TABLE blog_events ENABLE TRIGGER USER")
    by_offset, by_lag = _both_paths(conn, lo, 15)
    assert by_offset == by_lag
    assert by_offset is not None and by_offset[0] > 0
    report = blog.verify_chain(conn)
    assert report.ok == (case == "intact")
    dbkit.assert_same_reports(report, blog.verify_chain_locally(conn))
