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
    "select_rows", "select_csv_lines", "select_csv_page", "select_count", "select_groups", "select_group_values",
    "report_error_groups", "report_error_examples", "report_unsummarized_errors",
})


def check_read(name: str) -> None:
    if name not in READ_QUERIES:
        raise InputError(f"{name} is not a read-only query")


def chunks(store: SqlStore, name: str, parts: dict[str, Any], args: Sequence[Any],
           size: int) -> Iterator[list[tuple[Any, ...]]]:
    sql = store._sql.text(name, parts)
    if name == "select_csv_page":
        yield from csv_pages(store, sql, store._sql.text("select_csv_lines", parts), args)
    elif store.dialect.name == "sqlite":
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


PAGE_IDS = 5000  # ids per page of CSV: a few MB of text each
PAGES_AT_ONCE = 2  # pages the server formats at the same time, each on a connection of its own


def csv_pages(store: Any, page_sql: str, row_sql: str, args: Sequence[Any]) -> Iterator[list[tuple[str, int]]]:
    """CSV lines made by MariaDB (select_csv_page), one id range at a time, as (text, rows).

    One row per packet left the client decoding a million packets in Python (pymysql,
    18.6 s of a 1M-row export); a page of 5,000 rows is one packet, so the client only
    writes, and two pages are formatted at once on two connections. Each page is its own
    statement: a row changed by a worker meanwhile is written as it is when its page is read
    (each row whole and once). A page longer than the server's packet limit is read row by
    row (`row_sql`, the same selection without GROUP_CONCAT)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    conn = store._connect()
    try:
        with conn.cursor() as cur:
            cur.execute(store._sql.text("select_id_range", {}))
            low, high = cur.fetchone()
    finally:
        conn.close()
    if low is None:
        return
    local = threading.local()
    connections: list[tuple[Any, int]] = []  # (connection, its longest page in bytes)

    def page(start: int) -> tuple[str, int]:
        if not hasattr(local, "conn"):
            conn = store._connect()
            with conn.cursor() as cur:
                cur.execute(store._sql.text("csv_page_limit", {}))
                cur.execute(store._sql.text("csv_page_bytes", {}))
                local.conn, local.most = conn, int(cur.fetchone()[0])
            connections.append((conn, local.most))
        bounds = (*args, start, start + PAGE_IDS)
        with local.conn.cursor() as cur:
            cur.execute(store.dialect.placeholders(page_sql), bounds)
            text, n = cur.fetchone()
            if text is not None and 4 * len(text) >= local.most and len(text.encode()) >= local.most:  # cut: row by row
                cur.execute(store.dialect.placeholders(row_sql), bounds)
                text = "".join(f"{r[0]}\n" for r in cur.fetchall())
        return text or "", int(n)

    starts = range(int(low) - 1, int(high), PAGE_IDS)
    try:
        with ThreadPoolExecutor(PAGES_AT_ONCE) as pool:
            pending = [pool.submit(page, s) for s in starts[:PAGES_AT_ONCE]]
            for following in [*starts[PAGES_AT_ONCE:], None]:
                done = pending.pop(0).result()
                if following is not None:
                    pending.append(pool.submit(page, following))
                yield [done]
            for rest in pending:
                yield [rest.result()]
    finally:
        for c, _ in connections:
            c.close()


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
