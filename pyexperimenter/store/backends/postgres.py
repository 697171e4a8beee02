"""PostgreSQL through psycopg 3: the third backend, for clusters whose institute runs one, or
where `pyexp db` starts one of the user's own (store/backends/embedded.py).

One persistent connection per store (so per worker), READ COMMITTED (PostgreSQL's default),
UTC. A claim is one `UPDATE ... WHERE ID IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`:
concurrent workers never wait for each other and the claim costs one round trip. The
server's clock is read per statement (`statement_timestamp()`), never per transaction
(`now()`), so a heartbeat is dated when it arrives.

Failures are retried with tenacity (jittered exponential back-off), as on MariaDB:
serialization failures, deadlocks, lock and statement timeouts re-run the whole transaction
after ROLLBACK; a dropped connection (a server restart or crash, `pg_ctl stop -m immediate`,
an idle timeout, a dead link) reconnects first and, for a claim, asks whether the claim's
COMMIT landed; "too many clients" waits for a free slot. A worker rides out a restart of up
to `patience` (10 minutes).

No call waits unboundedly: libpq's connect timeout, TCP keepalive and `tcp_user_timeout`,
and the server's lock, statement and idle-in-transaction limits are sized from the
heartbeat by store/backends/timeouts.py, as for MariaDB.

An error aborts a PostgreSQL transaction (every later statement fails until ROLLBACK), so
nothing here catches an error and carries on inside one.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from ...errors import DatabaseUnavailable, ValueRefused
from ..engine.session import Cursor, Session
from ..engine.sqlstore import SqlStore
from ..sql.dialect import POSTGRES, quote_bare_id
from ..types import DatabaseSettings, TableSchema
from .goodbye import close_at_exit
from .timeouts import DEFAULT_TIMEOUTS, ConnectionTimeouts

T = TypeVar("T")
log = logging.getLogger("pyexperimenter")

# Re-run the transaction: it lost a race (40001, 40P01) or waited past a limit (55P03, 57014).
LOCK_STATES = {"40001", "40P01", "55P03", "57014"}
# The connection is gone or going: reconnect (server shutdown, crash, starting up, idle timeouts).
CONNECTION_STATES = {"57P01", "57P02", "57P03", "25P03", "57P05", "08000", "08003", "08006", "08001", "08004"}
TOO_MANY_CONNECTIONS = "53300"
# What a new connection's failure says when libpq gives no SQLSTATE: the kind, by its words.
_CONNECT_WORDS = (
    ("too many clients", "full"),
    ("remaining connection slots", "full"),
    ("password authentication failed", "fatal"),
    ("no pg_hba.conf entry", "fatal"),
    ("does not exist", "fatal"),
    ("permission denied", "fatal"),
    ("no password supplied", "fatal"),
)

_WAIT_LOCK = wait_random_exponential(multiplier=0.05, max=2.0)
_WAIT_CONNECTION = wait_random_exponential(multiplier=0.05, max=5.0)


def _seconds(value: float | int | None) -> str:
    """A server setting in seconds ('0': no limit)."""
    return "0" if not value else f"{int(max(1, round(value)))}s"


@dataclass
class _TryState:
    reconnected: bool = False  # a connection died during this transaction: check for a landed COMMIT
    retried_connection: bool = False


# Data exceptions that mean "this value does not fit its column": string too long, numeric out
# of range, invalid text for a number, bad or out-of-range date, bad character for the encoding.
VALUE_STATES = frozenset({"22001", "22003", "22P02", "22007", "22008", "22021", "22P05"})


class PostgresSession(Session):
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
        super().__init__(POSTGRES, schema)
        self.db = db
        self.create = create
        self.conn: psycopg.Connection[Any] | None = None
        self.ever_connected = False
        self.on_drop: Callable[[], None] | None = None
        self.first_connect_patience = first_connect_patience
        self.patience = patience
        self.timeouts = timeouts
        close_at_exit(self)

    # --- connections
    def _params(self, database: str | None) -> dict[str, Any]:
        t = self.timeouts
        params: dict[str, Any] = {
            "host": self.db.unix_socket or self.db.host,
            "port": self.db.port,
            "dbname": database,
            "connect_timeout": max(2, int(round(t.connect))),  # libpq: whole seconds, at least 2
            "keepalives": 1,
            "keepalives_idle": t.keepalive_idle,
            "keepalives_interval": t.keepalive_interval,
            "keepalives_count": t.keepalive_probes,
            "tcp_user_timeout": t.user_timeout_ms,
            "application_name": "pyexperimenter",
            # The password comes from the settings (PYEXP_DB_PASSWORD, a credentials file, the
            # connection file of `pyexp db`) or, without one, libpq's own ~/.pgpass.
        }
        if self.db.user:  # else libpq's default: the login name
            params["user"] = self.db.user
        if self.db.password is not None:
            params["password"] = self.db.password
        return params

    def connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(**self._params(self.db.database), autocommit=False)
        except psycopg.OperationalError as e:
            if self.create and "does not exist" in str(e) and f'"{self.db.database}"' in str(e):
                self._create_database()
                conn = psycopg.connect(**self._params(self.db.database), autocommit=False)
            else:
                raise
        try:
            t = self.timeouts
            with conn.cursor() as cur:
                self.run(cur, "session_limits", (
                    _seconds(t.lock_wait), _seconds(t.read), _seconds(t.read), _seconds(t.server_idle),
                ))
            conn.commit()
        except BaseException:
            conn.close()  # a half-set-up connection must not hold a server slot
            raise
        return conn

    def user_connection(self) -> psycopg.Connection[Any]:
        """The store's own kind of connection (its limits), not kept, in autocommit: a read
        left open would hold a lock that our index creation, upgrades and DROP wait for."""
        conn = self.connect()
        conn.autocommit = True
        return conn

    def _create_database(self) -> None:
        """`pyexp fill` on a server without the database: made on the maintenance database,
        outside a transaction (CREATE DATABASE cannot run in one)."""
        with psycopg.connect(**self._params("postgres"), autocommit=True) as conn, conn.cursor() as cur:
            try:
                self.run(cur, "create_database", database=str(self.db.database))
            except pgerrors.DuplicateDatabase:
                pass  # another process made it meanwhile

    def drop_connection(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None
        if self.on_drop is not None:
            self.on_drop()

    def _where(self) -> str:
        return f"PostgreSQL at {self.db.host}:{self.db.port}"

    def _describe(self, e: BaseException) -> str:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        text = text.replace("connection failed: ", "")
        if "password authentication failed" in text or "no password supplied" in text:
            return f"access denied for user '{self.db.user}' at {self.db.url} (check the password)"
        if "does not exist" in text and f'"{self.db.database}"' in text:
            return (f"database '{self.db.database}' does not exist at {self.db.host}:{self.db.port}; "
                    f"run `pyexp fill CONFIG` to create it")
        return f"cannot reach {self._where()}: {text}"

    # --- transactions with retries
    def _kind(self, e: BaseException) -> str | None:
        """Which transient failure `e` is ("lock", "full", "connection"), None if not one;
        "fatal" for a login that will never work."""
        if isinstance(e, OSError):
            return "connection"
        if not isinstance(e, psycopg.Error):
            return None
        state = e.sqlstate
        if state in LOCK_STATES:
            return "lock"
        if state == TOO_MANY_CONNECTIONS:
            return "full"
        if state in CONNECTION_STATES or (state or "").startswith("08"):
            return "connection"
        if state in ("28P01", "28000", "3D000", "42501"):
            return "fatal"
        if state is None and isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError)):
            text = str(e).lower()
            for words, kind in _CONNECT_WORDS:
                if words in text:
                    return kind
            return "connection"  # refused, reset, closed: libpq gives no SQLSTATE for these
        return None

    def _transient(self, e: BaseException) -> bool:
        return self._kind(e) in ("lock", "full", "connection")

    def _patience(self, kind: str | None) -> float:
        if kind == "full":
            return self.patience * 3
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
        kind = self._kind(e)
        if kind != "lock":
            what = "too many connections" if kind == "full" else f"connection lost ({' '.join(str(e).split())})"
            log.warning("%s:%s: %s; retrying for up to %.0fs", self.db.host, self.db.port, what, self._patience(kind))

    def transaction(self, body: Callable[[Cursor], T], *,
                    after_reconnect: Callable[[Cursor], T | None] | None = None) -> T:
        """One transaction, retried as a whole on transient failures (as MySQLSession does):
        the first try without tenacity, then jittered back-off for up to `patience`."""
        with self.lock:
            state = _TryState()
            try:
                return self._try(body, after_reconnect, state)
            except (psycopg.Error, OSError) as e:
                if not self._transient(e):
                    raise
                self._warn(e)
            retrying = Retrying(
                retry=retry_if_exception(self._transient),
                wait=self._wait,
                stop=self._give_up,
                sleep=self.lock.sleep,  # the heartbeat thread may use the connection meanwhile
                reraise=True,
            )
            try:
                result = retrying(self._try, body, after_reconnect, state)
            except (psycopg.Error, OSError) as e:
                kind = self._kind(e)
                if not self._transient(e):
                    raise
                if kind == "lock":
                    raise DatabaseUnavailable(
                        f"{self._where()}: still failing after {self._patience(kind):.0f}s of retries: {e}"
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
        except (psycopg.Error, OSError) as e:
            kind = self._kind(e)
            if kind == "fatal":
                self.drop_connection()
                raise DatabaseUnavailable(self._describe(e)) from None
            if kind in ("full", "connection") or (self.conn is not None and self.conn.closed):
                self.drop_connection()
                state.retried_connection = True
                state.reconnected = kind == "connection" or state.reconnected
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
        if args:
            cur.execute(self.dialect.placeholders(sql), tuple(args))
        else:  # no parameters: the simple protocol, which also takes a trigger's two statements
            cur.execute(quote_bare_id(sql))
        return cur

    def executemany(self, cur: Cursor, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        cur.executemany(self.dialect.placeholders(sql), rows)
        return int(cur.rowcount)

    def copy_rows(self, cur: Cursor, name: str, rows: Sequence[Sequence[Any]], **parts: Any) -> None:
        try:
            with cur.copy(quote_bare_id(self.statements.text(name, parts))) as copy:
                for row in rows:
                    copy.write_row(row)
        except Exception as e:
            refused = self.refusal(e)
            if refused is None:
                raise
            raise refused from None

    def refusal(self, e: BaseException) -> ValueRefused | None:
        """The server's (or psycopg's) refusal of a value, as the one error a refused value
        becomes on every backend: too long, out of range, not a number or a date, and text
        with a NUL character, which PostgreSQL cannot store at all (MariaDB and SQLite can)."""
        if not isinstance(e, psycopg.DataError):
            return None
        state = e.sqlstate
        if state in VALUE_STATES or (state is None and "NUL" in str(e)):
            # The server names the column for some refusals only (not for a string too long).
            return ValueRefused(f"the database refused the value: {str(e).splitlines()[0]}", e.diag.column_name)
        return None

    def server_up_seconds(self, cur: Cursor) -> float | None:
        row = self.run(cur, "server_uptime").fetchone()
        return float(row[1]) if row else None

    def table_columns(self, cur: Cursor) -> list[str] | None:
        return [r[0] for r in self.run(cur, "table_columns", (self.schema.name,)).fetchall()] or None

    def stream(self, sql: str, args: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
        """A server-side (named) cursor on a connection of its own: rows arrive in chunks of
        `size` and are never all held by the client; no statement limit applies to it. A
        COPY ... TO STDOUT streams its one text column instead (`_copy_lines`)."""
        conn = psycopg.connect(**self._params(self.db.database), autocommit=False)
        try:
            with conn.cursor() as setup:
                self.run(setup, "session_limits", ("0", "0", "0", "0"))
            if sql.startswith("COPY "):
                text = self.dialect.placeholders(sql) if args else quote_bare_id(sql)
                yield from _copy_lines(conn, text, tuple(args), size)
                conn.rollback()
                return
            with conn.cursor(name="pyexp_stream") as cur:
                cur.itersize = size
                if args:
                    cur.execute(self.dialect.placeholders(sql), tuple(args))
                else:
                    cur.execute(quote_bare_id(sql))
                while rows := cur.fetchmany(size):
                    yield list(rows)
            conn.rollback()
        finally:
            conn.close()


# COPY's text format escapes these in a value; a record is one line.
_COPY_ESCAPES = {"\\": "\\", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_COPY_ESCAPE = re.compile(r"\\([\\bfnrtv])")


def _copy_lines(conn: psycopg.Connection[Any], sql: str, args: tuple[Any, ...],
                size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The one text column of a COPY ... TO STDOUT, `size` records at a time, read straight
    from libpq (one record per call, ~1 us; psycopg's Copy.read costs ~12 us a record, which
    made a million-row export slower than a cursor). The driver binds `args` itself (COPY
    takes no server-side parameters), as pymysql binds every value."""
    from psycopg import ClientCursor, pq

    with ClientCursor(conn) as cur:
        text = cur.mogrify(sql, args) if args else sql
    pgconn = conn.pgconn
    pgconn.send_query(text.encode())  # raises on a failure to send
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        message = result.error_message.decode(errors="replace") if result is not None else "no result"
        while pgconn.get_result() is not None:
            pass
        raise psycopg.DatabaseError(message.strip())
    unescape, escapes = _COPY_ESCAPE.sub, _COPY_ESCAPES
    batch: list[tuple[Any, ...]] = []
    while True:
        nbytes, data = pgconn.get_copy_data(0)
        if nbytes < 0:
            break
        line = bytes(data)[:-1].decode()
        batch.append((unescape(lambda m: escapes[m.group(1)], line) if "\\" in line else line,))
        if len(batch) >= size:
            yield batch
            batch = []
    while (done := pgconn.get_result()) is not None:
        if done.status != pq.ExecStatus.COMMAND_OK:
            raise psycopg.DatabaseError(done.error_message.decode(errors="replace").strip())
    if batch:
        yield batch


