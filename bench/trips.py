"""Count client-server round trips with libpq's protocol trace (PQtrace).

A round trip is a turnaround: the client sent messages, then had to wait for the
server's answer. Messages sent back to back without waiting (pipeline mode)
count once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import psycopg


def turnarounds(conn: psycopg.Connection[Any], action: Callable[[], object]) -> int:
    """How many times the client waited for the server while `action` ran on `conn`."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as trace:
        conn.pgconn.trace(trace.fileno())
        try:
            action()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        trips, previous = 0, ""
        for line in trace:
            fields = line.split("\t", 3)
            if len(fields) < 3:
                continue
            direction = fields[1]
            if direction == "B" and previous == "F":
                trips += 1
            previous = direction
    return trips
