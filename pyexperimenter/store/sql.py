"""The store shared by SQLite and MariaDB/MySQL: transactions over the named queries.

Every statement is one of store/queries.py, run by name through `_run`; subclasses supply
connections, retries, the dialect and the claim where their databases differ. Values are
always bound parameters. Fencing (how a lost worker is kept from touching a newer attempt)
is explained in store/queries.py.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ..errors import InputError
from ..sqltypes import SqlType, is_identifier
from ..status import Outcome, Status
from . import adopt, appends, ddl, maintenance, reports, select, stream
from .base import Claim, Store, TableSchema, WorkerIdentity, new_token
from .dialect import Dialect
from .fill import RANK_SPACE, Filler, RowPriority
from .fill import fill as fill_rows
from .filters import NO_FILTER, Filter, compile_filter
from .lock import StoreLock
from .maintenance import ID_CHUNK, chunks
from .output import OutputQueries
from .quarantine import QuarantineQueries
from .schema import MAIN_INTERNAL, error_summary, local_stamp
from .side import SideTables
from .statements import Statements

T = TypeVar("T")
Cursor = Any

class SqlStore(OutputQueries, QuarantineQueries, SideTables, Store):
    """Shared implementation; subclasses supply connections, retries and the dialect."""

    dialect: Dialect

    def __init__(self, schema: TableSchema, experimenter_name: str = "pyexperimenter"):
        for name in [schema.name, *schema.parameters, *schema.results, *schema.logtables]:
            if not is_identifier(name):  # config.py checks this too; never trust one layer
                raise InputError(f"unsafe identifier {name!r}")
        self.schema = schema
        self.experimenter_name = experimenter_name
        self._lock = StoreLock()
        self._sql = Statements(self.dialect, schema)
        self._column_types: dict[str, SqlType] = {**schema.parameters, **schema.results}  # for decoding

    # --- to implement per database
    @abstractmethod
    def _transaction(self, body: Callable[[Cursor], T], *, after_reconnect: Callable[[Cursor], T | None] | None = None) -> T:
        """Run `body` in one transaction, retrying it on transient errors.

        `after_reconnect`, when given, runs first on a retry that followed a dropped
        connection; a non-None answer means the earlier COMMIT did land and is returned.
        """

    @abstractmethod
    def _table_columns(self, cur: Cursor) -> list[str] | None:
        """Column names of the experiment table, or None when it does not exist."""

    def _server_up_seconds(self, cur: Cursor) -> float | None:
        """How long the database server has been up; None for an embedded database."""
        return None

    # --- running statements
    def _run(self, cur: Cursor, name: str, args: Sequence[Any] = (), *, many: bool = False, **parts: Any) -> Cursor:
        """Run the named query (store/queries.py) with `args` bound; `parts` fill its
        per-call pieces (an IN list's length, the result columns given, a table). With
        `many`, `args` is a sequence of rows for executemany. The one way statements are
        sent, so fault tests inject failures by query name."""
        sql = self._sql.text(name, parts)
        if many:
            self._executemany(cur, sql, args)
            return cur
        return self._execute(cur, sql, args)

    def _execute(self, cur: Cursor, sql: str, args: Sequence[Any] = ()) -> Cursor:
        cur.execute(sql, tuple(args))
        return cur

    def _executemany(self, cur: Cursor, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        cur.executemany(sql, rows)
        return int(cur.rowcount)

    def in_call(self) -> bool:
        return self._lock.held()

    def on_call_end(self, hook: Callable[[], None] | None) -> None:
        self._lock.on_leave = hook

    def q(self, identifier: str) -> str:  # for tests that age a heartbeat by hand
        return self.dialect.q(identifier)

    @property
    def t(self) -> str:
        return self.dialect.q(self.schema.name)

    def ago_sql(self) -> str:
        return self.dialect.ago

    # --- helpers
    def _fetch_dicts(self, cur: Cursor) -> list[dict[str, Any]]:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def _decode_params(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {name: t.from_db(row[name]) for name, t in self.schema.parameters.items()}

    def _result_types(self, names: Iterable[str]) -> list[SqlType]:
        """The types of the result columns given; KeyError for one the config lacks."""
        return [self.schema.results[n] for n in names]

    def _result_values(self, results: Mapping[str, Any]) -> tuple[tuple[str, ...], list[Any]]:
        types, stamp = self._result_types(results), self._stamp()
        values = [t.to_db(v) for t, v in zip(types, results.values())]
        return tuple(results), values if stamp is None else [x for v in values for x in (v, stamp)]

    def _stamp(self) -> str | None:
        """The bound value of each `<result>_timestamp` (PyExperimenter's local stamp), or
        None when the statement stamps with the server's clock itself."""
        s = self.schema
        return local_stamp() if s.result_timestamps and s.local_timestamps else None

    # ------------------------------------------------------------------ tables
    def create(self) -> None:
        self._transaction(lambda cur: ddl.create(self, cur, self._random_rank))

    @staticmethod
    def _random_rank() -> int:
        return random.randrange(RANK_SPACE)

    def adopt(self) -> bool:
        """Make a PyExperimenter 1.4 table ours in place (store/adopt.py: columns and indexes
        added, rows kept), so workers and `pyexp status` work on it; False when there was
        nothing to do."""

        def body(cur: Cursor) -> bool:
            columns = self._table_columns(cur)
            if columns is None or "claim_token" in {c.lower() for c in columns}:
                return False
            ddl.create(self, cur, self._random_rank)
            return True

        return self._transaction(body)

    def upgrade(self) -> None:
        """Tables made by an earlier version gain the bookkeeping columns added since."""
        try:
            self._transaction(lambda cur: ddl.upgrade(self, cur))
        except Exception:
            # Another process may have added the column first (MariaDB then says so).
            columns = self._transaction(self._table_columns) or []
            if any(c.name not in columns for c in MAIN_INTERNAL if ddl.addable(c)):
                raise

    def exists(self) -> bool:
        return self._transaction(lambda cur: self._table_columns(cur) is not None)

    def drop(self) -> None:
        self._transaction(lambda cur: ddl.drop(self, cur))

    def insert_missing(self, rows: Iterable[Mapping[str, Any]], progress: Callable[[int], None] | None = None,
                       priority: RowPriority = 0) -> int:
        """Stream `rows` in as chunked insert-or-ignore statements on the parameter hash
        (see store/fill.py); existing rows are never read into Python, nor changed (their
        priority stays what it was)."""
        return fill_rows(self, self._filler(priority), rows, progress)

    def _filler(self, priority: RowPriority = 0) -> Filler:
        return Filler(self, priority)

    def filter(self, conditions: Iterable[tuple[str, str, str]]) -> Filter:
        return compile_filter(self.schema, conditions)

    def index_filter(self, where: Filter) -> None:
        if where:
            self._transaction(lambda cur: ddl.create_filter_index(self, cur, where.columns[0]))

    # ------------------------------------------------------------------ the queue

    def _claim_rows(self, cur: Cursor, who: WorkerIdentity, token: str, limit: int, random_order: bool,
                    where: Filter) -> list[dict[str, Any]]:
        """Pick and mark rows; the default picks with a locking SELECT then updates by id."""
        if random_order:
            pivot = random.randrange(RANK_SPACE)
            found = self._fetch_dicts(self._run(cur, "claim_pick_ranked", (*where.args, pivot, limit),
                                                conditions=where.shape))
            if len(found) < limit:
                found += self._fetch_dicts(self._run(cur, "claim_pick_wrapped", (*where.args, pivot, limit - len(found)),
                                                     conditions=where.shape))
        elif where:
            found = self._fetch_dicts(self._run(cur, "claim_pick_where", (*where.args, limit), conditions=where.shape, where_hint=where.columns[0]))
        else:
            found = self._fetch_dicts(self._run(cur, "claim_pick", (limit,)))
        if not found:
            return []
        ids = [r["ID"] for r in found]
        self._run(cur, "claim_mark", (*self._take_args(who, token), *ids), ids=len(ids))
        for r in found:
            r["attempts"] += 1
        return found

    def _take_args(self, who: WorkerIdentity, token: str) -> tuple[Any, ...]:
        """The arguments of the `take` fragment: what a claim writes into its rows."""
        return (token, who.worker, who.machine, self.experimenter_name, who.slurm_job_id)

    def claim(self, who: WorkerIdentity, limit: int = 1, random_order: bool = False,
              where: Filter = NO_FILTER) -> list[Claim]:
        token = new_token()

        def body(cur: Cursor) -> list[dict[str, Any]]:
            found = self._claim_rows(cur, who, token, limit, random_order, where)
            if found:
                self._run(cur, "claim_attempts", (*who.attempt_values, token))
            return found

        def landed(cur: Cursor) -> list[dict[str, Any]] | None:
            return self._fetch_dicts(self._run(cur, "claim_landed", (token,))) or None

        found = self._transaction(body, after_reconnect=landed)
        return [Claim(int(r["ID"]), token, int(r["attempts"]), self._decode_params(r)) for r in found]

    def claim_id(self, who: WorkerIdentity, row_id: int, statuses: Sequence[str]) -> Claim | None:
        return adopt.claim_id(self, who, row_id, statuses)

    def find(self, parameters: Mapping[str, Any]) -> tuple[int, str] | None:
        return adopt.find(self, parameters)

    def heartbeat(self, token: str) -> int:
        return self._transaction(lambda cur: self._run(cur, "heartbeat", (token,)).rowcount)

    def _owned_outcome(self, cur: Cursor, token: str, row_id: int, statuses: Sequence[str]) -> bool:
        """After an update matched nothing: did our own earlier (retried) write land?"""
        row = self._run(cur, "owned_outcome", (row_id,)).fetchone()
        return bool(row and row[1] == token and row[0] in statuses)

    def finish(self, token: str, outcomes: Sequence[tuple[int, Mapping[str, Any]]]) -> set[int]:
        # A batch is finished by one UPDATE per set of result columns (usually one in all):
        # results and the status change in the same statement, each row fenced on the token.
        groups: dict[tuple[str, ...], list[tuple[int, Mapping[str, Any]]]] = {}
        for row_id, results in outcomes:
            groups.setdefault(tuple(results), []).append((row_id, results))
        batches = [
            self._finish_batch(token, keys, part)
            for keys, rows in groups.items()
            for part in chunks(rows, max(1, min(ID_CHUNK, 4000 // (1 + 2 * len(keys)))))
        ]

        def body(cur: Cursor) -> set[int]:
            landed: set[int] = set()
            for parts, args, ids in batches:
                if self._run(cur, "finish_done", args, **parts).rowcount == len(ids):
                    landed.update(ids)
                else:  # fenced rows, or our own write landed before a lost COMMIT reply
                    landed.update(self._owned_done(cur, token, ids))
            self._close_attempts(cur, token, sorted(landed), Outcome.DONE)
            return landed

        return self._transaction(body)

    def _finish_batch(self, token: str, keys: tuple[str, ...], rows: Sequence[tuple[int, Mapping[str, Any]]]
                      ) -> tuple[dict[str, Any], list[Any], list[int]]:
        """Parts and arguments of `finish_done` for rows with the same result columns: one
        value per column, or `CASE ID WHEN ? THEN ? ... END` pairs for several rows."""
        ids = [row_id for row_id, _ in rows]
        args: list[Any] = []
        stamp = self._stamp()
        for name, sql_type in zip(keys, self._result_types(keys)):
            if len(rows) == 1:
                args.append(sql_type.to_db(rows[0][1][name]))
            else:
                for row_id, results in rows:
                    args += [row_id, sql_type.to_db(results[name])]
            args += [] if stamp is None else [stamp]
        return {"finish_sets": (keys, len(rows)), "ids": len(ids)}, [*args, *ids, token], ids

    def _owned_done(self, cur: Cursor, token: str, ids: Sequence[int]) -> list[int]:
        """Which of `ids` are done under our token (the write landed, now or on an earlier try)."""
        return [int(r[0]) for r in self._run(cur, "owned_done", (*ids, token), ids=len(ids)).fetchall()]

    def _close_attempts(self, cur: Cursor, token: str, ids: Sequence[int], outcome: Outcome, error: str | None = None) -> None:
        self._write_staged(cur, token, ids)  # what it printed, while it still runs (store/output.py)
        for part in chunks(ids, ID_CHUNK):
            self._run(cur, "close_attempts", (outcome.value, error, token, *part), ids=len(part))

    @staticmethod
    def _requeue_args(max_attempts: int, retry_delay_seconds: float) -> tuple[Any, ...]:
        """The arguments of the `requeue_or_error` fragment."""
        return (max_attempts, max_attempts, retry_delay_seconds, retry_delay_seconds)

    def fail(self, token: str, row_id: int, error: str, max_attempts: int, retry_delay_seconds: float = 0.0,
             outcome: Outcome | None = None) -> bool:
        def body(cur: Cursor) -> bool:
            args = (*self._requeue_args(max_attempts, retry_delay_seconds), error, error_summary(error), row_id, token)
            ok = self._run(cur, "fail", args).rowcount == 1 or self._owned_outcome(cur, token, row_id, ("created", "error"))
            if ok:
                self._close_attempts(cur, token, [row_id], outcome or Outcome.FAILED, error)
            return ok

        return self._transaction(body)

    def set_status(self, token: str, row_id: int, status: Status, results: Mapping[str, Any]) -> bool:
        """An experiment asked for a final status itself (PyExperimenter's PAUSED/ERROR)."""

        def body(cur: Cursor) -> bool:
            names, values = self._result_values(results)
            args = (status.value, *values, row_id, token)
            ok = self._run(cur, "set_status", args, and_results=names).rowcount == 1 or self._owned_outcome(
                cur, token, row_id, (status.value,)
            )
            if ok:
                outcome = Outcome.DONE if status != Status.ERROR else Outcome.FAILED
                self._close_attempts(cur, token, [row_id], outcome)
            return ok

        return self._transaction(body)

    def release(self, token: str, row_ids: Sequence[int], outcome: Outcome | None = None,
                reason: str | None = None) -> int:
        if not row_ids:
            return 0

        def body(cur: Cursor) -> int:
            n = self._run(cur, "release", (*row_ids, token), ids=len(row_ids)).rowcount
            self._close_attempts(cur, token, row_ids, outcome or Outcome.RELEASED, reason)
            return int(n)

        return self._transaction(body)

    def write_results(self, token: str, row_id: int, results: Mapping[str, Any]) -> bool:
        names, values = self._result_values(results)
        if not names:
            return True
        args = (*values, row_id, token)
        return self._transaction(lambda cur: self._run(cur, "write_results", args, results=names).rowcount == 1)

    def write_logs(self, token: str, row_id: int, logs: Mapping[str, Mapping[str, Any]]) -> bool:
        return appends.write_logs(self, token, row_id, logs)

    def write_codecarbon(self, token: str, row_id: int, values: Mapping[str, Any]) -> bool:
        return appends.write_codecarbon(self, token, row_id, values)

    # ------------------------------------------------------------------ lost runs

    def _lost_runs_possible(self, cur: Cursor, stale_after_seconds: float) -> bool:
        """A run is lost when it runs with no heartbeat for `stale_after_seconds` by the
        server's clock (the `lost` fragment) - unless the server has been up for less than
        that: then workers have not had the time to beat, and a heartbeat that looks stale
        may only be as old as the outage. counts(), requeue_stale() and the running report
        all ask here first, so they agree."""
        up = self._server_up_seconds(cur)
        return up is None or up >= stale_after_seconds

    def requeue_stale(self, stale_after_seconds: float, max_attempts: int, retry_delay_seconds: float = 0.0) -> int:
        return self._transaction(lambda cur: maintenance.requeue_stale(self, cur, stale_after_seconds, max_attempts,
                                                                       retry_delay_seconds))

    # ------------------------------------------------------------------ maintenance and reading

    def reset(self, statuses: Sequence[str] | None = None, ids: Sequence[int] | None = None,
              where: Filter = NO_FILTER) -> int:
        if ids is not None and not ids:
            return 0
        return self._transaction(lambda cur: maintenance.reset(self, cur, statuses, ids, where))

    def counts(self, stale_after_seconds: float | None = None, where: Filter = NO_FILTER) -> dict[str, int]:
        return self._transaction(lambda cur: reports.counts(self, cur, stale_after_seconds, where))

    def rows(self, table: str | None = None, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return reports.rows(self, table or self.schema.name, where or {})

    def ids(self, where: Filter) -> list[int]:
        def body(cur: Cursor) -> list[int]:
            return [int(r[0]) for r in self._run(cur, "matching_ids", where.args, where_conditions=where.shape).fetchall()]

        return self._transaction(body)

    def aggregates_in_sql(self) -> frozenset[str]:
        return select.sql_aggregates(self.dialect)

    def columns(self) -> list[str]:
        return self._transaction(self._table_columns) or []

    def read(self, name: str, args: Sequence[Any] = (), **parts: Any) -> list[tuple[Any, ...]]:
        """A read-only named query (store/select.py's, the status reports') -> its rows."""
        stream.check_read(name)
        return self._transaction(lambda cur: list(self._run(cur, name, args, **parts).fetchall()))

    def stream(self, name: str, args: Sequence[Any] = (), chunk: int = 5000, **parts: Any) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of a read-only named query in chunks, on a connection of their own with a
        server-side cursor: constant memory, and no lock held that workers would wait for."""
        stream.check_read(name)
        return stream.chunks(self, self._sql.text(name, parts), args, chunk)

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Read-only reports for `pyexp status` (store/reports.py)."""
        return reports.report(self, name, params)
