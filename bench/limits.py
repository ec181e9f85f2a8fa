"""What limits each target when it is missed: findings from profiling, kept
beside the numbers so that a missed target in the report always says why.

Keyed by scenario name; the text is the measured cause and what was already
done about it, not a guess.
"""

from __future__ import annotations

LIMITS: dict[str, str] = {
    "single": (
        "The hashed insert is one round trip against the baseline's three"
        " (libpq trace), but the plpgsql append (lock, chain head, sha256,"
        " insert) costs about 72-80 us of server time per transaction against"
        " 45-56 us for a plain INSERT (pgbench, no Python). On a local Unix"
        " socket (about 40 us per trip) the extra server work cancels most of"
        " the two trips saved; over TCP the hashed insert gains. Already done:"
        " a scalar-returning function (no tuplestore), binary results, cheaper"
        " transaction-state checks."
    ),
    "batch": (
        "COPY already pays the foreign-key check and five index inserts per row."
        " The append's server time alone (parse the JSON batch, chain SHA-256"
        " serially, one set-based INSERT) is 27-30 us per event against COPY's"
        " 23 us in total, plus about 8 us of Python encoding and 3 us building"
        " Event objects. Already done: pre-images in one set-based pass, an"
        " INSERT from column arrays, seqs and hashes returned as two binary"
        " arrays, work_mem for the function so its sorts stay in memory."
    ),
    "writers": (
        "Appends to one hashed table are serialised by design: the chain lock is"
        " held through commit, including its WAL flush, so 8 threads can at best"
        " match one writer; lock wake-ups on 2 cores cost the rest. Shards are"
        " the unit of write scaling (see the 4-shard figure)."
    ),
    "verify": (
        "verify_chain needs each row's predecessor (lag over seq), and"
        " PostgreSQL cannot run a WindowAgg in parallel workers, while the bare"
        " scan uses them. Against the serial scan it is close (about 0.85x in a"
        " focused A/B). Already done: the payload is printed once per row and"
        " hashing runs above the window. A range-split verifier did not get a"
        " parallel plan; splitting across connections would change the API."
    ),
}
