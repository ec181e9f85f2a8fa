"""The workload: the same event rows, shaped for each contender.

Records have `PER_RECORD` events: the first is the record's `insert` (its id is
its parent id, a random UUID so the sharded log spreads over every shard), the
rest are `update`s of that parent. Payloads are small JSON documents (~250 bytes).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from typing import Final

from eventsourcing.persistence import StoredEvent
from psycopg import sql
from psycopg.types.json import Jsonb

from generated_example import blog_events, chat_events
from generated_example.blog_events import JsonObject, JsonValue

PER_RECORD = 10
POOL = 512  # distinct payloads
SCHEMA = 1  # blog_events.Schema.Post, chat_events.Schema.Message, plain Post
TOPIC = "bench.domain:Post.Event"

# bytes, as the generated module's statements are: a sql.SQL would be rendered
# again on every call of the baseline.
PLAIN_INSERT = (
    b"INSERT INTO plain_events (id, parent_id, schema, action, payload)"
    b" VALUES (%s, %s, %s, %s, %s)"
)
PLAIN_COPY = sql.SQL(
    "COPY plain_events (id, parent_id, schema, action, payload, inserted_at) FROM STDIN"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One event, independent of any contender."""

    id: uuid.UUID
    parent_id: uuid.UUID
    version: int  # position in its record, from 1 (the peer's originator_version)
    action: int  # 1 insert, 2 update
    payload: JsonObject


def _make_payload(rng: random.Random, n: int) -> JsonObject:
    tags: list[JsonValue] = [*rng.sample(["db", "py", "pg", "hash", "log"], 2)]
    return {
        "title": f"post {n}",
        "body": "".join(rng.choices("abcdefghij klmnopqrstuvwxyz", k=160)),
        "n": n,
        "score": rng.random(),
        "tags": tags,
        "draft": n % 3 == 0,
    }


_POOL: Final = tuple(_make_payload(random.Random(n), n) for n in range(POOL))


def _payload(rng: random.Random, n: int) -> JsonObject:
    """A payload from a fixed pool (generating them is not what we measure), with
    the row's own number: no two rows of a call repeat a payload, so PostgreSQL
    cannot reuse one payload's conversion for another (a Memoize node would)."""
    return {**_POOL[rng.randrange(POOL)], "n": n}


def rows(count: int, rng: random.Random) -> list[Row]:
    """`count` events in whole records (the last record may be cut short)."""
    return list(_rows(count, rng))


def stream(rng: random.Random) -> Iterator[Row]:
    """An endless stream of rows, in whole records."""
    return _rows(None, rng)


def _rows(count: int | None, rng: random.Random) -> Iterator[Row]:
    parent = uuid.UUID(int=rng.getrandbits(128), version=4)
    for n in itertools.count() if count is None else range(count):
        version = n % PER_RECORD + 1
        if version == 1:
            parent = uuid.UUID(int=rng.getrandbits(128), version=4)
            event_id = parent
        else:
            event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        yield Row(event_id, parent, version, 1 if version == 1 else 2, _payload(rng, n))


def blog_changesets(items: Sequence[Row]) -> list[blog_events.EventChangeset]:
    out = []
    for r in items:
        cs = blog_events.changeset(
            {
                "id": r.id,
                "parent_id": r.parent_id,
                "schema": blog_events.Schema(SCHEMA),
                "action": blog_events.Action(r.action),
                "payload": r.payload,
            }
        )
        assert cs.valid, cs.errors
        out.append(cs)
    return out


def chat_changeset(r: Row) -> chat_events.EventChangeset:
    cs = chat_events.changeset(
        {
            "id": r.id,
            "parent_id": r.parent_id,
            "schema": chat_events.Schema(SCHEMA),
            "action": chat_events.Action(r.action),
            "payload": r.payload,
        }
    )
    assert cs.valid, cs.errors
    return cs


def blog_changeset(r: Row) -> blog_events.EventChangeset:
    return blog_changesets([r])[0]


def plain_params(r: Row) -> tuple[uuid.UUID, uuid.UUID, int, int, Jsonb]:
    return (r.id, r.parent_id, SCHEMA, r.action, Jsonb(r.payload))


def copy_row(
    r: Row, now: datetime.datetime
) -> tuple[uuid.UUID, uuid.UUID, int, int, Jsonb, datetime.datetime]:
    return (r.id, r.parent_id, SCHEMA, r.action, Jsonb(r.payload), now)


def stored_event(r: Row) -> StoredEvent:
    """The peer's form: serialised state bytes, versioned per originator."""
    state = json.dumps(r.payload, separators=(",", ":")).encode()
    return StoredEvent(r.parent_id, r.version, TOPIC, state)
