"""The one pipe between the engine and a database: what every engine module works through.

A backend (store/backends/) provides the connection, the transaction with its retries and
the streaming connection; everything else here is shared. Engine modules take a Session
(never a store), so each of them reads in one sitting and none reaches into another's
state. `run` is the one place statements are sent: fault tests inject failures by query
name there, and `execute` is where every statement's text meets the driver.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ...errors import InputError, ValueRefused
from ...sqltypes import SqlType, is_identifier
from ..sql.dialect import Dialect
from ..sql.schema import is_date_column
from ..sql.statements import Statements
from ..types import TableSchema
from .lock import StoreLock

T = TypeVar("T")
Cursor = Any  # a DB-API cursor (for SQLite also its connection)


class Session(ABC):
    """One store's connection to its database: transactions, named queries, decoding."""

    def __init__(self, dialect: Dialect, schema: TableSchema):
        for name in [schema.name, *schema.parameters, *schema.results, *schema.logtables]:
            if not is_identifier(name):  # config.py checks this too; never trust one layer
                raise InputError(f"unsafe identifier {name!r}")
        self.dialect = dialect
        self.schema = schema
        self.statements = Statements(dialect, schema)
        self.lock = StoreLock()  # shared by a worker's main and heartbeat threads
        self.column_types: dict[str, SqlType] = {**schema.parameters, **schema.results}  # for decoding

    # --- what a backend provides
    @abstractmethod
    def transaction(self, body: Callable[[Cursor], T], *,
                    after_reconnect: Callable[[Cursor], T | None] | None = None) -> T:
        """Run `body` in one transaction, retrying it on transient errors.

        `after_reconnect`, when given, runs first on a retry that followed a dropped
        connection; a non-None answer means the earlier COMMIT did land and is returned.
        """

    @abstractmethod
    def table_columns(self, cur: Cursor) -> list[str] | None:
        """Column names of the experiment table, or None when it does not exist."""

    @abstractmethod
    def stream(self, sql: str, args: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
        """A read-only statement's rows in chunks, on a connection of its own: constant
        memory, and no lock held that workers would wait for."""

    def refusal(self, e: BaseException) -> ValueRefused | None:
        """`e` as a refused value when it is the database refusing one (a backend maps its own
        error codes), so the worker fails that attempt instead of dying; None otherwise.
        Most refusals never get this far: `SqlType.check` applies the same rules first."""
        return None

    def server_up_seconds(self, cur: Cursor) -> float | None:
        """How long the database server has been up; None for an embedded database."""
        return None

    def user_connection(self) -> Any:
        """A new driver connection with this session's settings that the caller owns and
        closes (store/engine/user_sql.py); the store never uses it."""
        raise NotImplementedError(f"{self.dialect.name} hands out no connection")

    # --- sending statements
    def run(self, cur: Cursor, name: str, args: Sequence[Any] = (), *, many: bool = False, **parts: Any) -> Cursor:
        """Run the named query (store/sql/queries.sql) with `args` bound; `parts` fill its
        per-call pieces (an IN list's length, the result columns given, a table). With
        `many`, `args` is a sequence of rows for executemany."""
        sql = self.statements.text(name, parts)
        try:
            if many:
                self.executemany(cur, sql, args)
                return cur
            return self.execute(cur, sql, args)
        except Exception as e:
            refused = self.refusal(e)
            if refused is None:
                raise
            raise refused from None

    def execute(self, cur: Cursor, sql: str, args: Sequence[Any] = ()) -> Cursor:
        """Send one statement's text (written with `?`; a backend whose driver wants another
        paramstyle converts it here)."""
        cur.execute(sql, tuple(args))
        return cur

    def executemany(self, cur: Cursor, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        cur.executemany(sql, rows)
        return int(cur.rowcount)

    def copy_rows(self, cur: Cursor, name: str, rows: Sequence[Sequence[Any]], **parts: Any) -> None:
        """Stream `rows` into the named COPY ... FROM STDIN statement (PostgreSQL only)."""
        raise NotImplementedError(f"{self.dialect.name} has no COPY")

    def inserted_id(self, cur: Cursor) -> int:
        """The ID of the row the last INSERT made (its `{returning_id}` where the driver has
        no lastrowid)."""
        if self.dialect.returning_id:
            return int(cur.fetchone()[0])
        return int(cur.lastrowid)

    def stream_query(self, name: str, args: Sequence[Any], size: int, **parts: Any) -> Iterator[list[tuple[Any, ...]]]:
        """`stream` of a named query."""
        return self.stream(self.statements.text(name, parts), args, size)

    # --- reading rows
    @staticmethod
    def fetch_dicts(cur: Cursor) -> list[dict[str, Any]]:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def decode_params(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {name: t.from_db(row[name]) for name, t in self.schema.parameters.items()}

    def decode_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """Values as the config's types say; dates a driver hands back as text (SQLite) parsed,
        except PyExperimenter's `<result>_timestamp` text, which its users read as text."""
        local = self.schema.local_timestamps
        for name, value in row.items():
            t = self.column_types.get(name)
            if t is not None:
                row[name] = t.from_db(value)
            elif local and name.endswith("_timestamp") and name[: -len("_timestamp")] in self.schema.results:
                continue
            elif isinstance(value, str) and is_date_column(name):
                try:
                    row[name] = datetime.fromisoformat(value)
                except ValueError:
                    pass
        return row

    def lost_runs_possible(self, cur: Cursor, stale_after_seconds: float) -> bool:
        """A run is lost when it runs with no heartbeat for `stale_after_seconds` by the
        server's clock (the `lost` fragment) - unless the server has been up for less than
        that: then workers have not had the time to beat, and a heartbeat that looks stale
        may only be as old as the outage. Counts, the sweep and the running report all ask
        here first, so they agree."""
        up = self.server_up_seconds(cur)
        return up is None or up >= stale_after_seconds
