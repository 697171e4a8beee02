"""MariaDB/MySQL through pymysql: the backend for clusters.

One persistent connection per store (so per worker), READ COMMITTED, UTC session clock.
The claim picks rows with `SELECT ... FOR UPDATE SKIP LOCKED` on the (status, ID) index, so
concurrent workers never wait for each other, then updates them by primary key.

Failures are retried with tenacity (jittered exponential back-off): deadlocks (1213) and lock wait
timeouts (1205) re-run the whole transaction; dropped connections (2006, 2013, 2003, 2055,
server shutdown, killed connection) reconnect first and, for a claim, look up the claim's
token in case its COMMIT landed before the connection died; "too many connections" (1040)
waits for a free slot instead of failing; a server that refuses writes (`read_only`, 1290
and 1836: a failover, the server's disk full) is waited out on a new connection, so a proxy
in front can route it to the new primary. A worker rides out a server restart or a read-only
spell of up to `patience` (10 minutes).

No call waits unboundedly: connect, read and write timeouts and TCP keepalive are sized from
the experiment's heartbeat (store/backends/timeouts.py), so a connection on a dead link fails within
half of `stale_after_seconds` and is replaced like any other dropped connection.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pymysql
from pymysql.constants import CLIENT
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from ...errors import DatabaseUnavailable, TunnelError, ValueRefused
from ..engine.session import Cursor, Session
from ..engine.sqlstore import SqlStore
from ..sql.dialect import MYSQL
from ..types import DatabaseSettings, TableSchema
from . import tunnel
from .goodbye import close_at_exit
from .timeouts import DEFAULT_TIMEOUTS, ConnectionTimeouts

_CAN_DISABLE_TLS = "ssl_disabled" in inspect.signature(pymysql.connections.Connection.__init__).parameters


def _local(host: str, kwargs: dict[str, Any]) -> bool:
    """A connection that never leaves this machine: a Unix socket or a loopback address."""
    return "unix_socket" in kwargs or host in ("localhost", "::1") or host.startswith("127.")


T = TypeVar("T")
log = logging.getLogger("pyexperimenter")

LOCK_ERRORS = {1205, 1213}
CONNECTION_ERRORS = {1053, 1927, 2003, 2006, 2013, 2014, 2055, 4031}
TOO_MANY_CONNECTIONS = 1040
READ_ONLY_ERRORS = {1836, 1792}  # read-only mode; a write in a read-only transaction
OPTION_PREVENTS_STATEMENT = 1290  # read-only when its message names --read-only (also other options)
FATAL_LOGIN_ERRORS = {1044, 1045, 1049, 1698}
# The server refusing a value (strict mode): too long (1406), not a number or bad text (1366,
# 1300), out of range (1264), not a date (1292), cut (1265), illegal (1367), invalid JSON (4025).
VALUE_ERRORS = {1264, 1265, 1292, 1300, 1366, 1367, 1406, 4025}

# Full jitter: each wait is uniform in [0, min(cap, 0.05 s * 2**n)]. Lock conflicts clear
# fast; a restarting server is polled at most every 5 s (2.5 s on average) once it is down
# for a few seconds, so hundreds of workers do not reconnect in lock-step.
_WAIT_LOCK = wait_random_exponential(multiplier=0.05, max=2.0)
_WAIT_CONNECTION = wait_random_exponential(multiplier=0.05, max=5.0)


@dataclass
class _TryState:
    reconnected: bool = False  # a connection died during this transaction: check for a landed COMMIT
    retried_connection: bool = False


class MySQLSession(Session):
    """One persistent connection (per store, so per worker) with its retries."""

    def __init__(
        self,
        schema: TableSchema,
        db: DatabaseSettings,
        create: bool = False,
        first_connect_patience: float = 5.0,
        patience: float = 600.0,
        timeouts: ConnectionTimeouts = DEFAULT_TIMEOUTS,
    ):
        super().__init__(MYSQL, schema)
        self.db = db
        self.create = create
        self.conn: pymysql.connections.Connection | None = None
        self.ever_connected = False
        self.on_drop: Callable[[], None] | None = None  # the store forgets what died with the connection
        self.first_connect_patience = first_connect_patience
        self.patience = patience
        self.timeouts = timeouts
        close_at_exit(self)

    # --- connections
    def _endpoint(self) -> tuple[str, int]:
        """Where to connect: the database, or this process's SSH tunnel to it. A tunnel
        that fails after the store once connected is a dropped connection (retried)."""
        if self.db.ssh is None:
            return self.db.host, self.db.port
        try:
            return tunnel.endpoint(self.db.ssh)
        except TunnelError as e:
            if self.ever_connected:
                raise ConnectionError(str(e)) from None
            raise

    def connect(self) -> pymysql.connections.Connection:
        """A new connection with this store's settings (UTC, READ COMMITTED)."""
        host, port = self._endpoint()
        kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": self.db.user,
            "database": self.db.database,
            "autocommit": False,
            "connect_timeout": self.timeouts.connect,
            "read_timeout": self.timeouts.read,
            "write_timeout": self.timeouts.read,
            "charset": "utf8mb4",
            # rowcount = rows matched, not rows changed: fenced writes rely on it.
            "client_flag": CLIENT.FOUND_ROWS,
        }
        if self.db.password is not None:
            kwargs["password"] = self.db.password
        if self.db.unix_socket and self.db.ssh is None:
            kwargs["unix_socket"] = self.db.unix_socket
        if self.db.read_default_file:
            kwargs["read_default_file"] = self.db.read_default_file
        elif _local(host, kwargs) and _CAN_DISABLE_TLS:
            # PyMySQL 1.2 tries TLS whenever the server offers it: 25-30 ms a connection, for
            # nothing on this machine (an SSH tunnel's end included: the tunnel encrypts).
            kwargs["ssl_disabled"] = True
        try:
            conn = pymysql.connect(**kwargs)
        except pymysql.err.OperationalError as e:
            if e.args and e.args[0] == 1049 and self.create:
                self._create_database(kwargs)
                conn = pymysql.connect(**kwargs)
            else:
                raise
        try:
            self.timeouts.apply(getattr(conn, "_sock", None))
            with conn.cursor() as cur:
                self.run(cur, "session_isolation")
                self.run(cur, "session_clock", (self.timeouts.lock_wait,))
                if self.timeouts.server_idle is not None:
                    self.run(cur, "session_idle", (self.timeouts.server_idle,))
            conn.commit()
        except BaseException:
            conn.close()  # a half-set-up connection must not hold a server slot
            raise
        return conn

    def user_connection(self) -> pymysql.connections.Connection:
        """The store's own kind of connection (its tunnel, UTC, READ COMMITTED), not kept, in
        autocommit: a read left open would hold the table's metadata lock, and our index
        creation, upgrades and DROP would wait for it (a day, MariaDB's default)."""
        conn = self.connect()
        conn.autocommit(True)
        return conn

    def _create_database(self, kwargs: dict[str, Any]) -> None:
        bare = {k: v for k, v in kwargs.items() if k != "database"}
        conn = pymysql.connect(**bare)
        try:
            with conn.cursor() as cur:
                self.run(cur, "create_database", database=str(self.db.database))
        finally:
            conn.close()

    def drop_connection(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None
        if self.on_drop is not None:
            self.on_drop()

    def _describe(self, e: BaseException) -> str:
        code = e.args[0] if e.args and isinstance(e.args[0], int) else None
        if code in (1045, 1698):
            return f"access denied for user '{self.db.user}' at {self.db.url} (check the password)"
        if code == 1049:
            return f"database '{self.db.database}' does not exist at {self.db.host}:{self.db.port}; run `pyexp fill CONFIG` to create it"
        if code == 1044:
            return f"user '{self.db.user}' may not use database '{self.db.database}'"
        message = e.args[1] if len(e.args) > 1 else str(e)
        if self.db.ssh is not None:
            ssh = self.db.ssh
            return f"cannot reach MySQL/MariaDB at {ssh.remote_host}:{ssh.remote_port} through the SSH gateway {ssh.gateway}: {message}"
        return f"cannot reach MySQL/MariaDB at {self.db.host}:{self.db.port}: {message}"

    def refusal(self, e: BaseException) -> ValueRefused | None:
        """The server's (or the driver's) refusal of a value, as the one error a refused
        value becomes on every backend; None for any other failure."""
        code = e.args[0] if e.args and isinstance(e.args[0], int) else None
        if code in VALUE_ERRORS:
            return ValueRefused(f"the database refused the value: {e.args[-1]}")
        if isinstance(e, pymysql.err.ProgrammingError) and "can not be used with MySQL" in str(e):
            return ValueRefused(f"MariaDB cannot store {str(e).split()[0]} (store None for a missing value)")
        return None

    # --- transactions with retries
    def _kind(self, e: BaseException) -> str | None:
        """Which transient failure `e` is ("lock", "full", "read-only", "connection"), None if not one."""
        if not isinstance(e, (pymysql.err.MySQLError, OSError)):
            return None
        code = e.args[0] if e.args and isinstance(e.args[0], int) else None
        if code in LOCK_ERRORS:
            return "lock"
        if code == TOO_MANY_CONNECTIONS:
            return "full"
        if code in READ_ONLY_ERRORS or (code == OPTION_PREVENTS_STATEMENT and "read-only" in str(e.args[-1]).lower()):
            return "read-only"
        if code in CONNECTION_ERRORS or isinstance(e, (pymysql.err.InterfaceError, OSError)):
            return "connection"
        return None

    def _patience(self, kind: str | None) -> float:
        if kind == "full":
            return self.patience * 3  # the slot frees up when some worker ends: keep waiting
        if kind == "connection" and not self.ever_connected:
            return self.first_connect_patience
        return self.patience

    def _give_up(self, state: RetryCallState) -> bool:
        e = state.outcome.exception() if state.outcome is not None else None
        return bool(stop_after_delay(self._patience(self._kind(e) if e else None))(state))

    def _wait(self, state: RetryCallState) -> float:
        e = state.outcome.exception() if state.outcome is not None else None
        return float((_WAIT_LOCK if e is not None and self._kind(e) == "lock" else _WAIT_CONNECTION)(state))

    def _warn(self, e: BaseException) -> None:
        """One line when a transaction first hits a connection problem, at once: its time
        is when the worker noticed (the partition tests measure it)."""
        kind = self._kind(e)
        if kind != "lock":
            what = {"full": "too many connections", "read-only": f"the server refuses writes ({e.args[-1]})"}.get(
                str(kind), f"connection lost ({e})")
            log.warning("%s:%s: %s; retrying for up to %.0fs", self.db.host, self.db.port, what, self._patience(kind))

    def transaction(self, body: Callable[[Cursor], T], *,
                    after_reconnect: Callable[[Cursor], T | None] | None = None) -> T:
        """One transaction, retried as a whole on transient failures.

        The first try runs without tenacity (the common case costs nothing); after a
        transient failure, tenacity retries with jittered exponential back-off: deadlocks
        and lock wait timeouts (after ROLLBACK) for up to `patience`, dropped connections
        after reconnecting (for up to `patience`, or `first_connect_patience` before the
        store ever connected), "too many connections" for three times as long.
        """
        with self.lock:
            state = _TryState()
            try:
                return self._try(body, after_reconnect, state)
            except (pymysql.err.MySQLError, OSError) as e:
                if self._kind(e) is None:
                    raise
                self._warn(e)
            retrying = Retrying(
                retry=retry_if_exception(lambda e: self._kind(e) is not None),
                wait=self._wait,
                stop=self._give_up,
                sleep=self.lock.sleep,  # the heartbeat thread may use the connection meanwhile
                reraise=True,
            )
            try:
                result = retrying(self._try, body, after_reconnect, state)
            except (pymysql.err.MySQLError, OSError) as e:
                kind = self._kind(e)
                if kind is None:
                    raise
                if kind in ("lock", "read-only"):
                    raise DatabaseUnavailable(
                        f"MySQL/MariaDB at {self.db.host}:{self.db.port}: still failing after "
                        f"{self._patience(kind):.0f}s of retries: {e.args[-1]}"
                    ) from None
                raise DatabaseUnavailable(self._describe(e)) from None
            if state.retried_connection:
                log.warning("%s:%s: reconnected", self.db.host, self.db.port)
            return result

    def _try(self, body: Callable[[Cursor], T], after_reconnect: Callable[[Cursor], T | None] | None,
             state: _TryState) -> T:
        """One try of a transaction; on failure, leaves the connection usable or dropped."""
        try:
            if self.conn is None:
                self.conn = self.connect()
                self.ever_connected = True
            cur = self.conn.cursor()
            if state.reconnected and after_reconnect is not None:
                # A COMMIT may have landed just before the connection died: ask, never redo.
                earlier = after_reconnect(cur)
                if earlier is not None:
                    self.conn.commit()
                    return earlier
            result = body(cur)
            self.conn.commit()
            return result
        except (pymysql.err.MySQLError, OSError) as e:
            code = e.args[0] if e.args and isinstance(e.args[0], int) else None
            if code in FATAL_LOGIN_ERRORS:
                self.drop_connection()
                raise DatabaseUnavailable(self._describe(e)) from None
            kind = self._kind(e)
            if kind == "lock":
                self._rollback()  # 1205 rolls back only the statement: end the transaction
            elif kind in ("full", "read-only"):
                self._rollback()
                self.drop_connection()
                state.retried_connection = True
            elif kind == "connection":
                self.drop_connection()
                state.reconnected = state.retried_connection = True
            else:
                self._rollback()
            raise
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.conn is None:
            return
        try:
            self.conn.rollback()
        except Exception:
            self.drop_connection()

    def execute(self, cur: Cursor, sql: str, args: Sequence[Any] = ()) -> Cursor:
        cur.execute(self.dialect.placeholders(sql), tuple(args))
        return cur

    def executemany(self, cur: Cursor, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        cur.executemany(self.dialect.placeholders(sql), rows)
        return int(cur.rowcount)

    def server_up_seconds(self, cur: Cursor) -> float | None:
        row = self.run(cur, "server_uptime").fetchone()
        return float(row[1]) if row else None

    def table_columns(self, cur: Cursor) -> list[str] | None:
        return [r[0] for r in self.run(cur, "table_columns", (self.schema.name,)).fetchall()] or None

    def stream(self, sql: str, args: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
        """A server-side cursor (SSCursor) on a connection of its own: rows arrive as they
        are read and are never all held by the client."""
        import pymysql.cursors

        conn = self.connect()
        try:
            with conn.cursor(pymysql.cursors.SSCursor) as cur:
                cur.execute(self.dialect.placeholders(sql), tuple(args))
                while rows := cur.fetchmany(size):
                    yield list(rows)
        finally:
            conn.close()


class MySQLStore(SqlStore):
    def __init__(
        self,
        schema: TableSchema,
        db: DatabaseSettings,
        experimenter_name: str = "pyexperimenter",
        create: bool = False,
        first_connect_patience: float = 5.0,
        patience: float = 600.0,
        timeouts: ConnectionTimeouts = DEFAULT_TIMEOUTS,
    ):
        session = MySQLSession(schema, db, create, first_connect_patience, patience, timeouts)
        super().__init__(session, experimenter_name)
        self.session: MySQLSession = session
        self.db = db
        self.sweeper = False
        session.on_drop = self._forget_sweeper
        session.transaction(lambda cur: None)  # connect now: bad credentials fail here, clearly

    def _forget_sweeper(self) -> None:
        self.sweeper = False  # GET_LOCK locks die with their connection

    def csv_in_sql(self) -> bool:
        return True

    # --- one sweeper per table: a named lock that dies with its holder's connection
    @property
    def lock_name(self) -> str:
        name = f"pyexp.{self.db.database}.{self.schema.name}"
        return name if len(name) <= 64 else "pyexp." + hashlib.sha1(name.encode()).hexdigest()

    def try_sweeper_lock(self) -> bool:
        session = self.session
        if self.sweeper and session.conn is not None:
            return True
        got = session.transaction(lambda cur: session.run(cur, "sweeper_lock", (self.lock_name,)).fetchone()[0])
        self.sweeper = got == 1
        return self.sweeper

    def release_sweeper_lock(self) -> None:
        # One try, no retries: a worker on its way out must not wait for a dead server,
        # and a lock whose connection died is released already.
        session = self.session
        with session.lock:
            if self.sweeper and session.conn is not None:
                try:
                    with session.conn.cursor() as cur:
                        session.run(cur, "sweeper_unlock", (self.lock_name,))
                    session.conn.commit()
                except (pymysql.err.MySQLError, OSError):
                    session.drop_connection()
            self.sweeper = False

    def close(self) -> None:
        with self.session.lock:
            self.session.drop_connection()
