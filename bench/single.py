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
from psycopg import sql
from psycopg.rows import TupleRow

from bench import data, peer
from bench.env import Context
from bench.stats import ScenarioResult, interleaved, ratios, rotated
from bench.trips import turnarounds
from generated_example import blog_events, plain_events

NAME = "single"
TITLE = "1. One event per call (events/s)"
VARIANTS = ("hashed", "plain", "peer")
CHUNK = 20
TRACED = 20  # events whose round trips are counted
COMMIT_MODES = ("on", "off")  # synchronous_commit, for the server-side breakdown
WORK = ("insert", "append", "plain")  # the breakdown's contenders
# The plain INSERT with its payload encoded beforehand, as the append's is.
PLAIN_TEXT_INSERT = data.PLAIN_INSERT.replace(b"%s)", b"%s::jsonb)")


def steps(ctx: Context) -> int:
    return 2 * ctx.config.total_rounds  # the measured rounds, then the breakdown


def _round(
    conn: psycopg.Connection[TupleRow],
    rec: PostgresApplicationRecorder,
    rows: Sequence[data.Row],
    round_no: int,
) -> dict[str, float]:
    chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
    cur = conn.cursor()

    # Each contender builds its input per call, as a caller would: the changeset
    # (cast and validated), the plain row's parameters, the peer's StoredEvent.
    def hashed(i: int) -> None:
        for r in chunks[i]:
            blog_events.insert(conn, data.blog_changeset(r))

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