class PostgresStore(SqlStore):
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
        session = PostgresSession(schema, db, create, first_connect_patience, patience, timeouts)
        super().__init__(session, experimenter_name)
        self.session: PostgresSession = session
        self.db = db
        self.sweeper = False
        session.on_drop = self._forget_sweeper
        session.transaction(lambda cur: None)  # connect now: bad credentials fail here, clearly

    def _forget_sweeper(self) -> None:
        self.sweeper = False  # advisory locks die with their connection

    def csv_in_sql(self) -> bool:
        return True

    # --- one sweeper per table: a session advisory lock that dies with its holder's connection
    @property
    def lock_name(self) -> str:
        return "pyexp." + hashlib.sha1(f"{self.db.database}.{self.schema.name}".encode()).hexdigest()

    def try_sweeper_lock(self) -> bool:
        session = self.session
        if self.sweeper and session.conn is not None:
            return True
        got = session.transaction(lambda cur: session.run(cur, "sweeper_lock", (self.lock_name,)).fetchone()[0])
        self.sweeper = bool(got)
        return self.sweeper

    def release_sweeper_lock(self) -> None:
        # One try, no retries: a worker on its way out must not wait for a dead server.
        session = self.session
        with session.lock:
            if self.sweeper and session.conn is not None:
                try:
                    with session.conn.cursor() as cur:
                        session.run(cur, "sweeper_unlock", (self.lock_name,))
                    session.conn.commit()
                except (psycopg.Error, OSError):
                    session.drop_connection()
            self.sweeper = False

    def close(self) -> None:
        with self.session.lock:
            self.session.drop_connection()
