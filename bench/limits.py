"""What limits each target when it is missed: findings from profiling, kept
beside the numbers so that a missed target in the report always says why.

Keyed by scenario name; the text is the measured cause and what was already
done about it, not a guess.
"""

from __future__ import annotations

LIMITS: dict[str, str] = {
    "single": (
        "The hashed insert is one round trip against the baseline's three and"
        " the peer's five (libpq trace); the breakdown above prices what it pays"
        " instead, per transaction and measured side by side: the append's server"
        " work over a plain single-statement INSERT (chain lock, chain head read"
        " by seq, SHA-256 over the stored values, the hash column) and the"
        " generated insert() around the append (about half of it psycopg creating"
        " a cursor and dumping parameters through a fresh adapter context, the"
        " rest the changeset, the JSON and the Event). Both ratios are of"
        " fsync-bound figures and move with the machine: the cost of a round trip"
        " (45 us in earlier runs, 80 us in later ones) and of the WAL flush set"
        " them. Earlier full runs measured 0.85-0.98x the plain transaction and"
        " 2.3-2.5x the peer; later ones 1.08-1.11x and 1.95-2.1x. Work on the CPU"
        " costs more with synchronous commit on (compare the on and off rows):"
        " every transaction ends asleep on the flush and the next starts cold."
        " Already done: a scalar-returning plpgsql function, binary results,"
        " cheaper transaction-state checks, compact JSON. Measured and not kept:"
        " an advisory lock instead of LOCK TABLE saves 8-25 us per transaction,"
        " but LOCK TABLE ... IN EXCLUSIVE MODE is the design's chain lock (it also"
        " stops writers that bypass the append functions); one INSERT ... SELECT"
        " that reads the head and hashes in the same statement, LOCK TABLE ONLY,"
        " reading the head by seq = nextval - 1, and a chain head cached in a"
        " session setting and checked against the sequence (no gain in any); one"
        " cursor reused per connection (about 15 us, but a psycopg connection may"
        " be shared by threads and a cursor may not)."
    ),
    "batch": (
        "COPY already pays the foreign-key check and five index inserts per row,"
        " and streams: the client formats rows while the server stores them. The"
        " append's server time is the bottleneck (Python's 5-7 us per event is"
        " hidden behind it by streaming). Measured piece by piece on a 1,000-event"
        " call: about 3 us per event to parse the JSON batch and cast its fields,"
        " 3-4 us to build the pre-images and column arrays, 2-3 us for the serial"
        " SHA-256 loop, and 13 us for the set-based INSERT (heap, five indexes,"
        " the foreign-key check), against COPY's 16-23 us in total. Already done:"
        " batches over 500 events are streamed in chunks through one pipeline and"
        " one transaction, so Python encodes and builds events while PostgreSQL"
        " stores (10,000/batch: 44 -> 32 us per event); compact JSON; pre-images"
        " in one set-based pass; an INSERT from column arrays; binary array"
        " results. Tried and dropped: inserting straight from the JSON elements"
        " zipped with the hashes (ROWS FROM) instead of seven column arrays (no"
        " gain); chunk sizes of 250 and 1,000 (slower) and a first chunk of 128"
        " (within the noise)."
    ),
    "writers": (
        "Appends to one hashed table are serialised by design: the chain lock is"
        " held until commit, including its WAL flush, so commits cannot be"
        " grouped and the lock's holder is the whole critical path. Measured"
        " with raw function calls (no Python work per event): 8 writers vs 1 is"
        " 0.83x with the chain lock and 1.37x with the lock removed (an unsafe"
        " variant built only for the measurement); sampling pg_stat_activity,"
        " 77% of backend time is spent waiting for the chain lock, and the"
        " backend CPU per event doubles (152 -> 295 us, /proc) as 8 backends"
        " take turns on 2 cores with cold caches. An advisory lock does no"
        " better (0.85x). Releasing the lock before the WAL flush would make"
        " events visible before they are durable; not done. Shards are the unit"
        " of write scaling, but on 2 cores the machine itself caps it: from run"
        " to run the unhashed control (no lock at all) reaches 1.1-2.1x with 8"
        " writers, the 4-shard log 0.97-1.46x and the one hashed table"
        " 0.87-1.37x of one writer."
    ),
    "verify": (
        "verify_chain cuts the chain into seq ranges and checks them as a"
        " Parallel Append of a parallel-safe SQL function (a WindowAgg alone"
        " never runs in parallel workers). Per row it does what the bare scan"
        " does (print the payload, about 1 us; SHA-256 over the pre-image, about"
        " 1.5 us) plus what a check needs: reading in seq order through the"
        " index (about 0.1 us more than a sequential scan), the lag() window that"
        " spools every row (about 0.4 us), and the aggregates that count and find"
        " the first break (about 0.1 us). Without parallel workers that is"
        " 0.80-0.81x the bare scan (3.65 s against 2.95 s per 1,000,000 events);"
        " with them both gain alike, and the median moved between 0.76x and"
        " 0.88x over the full runs of the same code on this shared machine."
        " Already done: parallel ranges (the serial window pass was at 0.57x),"
        " the payload printed once per row in the window's projection (3.5%"
        " faster than a LATERAL subquery with all-distinct payloads), hashing"
        " above the window. Tried and dropped: a narrow window joined back to the"
        " rows by seq or by ctid (a hash join, 1.7x slower), printing the payload"
        " twice inline, an explicit ROWS frame for lag(), and ranges of 10,000 or"
        " 20,000 instead of 50,000 (no gain)."
    ),
}
