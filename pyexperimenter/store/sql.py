"""SQL shared by SQLite and MariaDB/MySQL: schema, fill, fenced writes, requeue, reports.

Statements are written once with `?` placeholders; the MySQL store translates them for
pymysql. Only identifiers checked by `sqltypes.is_identifier` are ever pasted into SQL
text, always quoted; every value is a bound parameter.

Fencing: every claim stamps its rows with a fresh `claim_token`. All writes for an attempt
carry `WHERE ID = ? AND claim_token = ? AND status = 'running'`, so a worker that was
declared lost (its rows requeued, the token cleared, maybe re-claimed under a new token)
cannot touch a newer attempt. Transitions made by the owner keep the token, transitions made
by others clear it: after a lost COMMIT, "my token, no longer running" proves that my own
write landed.
"""

from __future__ import annotations

import random
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from ..errors import InputError
from ..sqltypes import SqlType, is_identifier
from ..status import ALL_STATUSES, Outcome, Status
from .base import Claim, Store, TableSchema, WorkerIdentity, new_token
from .fill import RANK_SPACE, Filler
from .fill import fill as fill_rows

T = TypeVar("T")
Cursor = Any

_DATE_COLUMNS = {"creation_date", "start_date", "end_date", "heartbeat", "available_at", "timestamp"}
ID_CHUNK = 500


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class StoreLock:
    """The store's re-entrant lock, shared by a worker's main and heartbeat threads, which
    also tells whether the calling thread is inside a store call.

    A stop signal must not interrupt a database call halfway (a half-read reply would
    desynchronise the connection), so the worker asks `held()` before interrupting the
    experiment and, if the main thread is inside the store, interrupts it from `on_leave`
    as soon as the call is over. The depth counter is raised before acquiring and lowered
    after releasing, so a signal handler never sees "not held" while the lock is held."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = threading.local()
        self.on_leave: Callable[[], None] | None = None

    def held(self) -> bool:
        return bool(getattr(self._depth, "n", 0))

    def __enter__(self) -> StoreLock:
        self._depth.n = getattr(self._depth, "n", 0) + 1
        try:
            self._lock.acquire()
        except BaseException:
            self._depth.n -= 1
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        self._depth.n -= 1
        if self._depth.n == 0 and self.on_leave is not None:
            self.on_leave()

    def sleep(self, seconds: float) -> None:
        """A retry's back-off inside a call, with the connection idle (rolled back or
        dropped): the lock is let go meanwhile, so the heartbeat thread keeps beating
        through a deadlock storm or a server restart, and a stop signal may interrupt
        the experiment at once. Nested calls sleep holding the lock."""
        if getattr(self._depth, "n", 0) != 1:
            time.sleep(seconds)
            return
        self._lock.release()
        self._depth.n = 0
        try:
            time.sleep(seconds)
        finally:
            self._depth.n = 1  # first: a signal during the wait below is deferred again
            self._lock.acquire()


class SqlStore(Store):
    """Shared implementation; subclasses supply connections, retries and dialect bits."""

    # --- dialect hooks, overridden by subclasses
    now_sql: str  # server clock as a DATETIME expression
    now_default: str  # the same, as a column default
    autoincrement_pk: str
    datetime_type: str
    short_text: str  # type for status/worker/etc.
    lock_suffix: str = ""  # appended to SELECTs that pick rows to change, skipping taken ones
    lock_wait_suffix: str = ""  # the same, waiting for taken rows instead

    def __init__(self, schema: TableSchema, experimenter_name: str = "pyexperimenter"):
        for name in [schema.name, *schema.parameters, *schema.results, *schema.logtables]:
            if not is_identifier(name):  # config.py checks this too; never trust one layer
                raise InputError(f"unsafe identifier {name!r}")
        self.schema = schema
        self.experimenter_name = experimenter_name
        self._lock = StoreLock()
        self._columns_cache: dict[str, SqlType] = {
            **schema.parameters,
            **schema.results,
        }

    # --- to implement per database
    @abstractmethod
    def q(self, identifier: str) -> str:
        """Quote an identifier already checked against the identifier pattern."""

    @abstractmethod
    def ago_sql(self) -> str:
        """Server time minus `?` seconds, as a DATETIME expression taking one parameter."""

    @abstractmethod
    def later_sql(self) -> str:
        """Server time plus `?` seconds."""

    @abstractmethod
    def age_sql(self, column: str) -> str:
        """Seconds between a DATETIME column and the server's now."""

    @abstractmethod
    def _transaction(self, body: Callable[[Cursor], T], *, after_reconnect: Callable[[Cursor], T | None] | None = None) -> T:
        """Run `body` in one transaction, retrying it on transient errors.

        `after_reconnect`, when given, runs first on a retry that followed a dropped
        connection; a non-None answer means the earlier COMMIT did land and is returned.
        """

    def in_call(self) -> bool:
        return self._lock.held()

    def on_call_end(self, hook: Callable[[], None] | None) -> None:
        self._lock.on_leave = hook

    def _server_up_seconds(self, cur: Cursor) -> float | None:
        """How long the database server has been up; None for an embedded database."""
        return None

    def _just_restarted(self, cur: Cursor, stale_after_seconds: float) -> bool:
        """A server up for less than the stale limit has not given workers the time to beat:
        a heartbeat that looks stale may only be as old as the outage. No run is lost yet."""
        up = self._server_up_seconds(cur)
        return up is not None and up < stale_after_seconds

    @abstractmethod
    def _table_columns(self, cur: Cursor, table: str) -> list[str] | None:
        """Column names of `table`, or None when it does not exist."""

    @abstractmethod
    def _create_index_sql(self, table: str, index: str, columns: str, unique: bool = False) -> str: ...

    @abstractmethod
    def _insert_ignore_sql(self, table: str, columns: Sequence[str]) -> str: ...

    def _execute(self, cur: Cursor, sql: str, args: Sequence[Any] = ()) -> Cursor:
        cur.execute(sql, tuple(args))
        return cur

    def _executemany(self, cur: Cursor, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        cur.executemany(sql, rows)
        return int(cur.rowcount)

    # --- helpers
    @property
    def t(self) -> str:
        return self.q(self.schema.name)

    @property
    def a(self) -> str:
        return self.q(self.schema.attempts_table)

    def _marks(self, n: int) -> str:
        return ",".join("?" * n)

    def _fetch_dicts(self, cur: Cursor) -> list[dict[str, Any]]:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def _decode_params(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {name: t.from_db(row[name]) for name, t in self.schema.parameters.items()}

    def _decode_row(self, row: dict[str, Any]) -> dict[str, Any]:
        for name, value in row.items():
            t = self._columns_cache.get(name)
            if t is not None:
                row[name] = t.from_db(value)
            elif isinstance(value, str) and (name in _DATE_COLUMNS or name.endswith("_timestamp")):
                try:
                    row[name] = datetime.fromisoformat(value)
                except ValueError:
                    pass
        return row

    def _result_assignments(self, results: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
        sets, args = [], []
        for name, value in results.items():
            sql_type = self.schema.results.get(name)
            if sql_type is None:
                raise KeyError(name)
            sets.append(f"{self.q(name)} = ?")
            args.append(sql_type.to_db(value))
            if self.schema.result_timestamps:
                sets.append(f"{self.q(name + '_timestamp')} = {self.now_sql}")
        return sets, args

    # ------------------------------------------------------------------ tables

    def _main_ddl(self) -> str:
        dt, short = self.datetime_type, self.short_text
        cols = [f"{self.q('ID')} {self.autoincrement_pk}"]
        cols += [f"{self.q(n)} {self._ddl_type(t)} DEFAULT NULL" for n, t in self.schema.parameters.items()]
        cols += [
            f"{self.q('creation_date')} {dt} DEFAULT {self.now_default}",
            f"{self.q('status')} VARCHAR(16) NOT NULL DEFAULT 'created'",
            f"{self.q('start_date')} {dt} DEFAULT NULL",
            f"{self.q('name')} {short} DEFAULT NULL",
            f"{self.q('machine')} {short} DEFAULT NULL",
        ]
        for name, sql_type in self.schema.results.items():
            cols.append(f"{self.q(name)} {self._ddl_type(sql_type)} DEFAULT NULL")
            if self.schema.result_timestamps:
                cols.append(f"{self.q(name + '_timestamp')} {dt} DEFAULT NULL")
        cols += [
            f"{self.q('end_date')} {dt} DEFAULT NULL",
            f"{self.q('error')} {self._long_text} DEFAULT NULL",
            f"{self.q('attempts')} INTEGER NOT NULL DEFAULT 0",
            f"{self.q('worker')} {short} DEFAULT NULL",
            f"{self.q('heartbeat')} {dt} DEFAULT NULL",
            f"{self.q('claim_token')} CHAR(32) DEFAULT NULL",
            f"{self.q('param_hash')} CHAR(40) NOT NULL",
            f"{self.q('rank_key')} INTEGER NOT NULL DEFAULT 0",
            f"{self.q('available_at')} {dt} DEFAULT NULL",
            f"{self.q('slurm_job_id')} {short} DEFAULT NULL",
        ]
        return f"CREATE TABLE IF NOT EXISTS {self.t} ({', '.join(cols)}){self._table_suffix}"

    def _attempts_ddl(self) -> str:
        dt, short = self.datetime_type, self.short_text
        cols = [
            f"{self.q('ID')} {self.autoincrement_pk}",
            f"{self.q('experiment_id')} BIGINT NOT NULL",
            f"{self.q('attempt')} INTEGER NOT NULL",
            f"{self.q('claim_token')} CHAR(32) NOT NULL",
            f"{self.q('worker')} {short} DEFAULT NULL",
            f"{self.q('machine')} {short} DEFAULT NULL",
            f"{self.q('pid')} INTEGER DEFAULT NULL",
            f"{self.q('slurm_job_id')} {short} DEFAULT NULL",
            f"{self.q('slurm_array_job_id')} {short} DEFAULT NULL",
            f"{self.q('slurm_array_task_id')} INTEGER DEFAULT NULL",
            f"{self.q('start_date')} {dt} DEFAULT NULL",
            f"{self.q('end_date')} {dt} DEFAULT NULL",
            f"{self.q('outcome')} VARCHAR(16) NOT NULL",
            f"{self.q('error')} {self._long_text} DEFAULT NULL",
        ]
        return f"CREATE TABLE IF NOT EXISTS {self.a} ({', '.join(cols)}){self._table_suffix}"

    def _logtable_ddl(self, name: str, columns: Mapping[str, SqlType]) -> str:
        cols = [
            f"{self.q('ID')} {self.autoincrement_pk}",
            f"{self.q('experiment_id')} BIGINT NOT NULL",
            f"{self.q('timestamp')} {self.datetime_type} DEFAULT NULL",
        ]
        cols += [f"{self.q(c)} {self._ddl_type(t)} DEFAULT NULL" for c, t in columns.items()]
        return f"CREATE TABLE IF NOT EXISTS {self.q(self.schema.logtable(name))} ({', '.join(cols)}){self._table_suffix}"

    _long_text = "TEXT"
    _table_suffix = ""

    def _ddl_type(self, sql_type: SqlType) -> str:
        return sql_type.name

    def _indexes(self) -> list[str]:
        t, a = self.schema.name, self.schema.attempts_table
        stmts = [
            self._create_index_sql(t, "ux_param_hash", "param_hash", unique=True),
            self._create_index_sql(t, "ix_status", "status, ID"),
            self._create_index_sql(t, "ix_status_rank", "status, rank_key"),
            self._create_index_sql(t, "ix_claim_token", "claim_token"),
            self._create_index_sql(a, "ix_experiment", "experiment_id"),
            self._create_index_sql(a, "ix_claim_token", "claim_token"),
        ]
        for name in self.schema.logtables:
            stmts.append(self._create_index_sql(self.schema.logtable(name), "ix_experiment", "experiment_id"))
        return stmts

    def create(self) -> None:
        def body(cur: Cursor) -> None:
            existing = self._table_columns(cur, self.schema.name)
            if existing is None:
                self._execute(cur, self._main_ddl())
            else:
                self._check_structure(cur, existing)
            self._execute(cur, self._attempts_ddl())
            for name, cols in self.schema.logtables.items():
                self._execute(cur, self._logtable_ddl(name, cols))
            for stmt in self._indexes():
                self._execute(cur, stmt)

        self._transaction(body)

    def _check_structure(self, cur: Cursor, existing: list[str]) -> None:
        have = {c.lower() for c in existing}
        missing = [p for p in self.schema.parameters if p.lower() not in have]
        if missing or "claim_token" not in have:
            what = f"lacks the parameter column(s) {', '.join(missing)}" if missing else "was not made by pyexperimenter"
            raise InputError(
                f"table {self.schema.name} exists but {what}; "
                f"use another experiment name or drop it with `pyexp delete CONFIG --yes`"
            )
        # New result columns may be added to a running experiment without losing anything.
        for name, sql_type in self.schema.results.items():
            if name.lower() not in have:
                self._execute(cur, f"ALTER TABLE {self.t} ADD COLUMN {self.q(name)} {self._ddl_type(sql_type)} DEFAULT NULL")
            ts = f"{name}_timestamp"
            if self.schema.result_timestamps and ts.lower() not in have:
                self._execute(cur, f"ALTER TABLE {self.t} ADD COLUMN {self.q(ts)} {self.datetime_type} DEFAULT NULL")

    def exists(self) -> bool:
        return self._transaction(lambda cur: self._table_columns(cur, self.schema.name) is not None)

    def drop(self) -> None:
        def body(cur: Cursor) -> None:
            for name in self.schema.logtables:
                self._execute(cur, f"DROP TABLE IF EXISTS {self.q(self.schema.logtable(name))}")
            self._execute(cur, f"DROP TABLE IF EXISTS {self.a}")
            self._execute(cur, f"DROP TABLE IF EXISTS {self.t}")

        self._transaction(body)

    # ------------------------------------------------------------------ fill

    def insert_missing(self, rows: Iterable[Mapping[str, Any]], progress: Callable[[int], None] | None = None) -> int:
        """Stream `rows` in as chunked insert-or-ignore statements on the parameter hash
        (see store/fill.py); existing rows are never read into Python."""
        return fill_rows(self, self._filler(), rows, progress)

    def _filler(self) -> Filler:
        return Filler(self)

    # ------------------------------------------------------------------ the queue

    def _select_open_sql(self, random_order: bool, wrap: bool = False) -> str:
        cols = ", ".join(self.q(c) for c in ["ID", "attempts", *self.schema.parameters])
        order, start = ("rank_key", "rank_key >= ?" if not wrap else "rank_key < ?") if random_order else ("ID", "1=1")
        return (
            f"SELECT {cols} FROM {self.t}{self._status_index_hint(random_order)} "
            f"WHERE status = 'created' AND {start} "
            f"AND (available_at IS NULL OR available_at <= {self.now_sql}) "
            f"ORDER BY {order} LIMIT ?{self.lock_suffix}"
        )

    def _status_index_hint(self, random_order: bool) -> str:
        return ""

    def _claim_rows(self, cur: Cursor, who: WorkerIdentity, token: str, limit: int, random_order: bool) -> list[dict[str, Any]]:
        """Pick and mark rows; the default picks with a locking SELECT then updates by id."""
        if random_order:
            pivot = random.randrange(RANK_SPACE)
            found = self._fetch_dicts(self._execute(cur, self._select_open_sql(True), (pivot, limit)))
            if len(found) < limit:
                found += self._fetch_dicts(
                    self._execute(cur, self._select_open_sql(True, wrap=True), (pivot, limit - len(found)))
                )
        else:
            found = self._fetch_dicts(self._execute(cur, self._select_open_sql(False), (limit,)))
        if not found:
            return []
        ids = [r["ID"] for r in found]
        self._execute(
            cur,
            f"UPDATE {self.t} SET status = 'running', claim_token = ?, worker = ?, machine = ?, name = ?, "
            f"slurm_job_id = ?, start_date = {self.now_sql}, heartbeat = {self.now_sql}, end_date = NULL, "
            f"attempts = attempts + 1 WHERE ID IN ({self._marks(len(ids))})",
            (token, who.worker, who.machine, self.experimenter_name, who.slurm_job_id, *ids),
        )
        for r in found:
            r["attempts"] += 1
        return found

    def _record_attempts(self, cur: Cursor, who: WorkerIdentity, token: str) -> None:
        self._execute(
            cur,
            f"INSERT INTO {self.a} (experiment_id, attempt, claim_token, worker, machine, pid, slurm_job_id, "
            f"slurm_array_job_id, slurm_array_task_id, start_date, outcome) "
            f"SELECT ID, attempts, claim_token, worker, machine, ?, ?, ?, ?, start_date, 'running' "
            f"FROM {self.t} WHERE claim_token = ?",
            (who.pid, who.slurm_job_id, who.slurm_array_job_id, who.slurm_array_task_id, token),
        )

    def claim(self, who: WorkerIdentity, limit: int = 1, random_order: bool = False) -> list[Claim]:
        token = new_token()

        def body(cur: Cursor) -> list[dict[str, Any]]:
            found = self._claim_rows(cur, who, token, limit, random_order)
            if found:
                self._record_attempts(cur, who, token)
            return found

        def landed(cur: Cursor) -> list[dict[str, Any]] | None:
            cols = ", ".join(self.q(c) for c in ["ID", "attempts", *self.schema.parameters])
            rows = self._fetch_dicts(
                self._execute(cur, f"SELECT {cols} FROM {self.t} WHERE claim_token = ? AND status = 'running'", (token,))
            )
            return rows or None

        found = self._transaction(body, after_reconnect=landed)
        return [Claim(int(r["ID"]), token, int(r["attempts"]), self._decode_params(r)) for r in found]

    def heartbeat(self, token: str) -> int:
        return self._transaction(
            lambda cur: self._execute(
                cur,
                f"UPDATE {self.t} SET heartbeat = {self.now_sql} WHERE claim_token = ? AND status = 'running'",
                (token,),
            ).rowcount
        )

    def _owned_outcome(self, cur: Cursor, token: str, row_id: int, statuses: Sequence[str]) -> bool:
        """After an update matched nothing: did our own earlier (retried) write land?"""
        cur = self._execute(cur, f"SELECT status, claim_token FROM {self.t} WHERE ID = ?", (row_id,))
        row = cur.fetchone()
        return bool(row and row[1] == token and row[0] in statuses)

    def finish(self, token: str, outcomes: Sequence[tuple[int, Mapping[str, Any]]]) -> set[int]:
        # A batch is finished by one UPDATE per set of result columns (usually one in all):
        # results and the status change in the same statement, each row fenced on the token.
        groups: dict[tuple[str, ...], list[tuple[int, Mapping[str, Any]]]] = {}
        for row_id, results in outcomes:
            groups.setdefault(tuple(results), []).append((row_id, results))
        statements = [
            self._finish_sql(token, part)
            for keys, rows in groups.items()
            for part in chunks(rows, max(1, min(ID_CHUNK, 4000 // (1 + 2 * len(keys)))))
        ]

        def body(cur: Cursor) -> set[int]:
            landed: set[int] = set()
            for sql, args, ids in statements:
                if self._execute(cur, sql, args).rowcount == len(ids):
                    landed.update(ids)
                else:  # fenced rows, or our own write landed before a lost COMMIT reply
                    landed.update(self._owned_done(cur, token, ids))
            self._close_attempts(cur, token, sorted(landed), Outcome.DONE)
            return landed

        return self._transaction(body)

    def _finish_sql(self, token: str, rows: Sequence[tuple[int, Mapping[str, Any]]]) -> tuple[str, list[Any], list[int]]:
        """UPDATE to done for rows with the same result columns, each column set per row
        with `CASE ID WHEN ? THEN ? ... END`, fenced by `claim_token` and `status`."""
        ids = [row_id for row_id, _ in rows]
        sets: list[str] = []
        args: list[Any] = []
        for name in rows[0][1]:
            sql_type = self.schema.results.get(name)
            if sql_type is None:
                raise KeyError(name)
            if len(rows) == 1:
                sets.append(f"{self.q(name)} = ?")
                args.append(sql_type.to_db(rows[0][1][name]))
            else:
                sets.append(f"{self.q(name)} = CASE ID{' WHEN ? THEN ?' * len(rows)} END")
                for row_id, results in rows:
                    args += [row_id, sql_type.to_db(results[name])]
            if self.schema.result_timestamps:
                sets.append(f"{self.q(name + '_timestamp')} = {self.now_sql}")
        sql = (
            f"UPDATE {self.t} SET status = 'done', end_date = {self.now_sql}, error = NULL"
            f"{''.join(', ' + s for s in sets)} WHERE ID IN ({self._marks(len(ids))}) "
            f"AND claim_token = ? AND status = 'running'"
        )
        return sql, [*args, *ids, token], ids

    def _owned_done(self, cur: Cursor, token: str, ids: Sequence[int]) -> list[int]:
        """Which of `ids` are done under our token (the write landed, now or on an earlier try)."""
        cur = self._execute(
            cur,
            f"SELECT ID FROM {self.t} WHERE ID IN ({self._marks(len(ids))}) AND claim_token = ? AND status = 'done'",
            (*ids, token),
        )
        return [int(r[0]) for r in cur.fetchall()]

    def _close_attempts(self, cur: Cursor, token: str, ids: Sequence[int], outcome: Outcome, error: str | None = None) -> None:
        for part in chunks(ids, ID_CHUNK):
            self._execute(
                cur,
                f"UPDATE {self.a} SET outcome = ?, end_date = {self.now_sql}, error = ? "
                f"WHERE claim_token = ? AND outcome = 'running' AND experiment_id IN ({self._marks(len(part))})",
                (outcome.value, error, token, *part),
            )

    def fail(self, token: str, row_id: int, error: str, max_attempts: int, retry_delay_seconds: float = 0.0) -> bool:
        def body(cur: Cursor) -> bool:
            sql = (
                f"UPDATE {self.t} SET status = CASE WHEN attempts < ? THEN 'created' ELSE 'error' END, "
                f"error = ?, end_date = {self.now_sql}, heartbeat = NULL, "
                f"available_at = CASE WHEN attempts < ? AND ? > 0 THEN {self.later_sql()} ELSE NULL END "
                f"WHERE ID = ? AND claim_token = ? AND status = 'running'"
            )
            args = (max_attempts, error, max_attempts, retry_delay_seconds, retry_delay_seconds, row_id, token)
            ok = self._execute(cur, sql, args).rowcount == 1 or self._owned_outcome(
                cur, token, row_id, ("created", "error")
            )
            if ok:
                self._close_attempts(cur, token, [row_id], Outcome.FAILED, error)
            return ok

        return self._transaction(body)

    def set_status(self, token: str, row_id: int, status: Status, results: Mapping[str, Any]) -> bool:
        """An experiment asked for a final status itself (PyExperimenter's PAUSED/ERROR)."""

        def body(cur: Cursor) -> bool:
            sets, args = self._result_assignments(results)
            sql = (
                f"UPDATE {self.t} SET status = ?, end_date = {self.now_sql}{''.join(', ' + s for s in sets)} "
                f"WHERE ID = ? AND claim_token = ? AND status = 'running'"
            )
            ok = self._execute(cur, sql, (status.value, *args, row_id, token)).rowcount == 1 or self._owned_outcome(
                cur, token, row_id, (status.value,)
            )
            if ok:
                outcome = Outcome.DONE if status != Status.ERROR else Outcome.FAILED
                self._close_attempts(cur, token, [row_id], outcome)
            return ok

        return self._transaction(body)

    def release(self, token: str, row_ids: Sequence[int]) -> int:
        if not row_ids:
            return 0

        def body(cur: Cursor) -> int:
            n = self._execute(
                cur,
                f"UPDATE {self.t} SET status = 'created', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
                f"start_date = NULL, heartbeat = NULL, worker = NULL, machine = NULL, slurm_job_id = NULL "
                f"WHERE claim_token = ? AND status = 'running' AND ID IN ({self._marks(len(row_ids))})",
                (token, *row_ids),
            ).rowcount
            self._close_attempts(cur, token, row_ids, Outcome.RELEASED)
            return int(n)

        return self._transaction(body)

    def write_results(self, token: str, row_id: int, results: Mapping[str, Any]) -> bool:
        sets, args = self._result_assignments(results)
        if not sets:
            return True
        sql = f"UPDATE {self.t} SET {', '.join(sets)} WHERE ID = ? AND claim_token = ? AND status = 'running'"

        return self._transaction(lambda cur: self._execute(cur, sql, (*args, row_id, token)).rowcount == 1)

    def write_logs(self, token: str, row_id: int, logs: Mapping[str, Mapping[str, Any]]) -> bool:
        statements = []
        for table, values in logs.items():
            columns = self.schema.logtables.get(table)
            if columns is None:
                raise KeyError(table)
            for col in values:
                if col not in columns:
                    raise KeyError(f"{table}.{col}")
            cols = ", ".join(self.q(c) for c in values)
            extra = f", {cols}" if values else ""
            marks = "".join(", ?" for _ in values)
            statements.append(
                (
                    f"INSERT INTO {self.q(self.schema.logtable(table))} (experiment_id, {self.q('timestamp')}{extra}) "
                    f"VALUES (?, {self.now_sql}{marks})",
                    (row_id, *(columns[c].to_db(v) for c, v in values.items())),
                )
            )

        def body(cur: Cursor) -> bool:
            # Lock the row while it still carries our token: no sweep can requeue it before
            # this transaction ends, so the log rows belong to a live attempt, all or none.
            owned = self._execute(
                cur,
                f"SELECT ID FROM {self.t} WHERE ID = ? AND claim_token = ? AND status = 'running'{self.lock_wait_suffix}",
                (row_id, token),
            ).fetchone()
            if owned is None:
                return False
            for sql, args in statements:
                self._execute(cur, sql, args)
            return True

        return self._transaction(body)

    def _stale_candidates(self, cur: Cursor, stale_after_seconds: float) -> list[dict[str, Any]]:
        return self._fetch_dicts(
            self._execute(
                cur,
                f"SELECT ID, claim_token, heartbeat, worker FROM {self.t} "
                f"WHERE status = 'running' AND heartbeat < {self.ago_sql()}{self.lock_suffix}",
                (stale_after_seconds,),
            )
        )

    def requeue_stale(self, stale_after_seconds: float, max_attempts: int, retry_delay_seconds: float = 0.0) -> int:
        def body(cur: Cursor) -> int:
            if self._just_restarted(cur, stale_after_seconds):
                return 0
            changed = 0
            for row in self._stale_candidates(cur, stale_after_seconds):
                reason = f"worker lost: no heartbeat since {row['heartbeat']} (worker {row['worker']})"
                # Compare-and-set on the token: a row handled by a concurrent sweep is skipped.
                n = self._execute(
                    cur,
                    f"UPDATE {self.t} SET status = CASE WHEN attempts < ? THEN 'created' ELSE 'error' END, "
                    f"error = ?, claim_token = NULL, heartbeat = NULL, end_date = {self.now_sql}, "
                    f"available_at = CASE WHEN attempts < ? AND ? > 0 THEN {self.later_sql()} ELSE NULL END "
                    f"WHERE ID = ? AND claim_token = ? AND status = 'running'",
                    (max_attempts, reason, max_attempts, retry_delay_seconds, retry_delay_seconds,
                     row["ID"], row["claim_token"]),
                ).rowcount
                if n == 1:
                    changed += 1
                    self._close_attempts(cur, row["claim_token"], [row["ID"]], Outcome.LOST, reason)
            return changed

        return self._transaction(body)

    # ------------------------------------------------------------------ maintenance

    def reset(self, statuses: Sequence[str] | None = None, ids: Sequence[int] | None = None) -> int:
        wanted = list(ALL_STATUSES) if not statuses or "all" in statuses else list(statuses)
        clear = ", ".join(f"{self.q(c)} = NULL" for c in self.schema.result_columns())
        clear = f", {clear}" if clear else ""

        def body(cur: Cursor) -> int:
            sql = f"SELECT ID, claim_token FROM {self.t} WHERE status IN ({self._marks(len(wanted))})"
            args: list[Any] = list(wanted)
            if ids is not None:
                if not ids:
                    return 0
                sql += f" AND ID IN ({self._marks(len(ids))})"
                args += list(ids)
            found = self._fetch_dicts(self._execute(cur, sql + self.lock_wait_suffix, args))
            for part in chunks(found, ID_CHUNK):
                pids = [r["ID"] for r in part]
                marks = self._marks(len(pids))
                self._execute(
                    cur,
                    f"UPDATE {self.t} SET status = 'created', attempts = 0, start_date = NULL, end_date = NULL, "
                    f"error = NULL, worker = NULL, machine = NULL, heartbeat = NULL, claim_token = NULL, "
                    f"available_at = NULL, slurm_job_id = NULL{clear} WHERE ID IN ({marks})",
                    pids,
                )
                self._execute(
                    cur,
                    f"UPDATE {self.a} SET outcome = 'reset', end_date = {self.now_sql} "
                    f"WHERE outcome = 'running' AND experiment_id IN ({marks})",
                    pids,
                )
                for name in self.schema.logtables:
                    self._execute(
                        cur, f"DELETE FROM {self.q(self.schema.logtable(name))} WHERE experiment_id IN ({marks})", pids
                    )
            return len(found)

        return self._transaction(body)

    def counts(self, stale_after_seconds: float | None = None) -> dict[str, int]:
        def body(cur: Cursor) -> dict[str, int]:
            out = dict.fromkeys(ALL_STATUSES, 0)
            for status, n in self._execute(cur, f"SELECT status, COUNT(*) FROM {self.t} GROUP BY status").fetchall():
                out[str(status)] = int(n)
            if stale_after_seconds is not None and self._just_restarted(cur, stale_after_seconds):
                out["stale"] = 0
            elif stale_after_seconds is not None:
                row = self._execute(
                    cur,
                    f"SELECT COUNT(*) FROM {self.t} WHERE status = 'running' AND heartbeat < {self.ago_sql()}",
                    (stale_after_seconds,),
                ).fetchone()
                out["stale"] = int(row[0])
            return out

        return self._transaction(body)

    def rows(self, table: str | None = None, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        name = table or self.schema.name
        if name not in self._readable_tables():
            raise InputError(f"unknown table {name!r}")
        sql = f"SELECT * FROM {self.q(name)}"
        args: list[Any] = []
        if where:
            conds = []
            for col, value in where.items():
                if not is_identifier(col):
                    raise InputError(f"unsafe column name {col!r}")
                conds.append(f"{self.q(col)} = ?")
                args.append(value)
            sql += " WHERE " + " AND ".join(conds)
        sql += " ORDER BY ID"
        return self._transaction(lambda cur: [self._decode_row(r) for r in self._fetch_dicts(self._execute(cur, sql, args))])

    def _readable_tables(self) -> set[str]:
        return {self.schema.name, self.schema.attempts_table, *(self.schema.logtable(n) for n in self.schema.logtables)}

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Read-only reports for `pyexp status`; ages come from the server's clock."""
        stale = float(params.get("stale_after_seconds", 120))
        reports = {
            "running": (
                f"SELECT ID, worker, machine, slurm_job_id, attempts, start_date, heartbeat, "
                f"{self.age_sql('start_date')} AS runtime_seconds, {self.age_sql('heartbeat')} AS heartbeat_age_seconds "
                f"FROM {self.t} WHERE status = 'running' ORDER BY ID",
                (),
            ),
            "errors": (f"SELECT ID, error FROM {self.t} WHERE status = 'error' ORDER BY ID", ()),
            "finished_since": (
                f"SELECT COUNT(*) AS n FROM {self.t} WHERE status IN ('done', 'error') AND end_date >= {self.ago_sql()}",
                (float(params.get("seconds", 300)),),
            ),
            "first_end": (
                f"SELECT MIN(end_date) AS first_end, {self.age_sql('MIN(end_date)')} AS age_seconds "
                f"FROM {self.t} WHERE status IN ('done', 'error')",
                (),
            ),
        }
        if name not in reports:
            raise InputError(f"unknown report {name!r}")
        sql, args = reports[name]
        rows = self._transaction(lambda cur: self._fetch_dicts(self._execute(cur, sql, args)))
        if name == "running":
            for r in rows:
                r["stale"] = r["heartbeat_age_seconds"] is not None and float(r["heartbeat_age_seconds"]) > stale
        return [self._decode_row(r) for r in rows]

