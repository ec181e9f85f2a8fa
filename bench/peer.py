"""The peer: eventsourcing's PostgreSQL application recorder (psycopg 3 as well).

By default `PostgresApplicationRecorder.insert_events` runs, in psycopg pipeline
mode and one transaction: `SET LOCAL lock_timeout`, `LOCK TABLE ... IN EXCLUSIVE
MODE`, `NOTIFY`, then one `INSERT ... SELECT FROM unnest(%s::stored_event_uuid[])
RETURNING notification_id` for the whole list: it serialises writers with a table
lock the way a hash chain does, but computes no hash.

With `enable_db_functions=True` it instead calls one plpgsql function per list
(`es_insert_events_uuid`), without pipeline mode. The pipeline path hangs for
lists above PIPELINE_MAX events of this workload's size (eventsourcing 9.5.6,
psycopg 3.3.9: the backend waits in ClientRead on the NOTIFY while the client
waits in Pipeline.sync), so larger batches use the function path only.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

TABLE = "es_stored_events"
PIPELINE_MAX = 1_000  # hangs at 1,800 events per call here; 1,500 still passed


@contextlib.contextmanager
def recorder(
    url: str, *, db_functions: bool = False
) -> Iterator[PostgresApplicationRecorder]:
    """A recorder on its own one-connection pool, its table created.

    Each mode gets its own schema: the insert function's name is not per table.
    """
    schema = "peer_fn" if db_functions else "peer"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
        )
    params = conninfo_to_dict(url)
    datastore = PostgresDatastore(
        dbname=str(params.get("dbname", "")),
        host=str(params.get("host", "")),
        port=str(params.get("port", "5432")),
        user=str(params.get("user", getpass.getuser())),
        password=str(params.get("password", "")),
        pool_size=1,
        schema=schema,
        enable_db_functions=db_functions,
    )
    try:
        rec = PostgresApplicationRecorder(datastore, events_table_name=TABLE)
        rec.create_table()
        yield rec
    finally:
        datastore.close()
