"""Reads of typed links, and arguments of the wrong kind at the public functions:
each is a clear error raised before any database work, never an AttributeError
or KeyError from inside the module, nor a silently empty answer."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import uuid
from typing import Any, cast

import psycopg
import pytest

from generated_example import blog_events as blog
from generated_example import chat_events as chat
from tests import dbkit
from tests.dbkit import Conn

pytestmark = pytest.mark.db


def _record(conn: Conn, n: int) -> chat.Event:
    attrs: chat.EventAttrs = {
        "id": dbkit.shard_uuid(n),
        "schema": "Chat",
        "action": "insert",
    }
    return chat.insert(conn, chat.changeset(attrs))


def test_linked_types_reads_each_link_rows_type(database: str, conn: Conn) -> None:
    chat.migrate(conn)
    root, other = _record(conn, 2), _record(conn, 2)
    attrs: chat.EventAttrs = {"schema": "Message", "action": "insert"}
    links: chat.EventLinks = {"mentions": [(other, 7), (root, 1), (other, 2)]}
    reply = chat.insert(conn, chat.changeset(root, attrs), links=links)
    mentions: chat.TypedLink = chat.Link.mentions
    assert chat.linked_types(conn, reply, mentions) == [
        (root, 1),
        (other, 2),
        (other, 7),
    ]
    assert chat.linked(conn, reply, mentions) == [root, other, other]
    assert chat.linked_types(conn, reply, mentions, link_type=7) == [(other, 7)]

    async def read() -> list[tuple[chat.Event, int]]:
        async with await psycopg.AsyncConnection.connect(database) as aconn:
            return await chat.alinked_types(aconn, reply, mentions)

    assert asyncio.run(read()) == [(root, 1), (other, 2), (other, 7)]
    untyped: Any = chat.Link.ancestors  # mypy refuses it; at run time, too
    with pytest.raises(ValueError, match="link 'ancestors' is not typed"):
        chat.linked_types(conn, reply, untyped)


@pytest.mark.parametrize(
    ("link_type", "error", "match"),
    [
        (True, TypeError, "link_type must be an int, got True"),
        (1.5, TypeError, "link_type must be an int, got 1.5"),
        ("1", TypeError, "link_type must be an int, got '1'"),
        (2**31, ValueError, "out of integer range"),
        (-(2**31) - 1, ValueError, "out of integer range"),
    ],
)
def test_a_bad_link_type_is_refused_before_the_query(
    conn: Conn, link_type: Any, error: type[Exception], match: str
) -> None:
    chat.migrate(conn)
    root = _record(conn, 1)
    with pytest.raises(error, match=match):
        chat.linked(conn, root, chat.Link.mentions, link_type=link_type)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_link_type_on_an_untyped_link_is_refused(conn: Conn) -> None:
    """It used to read as no links at all."""
    chat.migrate(conn)
    root = _record(conn, 1)
    attrs: chat.EventAttrs = {"schema": "Message", "action": "insert"}
    reply = chat.insert(conn, chat.changeset(root, attrs), links={"ancestors": [root]})
    assert chat.linked(conn, reply, chat.Link.ancestors) == [root]
    with pytest.raises(ValueError, match="link 'ancestors' is not typed"):
        chat.linked(conn, reply, chat.Link.ancestors, link_type=1)


def test_an_event_of_another_module_is_a_type_error(conn: Conn) -> None:
    blog.migrate(conn)
    chat.migrate(conn)
    post = blog.insert(conn, blog.changeset({"schema": "Post", "action": "insert"}))
    root = _record(conn, 0)
    with pytest.raises(TypeError, match=r"expected an Event of .*chat_events, got"):
        chat.previous_events(conn, post)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expected an Event of .*chat_events, got"):
        chat.linked(conn, post, chat.Link.ancestors)  # type: ignore[arg-type]
    assert chat.previous_events(conn, root) == [root]


@pytest.mark.parametrize("module", [blog, chat], ids=["unsharded", "sharded"])
def test_a_record_id_that_is_not_a_uuid_is_a_type_error(
    conn: Conn, module: Any
) -> None:
    module.migrate(conn)
    text = str(uuid.uuid4())
    with pytest.raises(TypeError, match=r"parent_id must be a uuid\.UUID, got '"):
        module.events_for(conn, text)
    with pytest.raises(TypeError, match=r"parent_id must be a uuid\.UUID"):
        module.table_for(text)


def test_insert_of_a_mapping_is_a_type_error(database: str, conn: Conn) -> None:
    blog.migrate(conn)
    attrs = {"schema": "Post", "action": "insert"}
    with pytest.raises(TypeError, match="expected an EventChangeset or a PendingEvent"):
        blog.insert(conn, attrs)  # type: ignore[arg-type]
    assert dbkit.count(database, "blog_events") == 0


def test_one_link_target_outside_a_list_is_invalid_not_split(conn: Conn) -> None:
    """A bare UUID string used to be read character by character."""
    chat.migrate(conn)
    root = _record(conn, 3)
    attrs: chat.EventAttrs = {"schema": "Message", "action": "insert"}
    for targets in (str(root.id), root, root.id, root.id.bytes):
        bad: Any = {"ancestors": targets}
        with pytest.raises(chat.InvalidEvent, match="must be a list of targets"):
            chat.insert(conn, chat.changeset(root, attrs), links=bad)
    assert chat.events_for(conn, root.id) == [root]
    # Any other sequence is a list of targets.
    links: chat.EventLinks = {"ancestors": collections.UserList([root])}
    reply = chat.insert(conn, chat.changeset(root, attrs), links=links)
    assert chat.linked(conn, reply, chat.Link.ancestors) == [root]


def test_an_event_with_a_payload_is_hashable_by_id(conn: Conn) -> None:
    blog.migrate(conn)
    post = blog.insert(
        conn,
        blog.changeset({"schema": "Post", "action": "insert", "payload": {"a": 1}}),
    )
    (read,) = blog.events_for(conn, post.id)
    assert read == post and hash(read) == hash(post) == hash(post.id)
    assert {post, read} == {post}


def test_none_for_a_connection_is_a_type_error_everywhere(conn: Conn) -> None:
    blog.migrate(conn)
    post = blog.insert(conn, blog.changeset({"schema": "Post", "action": "insert"}))
    calls: list[Any] = [
        lambda c: blog.events_for(c, post.id),
        lambda c: blog.previous_events(c, post),
        lambda c: blog.verify_chain(c),
        lambda c: blog.verify_chain_locally(c),
        lambda c: blog.chain_head(c, "blog_events"),
        lambda c: blog.migrate(c),
        lambda c: blog.insert_many(
            c, [blog.changeset(post, {"action": "update"})] * (blog.BATCH_CHUNK + 1)
        ),
    ]
    for call in calls:
        with pytest.raises(
            TypeError, match=r"expected a psycopg\.Connection, got None"
        ):
            call(None)


def test_migrate_in_pipeline_mode_says_so(database: str, conn: Conn) -> None:
    """DDL needs the simple query protocol, which pipeline mode lacks: the server's
    own error ("cannot insert multiple commands into a prepared statement") does
    not say what to do."""
    with conn.pipeline(), pytest.raises(psycopg.ProgrammingError, match="migrate"):
        blog.migrate(conn)

    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(database) as aconn:
            async with aconn.pipeline():
                with pytest.raises(psycopg.ProgrammingError, match="amigrate"):
                    await blog.amigrate(aconn)
            await blog.amigrate(aconn)

    asyncio.run(scenario())
    assert blog.verify_chain(conn).ok


def test_verify_chain_locally_in_pipeline_mode_says_so(
    database: str, conn: Conn
) -> None:
    """It streams the rows, which pipeline mode does not allow: psycopg's own
    "stream() cannot be used in pipeline mode" named no call of the module."""
    blog.migrate(conn)
    with (
        conn.pipeline(),
        pytest.raises(
            psycopg.ProgrammingError, match=r"verify_chain_locally\(\) cannot run in"
        ),
    ):
        blog.verify_chain_locally(conn)
    assert blog.verify_chain_locally(conn).ok

    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(database) as aconn:
            async with aconn.pipeline():
                with pytest.raises(
                    psycopg.ProgrammingError, match=r"averify_chain_locally\(\)"
                ):
                    await blog.averify_chain_locally(aconn)
            assert (await blog.averify_chain_locally(aconn)).ok

    asyncio.run(scenario())


@pytest.mark.parametrize("autocommit", [True, False])
def test_an_insert_in_the_callers_pipeline_is_committed_on_return(
    database: str, autocommit: bool
) -> None:
    """In pipeline mode a statement's implicit transaction lasts until the next
    Sync: insert returned an event no one else could see, and a later failure in
    the same pipeline rolled it back."""

    def seen(event_id: uuid.UUID) -> int:
        query = "SELECT count(*) FROM blog_events WHERE id = %s"
        return int(dbkit.scalar(database, query, (event_id,)))

    with psycopg.connect(database, autocommit=autocommit) as conn:
        blog.migrate(conn)
        with conn.pipeline():
            first = blog.insert(
                conn, blog.changeset({"schema": "Post", "action": "insert"})
            )
            assert seen(first.id) == 1
            again = blog.changeset(
                {"id": first.id, "schema": "Post", "action": "insert"}
            )
            with pytest.raises(psycopg.errors.UniqueViolation):
                blog.insert(conn, again)
            later = blog.insert(
                conn, blog.changeset({"schema": "Post", "action": "insert"})
            )
        assert (seen(first.id), seen(later.id)) == (1, 1)

    async def scenario() -> uuid.UUID:
        async with await psycopg.AsyncConnection.connect(
            database, autocommit=autocommit
        ) as aconn:
            async with aconn.pipeline():
                made = blog.changeset({"schema": "Post", "action": "insert"})
                event = await blog.ainsert(aconn, made)
                assert seen(event.id) == 1
                again = blog.changeset(
                    {"id": event.id, "schema": "Post", "action": "insert"}
                )
                with pytest.raises(psycopg.errors.UniqueViolation):
                    await blog.ainsert_many(aconn, [again])
            return event.id

    assert seen(asyncio.run(scenario())) == 1
    with psycopg.connect(database) as conn:
        assert blog.verify_chain(conn).count == 3


def test_migrate_on_a_connection_that_prepares_every_statement(database: str) -> None:
    """prepare_threshold=0 prepared the DDL too: "cannot insert multiple commands
    into a prepared statement"."""
    with psycopg.connect(database, prepare_threshold=0) as conn:
        chat.migrate(conn)
        chat.migrate(conn)

    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(
            database, prepare_threshold=0
        ) as aconn:
            await chat.amigrate(aconn)

    asyncio.run(scenario())
    with psycopg.connect(database) as conn:
        assert chat.verify_chain(conn).ok


