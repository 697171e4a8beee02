"""Read-only queries streamed in chunks, each export on a connection of its own.

MariaDB: a pymysql server-side cursor (SSCursor), so rows arrive as they are read and are
never all held by the client. SQLite: a second, read-only connection iterated chunk by chunk;
under WAL it reads a snapshot and never takes the writer lock, so workers keep writing while
a million rows are exported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from .sql import SqlStore

# The named queries that only read; `read` and `stream` refuse any other.
READ_QUERIES = frozenset({
    "select_rows", "select_csv_lines", "select_nth_id", "select_count", "select_groups", "select_group_values",
    "report_error_groups", "report_error_examples", "report_unsummarized_errors", "report_log_curve",
})


def check_read(name: str) -> None:
    if name not in READ_QUERIES:
        raise InputError(f"{name} is not a read-only query")


def chunks(store: SqlStore, sql: str, args: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
    if store.dialect.name == "sqlite":
        yield from _sqlite_chunks(store, sql, args, size)
    else:
        yield from _mysql_chunks(store, sql, args, size)


def _sqlite_chunks(store: Any, sql: str, args: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, timeout=60, isolation_level=None)
    try:
        cur = conn.execute(sql, tuple(args))
        while rows := cur.fetchmany(size):
            yield rows
    finally:
        conn.close()


def _mysql_chunks(store: Any, sql: str, args: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
    import pymysql.cursors

    conn = store._connect()  # the store's own settings (UTC, READ COMMITTED), a new connection
    try:
        with conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(store.dialect.placeholders(sql), tuple(args))
            while rows := cur.fetchmany(size):
                yield list(rows)
    finally:
        conn.close()
