"""SQLite: the embedded default for one machine.

WAL lets readers (`pyexp status`) run beside the writers; every transaction starts with
BEGIN IMMEDIATE so the claim's read and write happen under SQLite's single writer lock, and
the claim itself is one `UPDATE ... RETURNING`. A busy database is waited for and retried.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from ...errors import DatabaseUnavailable, InputError
from ..engine.session import Cursor, Session
from ..engine.sqlstore import SqlStore
from ..sql.dialect import SQLITE
from ..types import TableSchema

T = TypeVar("T")

BUSY_PATIENCE_SECONDS = 300.0


class SQLiteSession(Session):
    """One connection to the database file, shared by a worker's threads under the lock."""

    def __init__(self, schema: TableSchema, path: Path, create: bool = False):
        super().__init__(SQLITE, schema)
        self.path = Path(path)
        self.create = create
        self.conn: sqlite3.Connection | None = None

    def connection(self) -> sqlite3.Connection:
        if self.conn is not None:
            return self.conn
        if not self.create and not self.path.exists():
            raise InputError(f"database file {self.path} does not exist; run `pyexp fill CONFIG` first")
        if not self.path.parent.is_dir():
            raise InputError(f"cannot create {self.path}: folder {self.path.parent} does not exist")
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self.run(conn, "busy_timeout")
            self.run(conn, "journal_mode")
            # With WAL, NORMAL loses nothing when a process is killed; only a power cut
            # can take the last transactions. FULL would fsync every claim.
            self.run(conn, "synchronous")
        except sqlite3.DatabaseError as e:
            raise DatabaseUnavailable(f"cannot open SQLite database {self.path}: {e}") from None
        self.conn = conn
        return conn

    def user_connection(self) -> sqlite3.Connection:
        """The same file, waiting for the writer lock as the store does, in autocommit (as
        on the servers): a write left uncommitted would hold SQLite's one writer lock and
        stop every worker."""
        if not self.create and not self.path.exists():
            raise InputError(f"database file {self.path} does not exist; run `pyexp fill CONFIG` first")
        try:
            return sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.DatabaseError as e:
            raise DatabaseUnavailable(f"cannot open SQLite database {self.path}: {e}") from None

    def table_columns(self, cur: Cursor) -> list[str] | None:
        return [r[1] for r in self.run(cur, "table_columns").fetchall()] or None

    def transaction(self, body: Callable[[Cursor], T], *,
                    after_reconnect: Callable[[Cursor], T | None] | None = None) -> T:
        """One transaction under SQLite's writer lock. `busy_timeout` already waits for the
        lock inside SQLite; a `database is locked` that still comes through is retried as a
        whole with tenacity (jittered back-off, up to BUSY_PATIENCE_SECONDS). The first try
        runs without tenacity."""
        with self.lock:
            conn = self.connection()
            try:
                return self._try(conn, body)
            except sqlite3.OperationalError as e:
                if not _busy(e):
                    raise
            retrying = Retrying(
                retry=retry_if_exception(_busy),
                wait=wait_random_exponential(multiplier=0.05, max=2.0),
                stop=stop_after_delay(BUSY_PATIENCE_SECONDS),
                sleep=self.lock.sleep,
                reraise=True,
            )
            try:
                return retrying(self._try, conn, body)
            except sqlite3.OperationalError as e:
                if _busy(e):
                    raise DatabaseUnavailable(f"SQLite database {self.path}: {e} (for {BUSY_PATIENCE_SECONDS:.0f}s)") from None
                raise

    def _try(self, conn: sqlite3.Connection, body: Callable[[Cursor], T]) -> T:
        try:
            self.run(conn, "begin")
        except sqlite3.OperationalError as e:
            if _busy(e):
                raise
            raise DatabaseUnavailable(f"SQLite database {self.path}: {e}") from None
        try:
            result = body(conn.cursor())
            self.run(conn, "commit")
            return result
        except BaseException:
            self._rollback(conn)
            raise

    def _rollback(self, conn: sqlite3.Connection) -> None:
        try:
            self.run(conn, "rollback")
        except sqlite3.OperationalError:
            pass  # nothing was open

    def stream(self, sql: str, args: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
        """A second, read-only connection iterated chunk by chunk: under WAL it reads a
        snapshot and never takes the writer lock, so workers keep writing while a million
        rows are exported."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60, isolation_level=None)
        try:
            cur = conn.execute(sql, tuple(args))
            while rows := cur.fetchmany(size):
                yield rows
        finally:
            conn.close()

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None


class SQLiteStore(SqlStore):
    def __init__(self, schema: TableSchema, path: Path, experimenter_name: str = "pyexperimenter", create: bool = False):
        session = SQLiteSession(schema, path, create)
        super().__init__(session, experimenter_name)
        self.session: SQLiteSession = session
        self.path = session.path
        self.sweeper_fd: int | None = None
        session.connection()  # fail early, with a clear message, on a missing or unreadable file

    def exports_in_halves(self) -> bool:
        return True  # a file any process opens read-only, each on a snapshot of its own

    # --- one sweeper per table, by an advisory file lock next to the database
    def try_sweeper_lock(self) -> bool:
        if self.sweeper_fd is not None:
            return True
        fd = os.open(f"{self.path}.{self.schema.name}.sweeper", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.sweeper_fd = fd
        return True

    def release_sweeper_lock(self) -> None:
        if self.sweeper_fd is not None:
            os.close(self.sweeper_fd)
            self.sweeper_fd = None

    def close(self) -> None:
        self.release_sweeper_lock()
        self.session.close()


def _busy(e: BaseException) -> bool:
    if not isinstance(e, sqlite3.OperationalError):
        return False
    text = str(e).lower()
    return "locked" in text or "busy" in text