def test_an_invalid_item_of_a_batch_is_named_by_its_place_and_briefly(
    conn: Conn,
) -> None:
    """A bad item of insert_many did not say which it was; an Event of
    another module given as a link target was printed whole (its payload
    too); a changeset copied with dataclasses.replace named its action and
    schema as enum reprs, where changeset() names them."""
    chat.migrate(conn)
    root = _record(conn, 1)
    attrs: chat.EventAttrs = {"schema": "Message", "action": "insert"}
    good = chat.changeset(root, attrs)
    edit = chat.changeset(root, {"schema": "Message", "action": "edit"})
    retyped = dataclasses.replace(edit, schema=chat.Schema.Chat)
    stranger = blog.Event(
        root.id, root.id, blog.Schema.User, blog.Action.insert,
        {"long": "x" * 1000}, root.inserted_at, None, "blog_events", 1,
    )  # fmt: skip
    with pytest.raises(chat.InvalidEvent) as info:
        chat.insert_many(conn, [good, retyped])
    assert info.value.errors == (
        ("items[1].action", "'edit' is not allowed for schema Chat"),
    )
    foreign: Any = {"ancestors": [stranger]}  # the wrong Event: mypy says so too
    with pytest.raises(chat.InvalidEvent) as info:
        chat.insert_many(conn, [(good, foreign)])
    ((field, message),) = info.value.errors
    assert field == "items[0].links.ancestors"
    assert message == (
        f"generated_example.blog_events.Event(id={root.id}) is not an event or UUID"
    )
    with pytest.raises(chat.InvalidEvent, match="is not an event or UUID") as info:
        chat.insert(conn, good, links=cast("Any", {"ancestors": ["y" * 500]}))
    assert len(str(info.value)) < 200, info.value
    assert chat.events_for(conn, root.id) == [root]


