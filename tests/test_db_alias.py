"""Renaming an action with an alias keeps stored events readable and verifiable."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from tests import dbkit
from tests.dbkit import Conn
from tests.specmods import generate_module

pytestmark = pytest.mark.db

V1 = """\
version: 1
module: renamed_events
table: renamed_events
hashed: true
schemas:
  - name: Post
    actions: [archive]
"""

V2 = """\
version: 1
module: renamed_events
table: renamed_events
hashed: true
schemas:
  - name: Post
    actions: [soft_delete]
aliases:
  soft_delete: archive
"""


def _generate(
    tmp_path: Path, version: str, spec_text: str, loaded: list[str]
) -> types.ModuleType:
    return generate_module(tmp_path / version, spec_text, loaded, "renamed_events")


def test_alias_rename_after_events_were_stored(
    tmp_path: Path, database: str, conn: Conn, loaded: list[str]
) -> None:
    v1 = _generate(tmp_path, "v1", V1, loaded)
    v1.migrate(conn)
    post = v1.insert(conn, v1.changeset({"schema": "Post", "action": "insert"}))
    archived = [
        v1.insert(conn, v1.changeset(post, {"action": "archive", "payload": {"n": n}}))
        for n in range(3)
    ]
    assert {e.action for e in archived} == {v1.Action.archive}
    assert v1.verify_chain(conn).ok

    v2 = _generate(tmp_path, "v2", V2, loaded)
    assert v2.TABLE == v1.TABLE and v2.SHARD_TABLES == v1.SHARD_TABLES
    assert dict(v2.ALIASES) == {"soft_delete": "archive"}
    assert v2.Action["archive"] is v2.Action.soft_delete
    assert int(v2.Action.soft_delete) == int(v1.Action.archive)
    v2.migrate(conn)
    report = v2.verify_chain(conn)
    assert report.ok and report.count == 4
    assert v2.verify_chain_locally(conn) == report
    events = v2.events_for(conn, post.id)
    assert [e.action for e in events[1:]] == [v2.Action.soft_delete] * 3
    assert [e.hash for e in events] == [post.hash, *(e.hash for e in archived)]
    assert v2.changeset(events[-1], {"action": "archive"}).valid
    again = v2.insert(conn, v2.changeset(events[-1], {"action": "soft_delete"}))
    assert again.action is v2.Action.soft_delete
    assert v2.verify_chain(conn).ok
    conn.commit()  # the reads above opened a transaction; `again` is part of it
    action = int(v2.Action.soft_delete)
    query = "SELECT count(*) FROM renamed_events WHERE action = %s"
    assert dbkit.scalar(database, query, (action,)) == 4
