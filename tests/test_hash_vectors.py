"""docs/hash-chain.md's test vectors hold for Python and for PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import uuid

import psycopg
import pytest

from generated_example import blog_events
from tests.conftest import ROOT

DOC = ROOT / "docs" / "hash-chain.md"


@dataclasses.dataclass(frozen=True)
class Vector:
    seq: int
    id: uuid.UUID
    parent_id: uuid.UUID
    schema: int
    action: int
    inserted_at: datetime.datetime
    payload_text: str | None
    hash: bytes


def _vectors() -> list[Vector]:
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", DOC.read_text(), flags=re.M)
    out: list[Vector] = []
    for _, rest in rows:
        cells = [cell.strip() for cell in rest.split(" | ")]
        seq, id_, parent, schema, action, stamp, payload, digest = cells
        out.append(
            Vector(
                int(seq),
                uuid.UUID(id_),
                uuid.UUID(parent),
                int(schema),
                int(action),
                datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.UTC),
                None if payload == "NULL" else payload.strip("`"),
                bytes.fromhex(digest),
            )
        )
    return out


VECTORS = _vectors()


def test_the_document_has_vectors() -> None:
    assert [v.seq for v in VECTORS] == [1, 2, 3]


def test_python_event_hash_matches_every_vector() -> None:
    previous = blog_events.GENESIS
    for v in VECTORS:
        digest = blog_events.event_hash(
            previous,
            seq=v.seq,
            id=v.id,
            parent_id=v.parent_id,
            schema=v.schema,
            action=v.action,
            inserted_at=v.inserted_at,
            payload_text=v.payload_text,
        )
        assert digest == v.hash, f"vector {v.seq}"
        previous = digest


def test_documented_preimage_of_vector_one() -> None:
    block = DOC.read_text().split("The full pre-image of vector 1")[1]
    hexed = "".join(re.findall(r"^    ([0-9a-f]+)$", block, flags=re.M))
    assert hashlib.sha256(bytes.fromhex(hexed)).digest() == VECTORS[0].hash


def test_postgresql_computes_the_same_hashes(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    previous = blog_events.GENESIS
    for v in VECTORS:
        row = conn.execute(
            "SELECT sha256(%s::bytea || int8send(%s::bigint) || uuid_send(%s::uuid)"
            " || uuid_send(%s::uuid) || int4send(%s::integer)"
            " || int4send(%s::integer) || timestamptz_send(%s::timestamptz)"
            " || CASE WHEN %s::jsonb IS NULL THEN decode('ffffffff', 'hex')"
            " ELSE int4send(octet_length(convert_to(%s::jsonb::text, 'UTF8')))"
            " || convert_to(%s::jsonb::text, 'UTF8') END)",
            (
                previous,
                v.seq,
                v.id,
                v.parent_id,
                v.schema,
                v.action,
                v.inserted_at,
                v.payload_text,
                v.payload_text,
                v.payload_text,
            ),
        ).fetchone()
        assert row is not None
        assert row[0] == v.hash, f"vector {v.seq}"
        previous = v.hash


@pytest.mark.parametrize(
    "given",
    [
        '{"\\u00e9": "\\ud83d\\ude00", "n": 1.50}',
        '{"n": 1.50, "é": "😀", "n": 1.50}',
        '{"é":"😀","n":1.50}',
    ],
)
def test_jsonb_prints_vector_three_payload_from_any_spelling(
    conn: psycopg.Connection[tuple[object, ...]], given: str
) -> None:
    row = conn.execute("SELECT %s::jsonb::text", (given,)).fetchone()
    assert row is not None
    assert row[0] == VECTORS[2].payload_text


def test_verify_rows_of_nothing_and_of_a_bad_row() -> None:
    """No rows is an empty, intact chain; a None row is an error of the caller's,
    never taken for the end of the rows (which a StopIteration inside map()
    would silently turn into fewer results)."""
    empty = blog_events.verify_rows("blog_events", [])
    assert empty.count == 0 and empty.broken is None
    assert empty.head == blog_events.ChainHead("blog_events", 0, blog_events.GENESIS)
    rows: list[object] = [None]
    with pytest.raises(AttributeError):
        list(map(lambda r: blog_events.verify_rows("blog_events", r), [rows]))  # type: ignore[arg-type]