def test_odd_links_items_and_tables_are_clear_errors(conn: Conn) -> None:
    chat.migrate(conn)
    root = _record(conn, 1)
    attrs: chat.EventAttrs = {"schema": "Message", "action": "insert"}
    bad_links: Any = ["ancestors"]
    with pytest.raises(chat.InvalidEvent, match="links: must map link names to"):
        chat.insert(conn, chat.changeset(root, attrs), links=bad_links)
    for item in [
        (chat.changeset(root, attrs),),
        (chat.changeset(root, attrs), None, 1),
    ]:
        bad_items: Any = [item]
        with pytest.raises(chat.InvalidEvent, match=r"items\[0\]: a tuple item is"):
            chat.insert_many(conn, bad_items)
    none: Any = None
    with pytest.raises(TypeError, match="table must be one of"):
        chat.chain_head(conn, none)
    with pytest.raises(TypeError, match="table must be one of"):
        blog.chain_head(conn, none)
    assert chat.events_for(conn, root.id) == [root]


def test_reads_under_a_latin1_client_and_another_datestyle(database: str) -> None:
    """psycopg reads jsonb as UTF-8 alone and text timestamps under an ISO
    DateStyle alone: a non-ASCII payload read through a LATIN1 client_encoding
    raised UnicodeDecodeError, and every read raised under `SQL, DMY`."""
    with psycopg.connect(database, autocommit=True) as conn:
        chat.migrate(conn)
        conn.execute("SET client_encoding = 'LATIN1'")
        conn.execute("SET DateStyle = 'SQL, DMY'")
        made: chat.EventAttrs = {
            "id": dbkit.shard_uuid(2),
            "schema": "Chat",
            "action": "insert",
            "payload": {"name": "José", "n": 1.5},
        }
        root = chat.insert(conn, chat.changeset(made))
        reply = chat.insert(
            conn,
            chat.changeset(root, {"schema": "Message", "action": "insert"}),
            links={"ancestors": [root]},
        )
        assert chat.events_for(conn, root.id) == [root, reply]
        assert chat.previous_events(conn, reply) == [root, reply]
        assert chat.linked(conn, reply, chat.Link.ancestors) == [root]
        assert chat.verify_chain(conn).ok and chat.verify_chain_locally(conn).ok


