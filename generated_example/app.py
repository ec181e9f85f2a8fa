"""A small application on the generated modules: a chat whose messages form a tree.

It shows the intended use: build changesets, store them (with links), read a
record back, follow links, verify the chains and keep their heads as anchors.
Run it with `make demo` (an embedded PostgreSQL, no setup needed).
"""

from __future__ import annotations

import uuid
from typing import TypedDict

import psycopg

from generated_example import blog_events, chat_events


class PostPayload(TypedDict):
    """An application's own type for a payload: changeset() takes it as it is."""

    title: str
    tags: list[str]


def post_and_archive(conn: psycopg.Connection[tuple[object, ...]]) -> uuid.UUID:
    """Publish a post, then soft-delete it: two events of one record."""
    tags = ["intro"]  # a list[str], as application code has them
    post: PostPayload = {"title": "Hello", "tags": tags}
    published = blog_events.insert(
        conn,
        blog_events.changeset(
            {
                "schema": blog_events.Schema.Post,
                "action": blog_events.Action.publish,
                "payload": post,
            }
        ),
    )
    blog_events.insert(
        conn, blog_events.changeset(published, {"action": "soft_delete"})
    )
    return published.parent_id


def start_thread(conn: psycopg.Connection[tuple[object, ...]]) -> chat_events.Event:
    """A chat (the record) and a thread of replies, each linked to its ancestors."""
    chat = chat_events.insert(
        conn,
        chat_events.changeset(
            {"schema": chat_events.Schema.Chat, "action": "insert", "payload": {}}
        ),
    )
    ancestors: list[chat_events.Event] = [chat]
    for text in ("hi", "hello back", "how are you?"):
        message = chat_events.insert(
            conn,
            chat_events.changeset(
                chat,
                {
                    "schema": chat_events.Schema.Message,
                    "action": chat_events.Action.insert,
                    "payload": {"text": text},
                },
            ),
            links={"ancestors": list(ancestors)},
        )
        ancestors.append(message)
    return ancestors[-1]


def run(conninfo: str) -> list[str]:
    """Migrate, write, read, verify; return the lines the demo prints."""
    lines: list[str] = []
    with psycopg.connect(conninfo) as conn:
        blog_events.migrate(conn)
        chat_events.migrate(conn)
        post = post_and_archive(conn)
        history = blog_events.events_for(conn, post)
        lines.append(
            "post history: " + ", ".join(event.action.name for event in history)
        )
        last = start_thread(conn)
        ancestors = chat_events.linked(conn, last, chat_events.Link.ancestors)
        lines.append(
            f"last message lives in {last.table}, linked to {len(ancestors)} ancestors"
        )
        for module_report in (
            blog_events.verify_chain(conn),
            chat_events.verify_chain(conn),
        ):
            for table in module_report.tables:
                lines.append(
                    f"chain {table.table}: {table.count} events,"
                    f" {'ok' if table.broken is None else table.broken.reason}"
                )
        head = chat_events.chain_head(conn, last.table)
        lines.append(f"anchor {head.table}: seq {head.seq} hash {head.hash.hex()}")
    return lines
