"""SQLite: the embedded default for one machine.

WAL lets readers (`pyexp status`) run beside the writers; every transaction starts with
BEGIN IMMEDIATE so the claim's read and write happen under SQLite's single writer lock, and
the claim itself is one `UPDATE ... RETURNING`. A busy database is waited for and retried.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from ..errors import DatabaseUnavailable, InputError
from .base import TableSchema, WorkerIdentity
from .dialect import SQLITE
from .filters import Filter
from .sql import Cursor, SqlStore

T = TypeVar("T")

BUSY_PATIENCE_SECONDS = 300.0


class SQLiteStore(SqlStore):
    dialect = SQLITE

    def __init__(self, schema: TableSchema, path: Path, experimenter_name: str = "pyexperimenter", create: bool = False):
        super().__init__(schema, experimenter_name)
        self.path = Path(path)
        self._create = create
        self._conn: sqlite3.Connection | None = None
        self._sweeper_fd: int | None = None
        self._connection()  # fail early, with a clear message, on a missing or unreadable file

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        if not self._create and not self.path.exists():
            raise InputError(f"database file {self.path} does not exist; run `pyexp fill CONFIG` first")
        if not self.path.parent.is_dir():
            raise InputError(f"cannot create {self.path}: folder {self.path.parent} does not exist")
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self._run(conn, "busy_timeout")
            self._run(conn, "journal_mode")
            # With WAL, NORMAL loses nothing when a process is killed; only a power cut
            # can take the last transactions. FULL would fsync every claim.
            self._run(conn, "synchronous")
        except sqlite3.DatabaseError as e:
            raise DatabaseUnavailable(f"cannot open SQLite database {self.path}: {e}") from None
        self._conn = conn
        return conn

    def _table_columns(self, cur: Cursor) -> list[str] | None:
        return [r[1] for r in self._run(cur, "table_columns").fetchall()] or None

    # --- transactions
    def _transaction(self, body: Callable[[Cursor], T], *, after_reconnect: Callable[[Cursor], T | None] | None = None) -> T:
        """One transaction under SQLite's writer lock. `busy_timeout` already waits for the
        lock inside SQLite; a `database is locked` that still comes through is retried as a
        whole with tenacity (jittered back-off, up to BUSY_PATIENCE_SECONDS). The first try
        runs without tenacity."""
        with self._lock:
            conn = self._connection()
            try:
                return self._try(conn, body)
            except sqlite3.OperationalError as e:
                if not _busy(e):
                    raise
            retrying = Retrying(
                retry=retry_if_exception(_busy),
                wait=wait_random_exponential(multiplier=0.05, max=2.0),
                stop=stop_after_delay(BUSY_PATIENCE_SECONDS),
                sleep=self._lock.sleep,
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
            self._run(conn, "begin")
        except sqlite3.OperationalError as e:
            if _busy(e):
                raise
            raise DatabaseUnavailable(f"SQLite database {self.path}: {e}") from None
        try:
            result = body(conn.cursor())
            self._run(conn, "commit")
            return result
        except BaseException:
            self._rollback(conn)
            raise

    def _rollback(self, conn: sqlite3.Connection) -> None:
        try:
            self._run(conn, "rollback")
        except sqlite3.OperationalError:
            pass  # nothing was open

    # --- the claim: one UPDATE ... RETURNING under the writer lock
    def _claim_rows(self, cur: Cursor, who: WorkerIdentity, token: str, limit: int, random_order: bool,
                    where: Filter) -> list[dict[str, Any]]:
        if random_order:
            return super()._claim_rows(cur, who, token, limit, random_order, where)
        args = (*self._take_args(who, token), *where.args, limit)
        found = self._fetch_dicts(self._run(cur, "claim_returning", args, conditions=where.shape))
        return sorted(found, key=lambda r: r["ID"])

    # --- one sweeper per table, by an advisory file lock next to the database
    def exports_in_halves(self) -> bool:
        return True  # a file any process opens read-only, each on a snapshot of its own

    def try_sweeper_lock(self) -> bool:
        if self._sweeper_fd is not None:
            return True
        fd = os.open(f"{self.path}.{self.schema.name}.sweeper", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._sweeper_fd = fd
        return True

    def release_sweeper_lock(self) -> None:
        if self._sweeper_fd is not None:
            os.close(self._sweeper_fd)
            self._sweeper_fd = None

    def close(self) -> None:
        self.release_sweeper_lock()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _busy(e: BaseException) -> bool:
    if not isinstance(e, sqlite3.OperationalError):
        return False
    text = str(e).lower()
    return "locked" in text or "busy" in text