def _chat_record(conn: Conn, size: int) -> list[chat.Event]:
    first = _record(conn, 3)
    later = [
        chat.changeset(first, {"schema": "Message", "action": "insert"})
        for _ in range(size - 1)
    ]
    return [first, *chat.insert_many(conn, later)]


def test_a_record_read_a_page_at_a_time_is_the_record(
    database: str, conn: Conn
) -> None:
    """`after` and `limit` page through a record in chain order, with the
    records beside it left out; the async read pages the same way."""
    chat.migrate(conn)
    record = _chat_record(conn, 10)
    _chat_record(conn, 4)  # another record of the same shard, interleaved
    parent = record[0].parent_id
    pages: list[list[chat.Event]] = []
    after: int | None = None
    while page := chat.events_for(conn, parent, after=after, limit=3):
        pages.append(page)
        after = page[-1].seq
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert [e for p in pages for e in p] == record == chat.events_for(conn, parent)
    assert chat.events_for(conn, parent, limit=2) == record[:2]
    assert chat.events_for(conn, parent, after=record[6].seq) == record[7:]
    assert chat.events_for(conn, parent, after=2**63 - 1) == []

    async def read() -> list[chat.Event]:
        async with await psycopg.AsyncConnection.connect(database) as aconn:
            return await chat.aevents_for(aconn, parent, after=record[1].seq, limit=5)

    assert asyncio.run(read()) == record[2:7]


def test_the_events_before_one_read_a_page_at_a_time_stop_at_it(
    database: str, conn: Conn
) -> None:
    """`previous_events` pages like `events_for` and never passes its event:
    the last page ends at it, and later events of the record stay out."""
    chat.migrate(conn)
    record = _chat_record(conn, 10)
    _chat_record(conn, 4)  # another record of the same shard, interleaved
    upto = record[7]
    pages: list[list[chat.Event]] = []
    after: int | None = None
    while page := chat.previous_events(conn, upto, after=after, limit=3):
        pages.append(page)
        after = page[-1].seq
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [e for p in pages for e in p] == record[:8]
    assert chat.previous_events(conn, upto) == record[:8]
    assert chat.previous_events(conn, upto, limit=20) == record[:8]
    assert chat.previous_events(conn, upto, after=record[5].seq) == record[6:8]
    assert chat.previous_events(conn, upto, after=upto.seq) == []

    async def read() -> list[chat.Event]:
        async with await psycopg.AsyncConnection.connect(database) as aconn:
            return await chat.aprevious_events(
                aconn, upto, after=record[1].seq, limit=4
            )

    assert asyncio.run(read()) == record[2:6]


def test_a_new_log_indexes_each_record_by_seq(conn: Conn) -> None:
    """A page can then be read in order from the index, not sorted from every
    event of the record."""
    blog.migrate(conn)
    row = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'blog_events_parent_id_idx'"
    ).fetchone()
    assert row is not None and str(row[0]).endswith("(parent_id, seq)"), row


@pytest.mark.parametrize(
    ("after", "limit", "error", "match"),
    [
        (None, 0, ValueError, "limit must be at least 1, got 0"),
        (None, True, TypeError, "limit must be an int or None, got True"),
        ("5", None, TypeError, "after must be an int or None, got '5'"),
        (2**63, None, ValueError, "after 9223372036854775808 is out of bigint range"),
    ],
)
def test_a_bad_page_is_refused_before_the_query(
    conn: Conn, after: Any, limit: Any, error: type[Exception], match: str
) -> None:
    """No table exists here: a query would fail with UndefinedTable instead."""
    with pytest.raises(error, match=match):
        blog.events_for(conn, uuid.uuid4(), after=after, limit=limit)
    record = uuid.uuid4()
    stored = blog.Event(
        record,
        record,
        blog.Schema.User,
        blog.Action.insert,
        None,
        datetime.datetime.now(datetime.UTC),
        None,
        blog.TABLE,
        1,
    )
    with pytest.raises(error, match=match):
        blog.previous_events(conn, stored, after=after, limit=limit)
