"""MariaDB/MySQL through pymysql: the backend for clusters.

One persistent connection per store (so per worker), READ COMMITTED, UTC session clock.
The claim picks rows with `SELECT ... FOR UPDATE SKIP LOCKED` on the (status, ID) index, so
concurrent workers never wait for each other, then updates them by primary key.

Failures are retried with jittered exponential back-off: deadlocks (1213) and lock wait
timeouts (1205) re-run the whole transaction; dropped connections (2006, 2013, 2003, 2055,
server shutdown, killed connection) reconnect first and, for a claim, look up the claim's
token in case its COMMIT landed before the connection died; "too many connections" (1040)
waits for a free slot instead of failing.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pymysql
from pymysql.constants import CLIENT

from ..config import DatabaseConfig
from ..errors import DatabaseUnavailable
from ..sqltypes import SqlType
from .base import TableSchema
from .sql import Cursor, SqlStore, backoff_sleep

T = TypeVar("T")

LOCK_ERRORS = {1205, 1213}
CONNECTION_ERRORS = {1053, 1927, 2003, 2006, 2013, 2014, 2055, 4031}
TOO_MANY_CONNECTIONS = 1040
FATAL_LOGIN_ERRORS = {1044, 1045, 1049, 1698}


@functools.lru_cache(maxsize=4096)
def _pyformat(sql: str) -> str:
    """Our statements use `?`; pymysql wants `%s` (and a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class MySQLStore(SqlStore):
    now_sql = "NOW(6)"
    autoincrement_pk = "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
    datetime_type = "DATETIME(6)"
    short_text = "VARCHAR(255)"
    lock_suffix = " FOR UPDATE SKIP LOCKED"
    lock_wait_suffix = " FOR UPDATE"
    _long_text = "LONGTEXT"
    _table_suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"

    def __init__(
        self,
        schema: TableSchema,
        db: DatabaseConfig,
        experimenter_name: str = "pyexperimenter",
        create: bool = False,
        first_connect_patience: float = 5.0,
        patience: float = 600.0,
    ):
        super().__init__(schema, experimenter_name)
        self.db = db
        self._create = create
        self._conn: pymysql.connections.Connection | None = None
        self._ever_connected = False
        self._sweeper = False
        self.first_connect_patience = first_connect_patience
        self.patience = patience
        self._transaction(lambda cur: None)  # connect now: bad credentials fail here, clearly

    # --- connections
    def _connect(self) -> pymysql.connections.Connection:
        kwargs: dict[str, Any] = {
            "host": self.db.host,
            "port": self.db.port,
            "user": self.db.user,
            "database": self.db.database,
            "autocommit": False,
            "connect_timeout": 10,
            "read_timeout": 300,
            "write_timeout": 300,
            "charset": "utf8mb4",
            # rowcount = rows matched, not rows changed: fenced writes rely on it.
            "client_flag": CLIENT.FOUND_ROWS,
        }
        if self.db.password is not None:
            kwargs["password"] = self.db.password
        if self.db.unix_socket:
            kwargs["unix_socket"] = self.db.unix_socket
        if self.db.read_default_file:
            kwargs["read_default_file"] = self.db.read_default_file
        try:
            conn = pymysql.connect(**kwargs)
        except pymysql.err.OperationalError as e:
            if e.args and e.args[0] == 1049 and self._create:
                self._create_database(kwargs)
                conn = pymysql.connect(**kwargs)
            else:
                raise
        with conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cur.execute("SET SESSION time_zone = '+00:00', innodb_lock_wait_timeout = 20")
        conn.commit()
        return conn

    def _create_database(self, kwargs: dict[str, Any]) -> None:
        bare = {k: v for k, v in kwargs.items() if k != "database"}
        conn = pymysql.connect(**bare)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {self.q(str(self.db.database))}")
        finally:
            conn.close()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None
        self._sweeper = False  # GET_LOCK locks die with their connection

    def _describe(self, e: BaseException) -> str:
        code = e.args[0] if e.args and isinstance(e.args[0], int) else None
        if code in (1045, 1698):
            return f"access denied for user '{self.db.user}' at {self.db.url} (check the password)"
        if code == 1049:
            return f"database '{self.db.database}' does not exist at {self.db.host}:{self.db.port}; run `pyexp fill CONFIG` to create it"
        if code == 1044:
            return f"user '{self.db.user}' may not use database '{self.db.database}'"
        message = e.args[1] if len(e.args) > 1 else str(e)
        return f"cannot reach MySQL/MariaDB at {self.db.host}:{self.db.port}: {message}"

    # --- transactions with retries
    def _transaction(self, body: Callable[[Cursor], T], *, after_reconnect: Callable[[Cursor], T | None] | None = None) -> T:
        with self._lock:
            attempt = 0
            started = time.monotonic()
            reconnected = False
            while True:
                try:
                    if self._conn is None:
                        self._conn = self._connect()
                        self._ever_connected = True
                    cur = self._conn.cursor()
                    if reconnected and after_reconnect is not None:
                        earlier = after_reconnect(cur)
                        if earlier is not None:
                            self._conn.commit()
                            return earlier
                    result = body(cur)
                    self._conn.commit()
                    return result
                except (pymysql.err.MySQLError, OSError) as e:
                    code = e.args[0] if e.args and isinstance(e.args[0], int) else None
                    if code in FATAL_LOGIN_ERRORS:
                        self._drop_connection()
                        raise DatabaseUnavailable(self._describe(e)) from None
                    if code in LOCK_ERRORS:
                        self._rollback()
                        patience = self.patience
                    elif code == TOO_MANY_CONNECTIONS:
                        self._drop_connection()
                        patience = self.patience * 3
                    elif code in CONNECTION_ERRORS or isinstance(e, (pymysql.err.InterfaceError, OSError)):
                        self._drop_connection()
                        reconnected = True
                        patience = self.patience if self._ever_connected else self.first_connect_patience
                    else:
                        self._rollback()
                        raise
                    if time.monotonic() - started > patience:
                        raise DatabaseUnavailable(self._describe(e)) from None
                    attempt += 1
                    backoff_sleep(attempt, cap=2.0 if code in LOCK_ERRORS else 5.0)
                except BaseException:
                    self._rollback()
                    raise

    def _rollback(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rollback()
        except Exception:
            self._drop_connection()

    def _execute(self, cur: Cursor, sql: str, args: Sequence[Any] = ()) -> Cursor:
        cur.execute(_pyformat(sql), tuple(args))
        return cur

    def _executemany(self, cur: Cursor, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        cur.executemany(_pyformat(sql), rows)
        return int(cur.rowcount)

    # --- dialect
    def q(self, identifier: str) -> str:
        return f"`{identifier}`"

    def ago_sql(self) -> str:
        return "NOW(6) - INTERVAL CAST(? * 1000000 AS SIGNED) MICROSECOND"

    def later_sql(self) -> str:
        return "NOW(6) + INTERVAL CAST(? * 1000000 AS SIGNED) MICROSECOND"

    def age_sql(self, column: str) -> str:
        return f"(TIMESTAMPDIFF(MICROSECOND, {column}, NOW(6)) / 1000000.0)"

    def _ddl_type(self, sql_type: SqlType) -> str:
        return sql_type.mysql_ddl()

    def _status_index_hint(self, random_order: bool) -> str:
        return " FORCE INDEX (ix_status_rank)" if random_order else " FORCE INDEX (ix_status)"

    def _table_columns(self, cur: Cursor, table: str) -> list[str] | None:
        cur.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (table,),
        )
        return [r[0] for r in cur.fetchall()] or None

    def _create_index_sql(self, table: str, index: str, columns: str, unique: bool = False) -> str:
        kind = "UNIQUE INDEX" if unique else "INDEX"
        cols = ", ".join(self.q(c.strip()) for c in columns.split(","))
        return f"CREATE {kind} IF NOT EXISTS {self.q(index)} ON {self.q(table)} ({cols})"

    def _insert_ignore_sql(self, table: str, columns: Sequence[str]) -> str:
        # pymysql turns executemany of this shape into multi-row INSERTs.
        cols = ", ".join(self.q(c) for c in columns)
        return f"INSERT IGNORE INTO {self.q(table)} ({cols}) VALUES ({self._marks(len(columns))})"

    # --- one sweeper per table: a named lock that dies with its holder's connection
    @property
    def _lock_name(self) -> str:
        name = f"pyexp.{self.db.database}.{self.schema.name}"
        return name if len(name) <= 64 else "pyexp." + hashlib.sha1(name.encode()).hexdigest()

    def try_sweeper_lock(self) -> bool:
        if self._sweeper and self._conn is not None:
            return True
        got = self._transaction(lambda cur: self._execute(cur, "SELECT GET_LOCK(?, 0)", (self._lock_name,)).fetchone()[0])
        self._sweeper = got == 1
        return self._sweeper

    def release_sweeper_lock(self) -> None:
        if self._sweeper and self._conn is not None:
            self._transaction(lambda cur: self._execute(cur, "SELECT RELEASE_LOCK(?)", (self._lock_name,)))
        self._sweeper = False

    def close(self) -> None:
        with self._lock:
            self._drop_connection()