def _ping(url: str, count: int = 400, block: int = 50) -> dict[str, float]:
    """Median seconds of one `SELECT 1` round trip, three ways in alternating
    blocks of `block` on one connection: through psycopg; through libpq's
    blocking PQexec, whose client sleeps in poll() until the reply; through
    libpq with the client polling the socket without sleeping.

    The last two send the same simple query: their difference is what waking
    the sleeping client costs on this machine, once per round trip (once per
    hashed insert, five times per peer insert).
    """
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.cursor()
        pgconn = conn.pgconn

        def psycopg_trip() -> object:
            row = cur.execute(b"SELECT 1", prepare=False).fetchone()
            return None if row is None else row[0]

        def sleeping() -> bytes | None:
            return pgconn.exec_(b"SELECT 1").get_value(0, 0)

        def polling() -> bytes | None:
            pgconn.send_query(b"SELECT 1")
            while pgconn.flush():
                pass
            pgconn.consume_input()
            while pgconn.is_busy():
                pgconn.consume_input()
            result = pgconn.get_result()
            end = pgconn.get_result()  # None: the query's results are all read
            if result is None or end is not None:
                raise RuntimeError("SELECT 1 did not return exactly one result")
            return result.get_value(0, 0)

        ways: dict[str, Callable[[], object]] = {
            "psycopg": psycopg_trip,
            "sleeping": sleeping,
            "polling": polling,
        }
        samples: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(count // block):
            for name, trip in ways.items():
                for _ in range(block):
                    start = time.perf_counter()
                    value = trip()
                    samples[name].append(time.perf_counter() - start)
                    if value not in (1, b"1"):  # psycopg loads it, libpq not
                        raise RuntimeError(f"SELECT 1 returned {value!r}")
    return {name: statistics.median(s) for name, s in samples.items()}


def _server_work(ctx: Context, url: str, rng: random.Random) -> dict[str, list[float]]:
    """Microseconds per one-statement autocommit transaction, with
    synchronous_commit on and off: `insert()`, the append function it calls (one
    prepared execute of ready parameters), and a plain INSERT of the same row.

    The append and the plain INSERT are the same client work (parameters and
    compact JSON built beforehand, one prepared execute, binary results), so
    their gap is the append's server work. `insert()` gets changesets built
    beforehand and an autocommit connection (so no autocommit switches): its
    gap over the append is the generated wrapper's Python. The two commit modes
    show how much the wait for the WAL flush makes each dearer.
    """
    cfg = ctx.config
    events = cfg.single_events // 3
    out: dict[str, list[float]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for round_no in range(cfg.total_rounds):
            for mode in rotated(COMMIT_MODES, round_no):
                conn.execute(sql.SQL("SET synchronous_commit = {}").format(mode))
                seconds = _statements(conn, [data.rows(events, rng) for _ in WORK])
                if round_no < cfg.warmup:
                    continue
                for kind, total in seconds.items():
                    out.setdefault(f"{kind} {mode}", []).append(total / events * 1e6)
            ctx.tick(f"{NAME} breakdown {round_no + 1}")
    return out


def _statements(
    conn: psycopg.Connection[TupleRow], rows: Sequence[Sequence[data.Row]]
) -> dict[str, float]:
    """Seconds for each of WORK over its own rows, one row per statement."""
    cur = conn.cursor()
    changesets = data.blog_changesets(rows[0])
    statement = blog_events._SQL["blog_events"].append_one
    appends = [
        blog_events._one(cs.apply(), None) for cs in data.blog_changesets(rows[1])
    ]
    plains = [
        (r.id, r.parent_id, data.SCHEMA, r.action, blog_events._encode(r.payload))
        for r in rows[2]
    ]

    def insert(i: int) -> None:
        blog_events.insert(conn, changesets[i])

    def append(i: int) -> None:
        cur.execute(statement, appends[i], binary=True)

    def plain(i: int) -> None:
        cur.execute(PLAIN_TEXT_INSERT, plains[i], binary=True)

    work = {"insert": insert, "append": append, "plain": plain}
    return interleaved(len(plains), work)


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
        conn.commit()  # trips start on an idle connection
        trips = _trips(conn, rec, rng)
        ping = _ping(url)
        work = _server_work(ctx, url, rng)
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
        + f"; one bare round trip (`SELECT 1`) costs {ping['psycopg'] * 1e6:.0f} us"
        f" here through psycopg, {ping['sleeping'] * 1e6:.0f} us through libpq's"
        " blocking PQexec (the client sleeps until the reply) and"
        f" {ping['polling'] * 1e6:.0f} us through libpq with the client polling"
        " the socket instead (medians, in alternating blocks): the difference"
        " of the last two is the cost of waking a sleeping process on this"
        " machine, paid once per round trip."
    )
    labels = {
        "insert": "insert()",
        "append": "append function alone",
        "plain": "plain INSERT alone",
    }
    for mode in COMMIT_MODES:
        for kind in WORK:
            result.figure(
                f"{labels[kind]} per transaction, synchronous_commit {mode}",
                "us",
                work[f"{kind} {mode}"],
            )
    result.figure(
        "insert() vs plain INSERT alone, both one autocommit statement,"
        " synchronous_commit on",
        "x",
        ratios(work["plain on"], work["insert on"]),  # time ratio: plain / insert
    )
    gap = {  # medians of per-round differences
        (a, b, mode): statistics.median(
            x - y for x, y in zip(work[f"{a} {mode}"], work[f"{b} {mode}"], strict=True)
        )
        for a, b in (("append", "plain"), ("insert", "append"))
        for mode in COMMIT_MODES
    }
    result.notes.append(
        "per transaction, one prepared statement in autocommit: the append's"
        " server work (chain lock, chain head, SHA-256, hash column) over a plain"
        f" INSERT costs {gap['append', 'plain', 'on']:.0f} us with"
        f" synchronous_commit on ({gap['append', 'plain', 'off']:.0f} us off);"
        " the generated insert() around it (changeset to event, JSON, cursor,"
        f" result to Event) {gap['insert', 'append', 'on']:.0f} us"
        f" ({gap['insert', 'append', 'off']:.0f} us off)."
    )
    result.notes.append(
        f"{cfg.single_events} events per contender per round, one per call, in"
        f" interleaved chunks of {CHUNK}; each call builds its own input (changeset,"
        " parameters, StoredEvent) inside the timing; durability is the server's"
        " (synchronous_commit and fsync as listed)."
    )
    return result
