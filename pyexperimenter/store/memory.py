"""An in-memory Store: the contract of store/base.py in plain Python, for unit tests.

Unit tests of the worker loop, the launcher's checks and the reports want the real store's
behaviour (fencing by claim token, attempts, requeue or error, the attempt history) without a
database. One lock guards every method, enough for a worker and its heartbeat thread; it is no
model of several processes, and nothing in the package opens it: tests pass it in themselves.

Time comes from `clock` (seconds): a test ages a heartbeat by moving the clock, not sleeping.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..errors import InputError
from ..grid import parameter_hash
from ..status import ALL_STATUSES, Outcome, Status
from .base import Claim, Store, TableSchema, WorkerIdentity, new_token
from .filters import NO_FILTER, Filter, compile_filter
from .memory_output import MemoryOutput
from .schema import error_summary

Row = dict[str, Any]


class MemoryStore(MemoryOutput, Store):
    """One experiment's tables as lists of dicts; method for method what SqlStore does."""

    def __init__(self, schema: TableSchema, experimenter_name: str = "pyexperimenter",
                 clock: Callable[[], float] = time.time):
        self.schema, self.experimenter_name, self.clock = schema, experimenter_name, clock
        self.calls: list[str] = []  # method names in call order, for tests that count them
        self._lock = threading.RLock()
        self._created, self._next_id = False, 1
        self._rows: dict[int, Row] = {}
        self._hashes: set[str] = set()
        self._attempts: list[Row] = []
        self._logs: dict[str, list[Row]] = {}
        self._launches: list[Row] = []
        self.sweeper = False  # whether the one worker on this store holds the sweeper lock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc).replace(tzinfo=None)

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if not self._created and name not in ("create", "exists", "drop", "close", "release_sweeper_lock"):
            raise InputError(f"table {self.schema.name!r} does not exist")

    def _held(self, row_id: int, token: str) -> Row | None:
        """The row if it still runs under `token`: the fence every write passes."""
        row = self._rows.get(row_id)
        return row if row is not None and row["status"] == Status.RUNNING.value and row["claim_token"] == token else None

    def _owned(self, row_id: int, token: str, statuses: Sequence[str]) -> bool:
        """After a fenced write found nothing: did our own earlier write land (a retry)?"""
        return (row := self._rows.get(row_id)) is not None and row["claim_token"] == token and row["status"] in statuses

    def _close_attempts(self, token: str, ids: Iterable[int], outcome: Outcome, error: str | None = None) -> None:
        self._apply_staged(token, wanted := set(ids))
        for a in self._attempts:
            if a["claim_token"] == token and a["experiment_id"] in wanted and a["outcome"] == Outcome.RUNNING.value:
                a.update(outcome=outcome.value, error=error, end_date=self._now())

    def _requeue_or_error(self, row: Row, error: str, max_attempts: int, retry_delay_seconds: float) -> None:
        again = row["attempts"] < max_attempts
        row.update(status=Status.CREATED.value if again else Status.ERROR.value, error=error,
                   end_date=self._now(), heartbeat=None,
                   available_at=self.clock() + retry_delay_seconds if again and retry_delay_seconds > 0 else None)

    def _is_lost(self, row: Row, stale_after_seconds: float) -> bool:
        beat = row["heartbeat"]
        return row["status"] == Status.RUNNING.value and beat is not None and beat < self.clock() - stale_after_seconds

    # --- tables
    def create(self) -> None:
        with self._lock:
            self._enter("create")
            self._created = True
            for name in self.schema.logtables:
                self._logs.setdefault(name, [])

    def exists(self) -> bool:
        with self._lock:
            self._enter("exists")
            return self._created

    def drop(self) -> None:
        with self._lock:
            self._enter("drop")
            self._created, self._next_id = False, 1
            self._rows.clear()
            self._hashes.clear()
            self._attempts.clear()
            self._logs.clear()

    def insert_missing(self, rows: Iterable[Mapping[str, Any]], progress: Any = None,
                       priority: int | Callable[[Mapping[str, Any]], int] = 0) -> int:
        with self._lock:
            self._enter("insert_missing")
            added = 0
            for given in rows:
                missing = [p for p in self.schema.parameters if p not in given]
                if missing:
                    raise InputError(f"row {dict(given)!r} lacks parameter {missing[0]!r}")
                digest = parameter_hash(given, self.schema.parameters)
                if digest in self._hashes:
                    continue
                self._hashes.add(digest)
                row_id, self._next_id = self._next_id, self._next_id + 1
                params = {p: t.from_db(t.to_db(given[p])) for p, t in self.schema.parameters.items()}
                self._rows[row_id] = {
                    "ID": row_id, **params, "status": Status.CREATED.value, "attempts": 0, "claim_token": None,
                    "worker": None, "machine": None, "name": None, "slurm_job_id": None, "heartbeat": None,
                    "creation_date": self._now(), "start_date": None, "end_date": None, "error": None,
                    "available_at": None, "priority": priority(given) if callable(priority) else priority, **dict.fromkeys(self.schema.result_columns()),
                }
                added += 1
                if progress is not None:
                    progress(1)
            return added

    # --- selecting rows
    def filter(self, conditions: Iterable[tuple[str, str, str]]) -> Filter:
        return compile_filter(self.schema, conditions)

    def index_filter(self, where: Filter) -> None:
        """Nothing to index in memory."""

    def ids(self, where: Filter) -> list[int]:
        with self._lock:
            return sorted(r["ID"] for r in self._rows.values() if where.matches(r))

    # --- the queue
    def claim(self, who: WorkerIdentity, limit: int = 1, random_order: bool = False,
              where: Filter = NO_FILTER) -> list[Claim]:
        with self._lock:
            self._enter("claim")
            now = self.clock()
            open_rows = [r for r in self._rows.values() if r["status"] == Status.CREATED.value
                         and (r["available_at"] is None or r["available_at"] <= now) and where.matches(r)]
            if random_order:
                random.shuffle(open_rows)
            else:
                open_rows.sort(key=lambda r: (-r["priority"], r["ID"]))
            token = new_token()
            claims = []
            for row in open_rows[:max(0, limit)]:
                row.update(status=Status.RUNNING.value, claim_token=token, worker=who.worker, machine=who.machine,
                           name=self.experimenter_name, slurm_job_id=who.slurm_job_id, start_date=self._now(),
                           heartbeat=now, end_date=None, attempts=row["attempts"] + 1)
                self._attempts.append({
                    "experiment_id": row["ID"], "attempt": row["attempts"], "claim_token": token,
                    "worker": who.worker, "machine": who.machine, "pid": who.pid, "slurm_job_id": who.slurm_job_id,
                    "slurm_array_job_id": who.slurm_array_job_id, "slurm_array_task_id": who.slurm_array_task_id,
                    "outcome": Outcome.RUNNING.value, "error": None, "start_date": self._now(), "end_date": None,
                    "log_file": None, "log_tail": None})
                claims.append(Claim(row["ID"], token, row["attempts"], {p: row[p] for p in self.schema.parameters}))
            return claims

    def heartbeat(self, token: str) -> int:
        with self._lock:
            self._enter("heartbeat")
            held = [r for r in self._rows.values() if r["claim_token"] == token and r["status"] == Status.RUNNING.value]
            for row in held:
                row["heartbeat"] = self.clock()
            return len(held)

    def finish(self, token: str, outcomes: Sequence[tuple[int, Mapping[str, Any]]]) -> set[int]:
        with self._lock:
            self._enter("finish")
            for _, results in outcomes:
                self._check_results(results)
            landed = set()
            for row_id, results in outcomes:
                row = self._held(row_id, token)
                if row is not None:
                    self._store_results(row, results)
                    row.update(status=Status.DONE.value, end_date=self._now(), error=None)
                if row is not None or self._owned(row_id, token, (Status.DONE.value,)):
                    landed.add(row_id)
            self._close_attempts(token, landed, Outcome.DONE)
            return landed

    def fail(self, token: str, row_id: int, error: str, max_attempts: int,
             retry_delay_seconds: float = 0.0, outcome: Any = None) -> bool:
        with self._lock:
            self._enter("fail")
            row = self._held(row_id, token)
            if row is None:
                return self._owned(row_id, token, (Status.CREATED.value, Status.ERROR.value))
            self._requeue_or_error(row, error, max_attempts, retry_delay_seconds)
            self._close_attempts(token, [row_id], outcome or Outcome.FAILED, error)
            return True

    def set_status(self, token: str, row_id: int, status: Any, results: Mapping[str, Any]) -> bool:
        with self._lock:
            self._enter("set_status")
            self._check_results(results)
            row = self._held(row_id, token)
            if row is None:
                return self._owned(row_id, token, (Status(status).value,))
            self._store_results(row, results)
            row.update(status=Status(status).value, end_date=self._now())
            self._close_attempts(token, [row_id], Outcome.DONE if status != Status.ERROR else Outcome.FAILED)
            return True

    def release(self, token: str, row_ids: Sequence[int], outcome: Any = None, reason: str | None = None) -> int:
        with self._lock:
            self._enter("release")
            released = []
            for row_id in row_ids:
                row = self._held(row_id, token)
                if row is not None:
                    row.update(status=Status.CREATED.value, attempts=max(0, row["attempts"] - 1), start_date=None,
                               heartbeat=None, worker=None, machine=None, slurm_job_id=None)
                    released.append(row_id)
            self._close_attempts(token, row_ids, outcome or Outcome.RELEASED, reason)
            return len(released)

    # --- quarantine, as store/sql.py does it
    def quarantine_evidence(self, worker: str, row_ids: Sequence[int]) -> tuple[int, bool, bool]:
        with self._lock:
            self._enter("quarantine_evidence")
            done = [a for a in self._attempts if a["outcome"] == Outcome.DONE.value and a["worker"] != worker]
            here = sum(1 for a in done if a["experiment_id"] in set(row_ids))
            running = any(r["status"] == Status.RUNNING.value and r["worker"] != worker for r in self._rows.values())
            return here, bool(done), running

    def quarantine(self, failed: Sequence[tuple[str, int]]) -> int:
        burnt = {"failed", "oom", "exited", "killed", "timeout"}
        with self._lock:
            self._enter("quarantine")
            refunded = 0
            for token, row_id in failed:
                for a in self._attempts:
                    if a["claim_token"] == token and a["experiment_id"] == row_id and a["outcome"] in burnt:
                        a["outcome"] = Outcome.QUARANTINED.value
                row = self._rows.get(row_id)
                if row and row["claim_token"] == token and row["status"] in ("created", "error"):
                    row.update(status="created", attempts=max(0, row["attempts"] - 1), error=None,
                               available_at=None, end_date=None)
                    refunded += 1
            return refunded

    def host_quarantined(self, machine: str, within_seconds: float) -> bool:
        with self._lock:
            self._enter("host_quarantined")
            since = self.clock() - within_seconds
            return any(a["outcome"] == Outcome.QUARANTINED.value and a["machine"] == machine and a["end_date"]
                       and a["end_date"].replace(tzinfo=timezone.utc).timestamp() >= since for a in self._attempts)

    def write_results(self, token: str, row_id: int, results: Mapping[str, Any]) -> bool:
        with self._lock:
            self._enter("write_results")
            self._check_results(results)
            if not results:
                return True
            row = self._held(row_id, token)
            if row is None:
                return False
            self._store_results(row, results)
            return True

    def write_logs(self, token: str, row_id: int, logs: Mapping[str, Mapping[str, Any]]) -> bool:
        with self._lock:
            self._enter("write_logs")
            for table, values in logs.items():
                columns = self.schema.logtables.get(table)
                if columns is None:
                    raise KeyError(table)
                for col in values:
                    if col not in columns:
                        raise KeyError(f"{table}.{col}")
            if self._held(row_id, token) is None:
                return False
            for table, values in logs.items():
                entries = self._logs.setdefault(table, [])
                entries.append({"ID": len(entries) + 1, "experiment_id": row_id, "timestamp": self._now(), **values})
            return True

    def _check_results(self, results: Mapping[str, Any]) -> None:
        for name in results:
            if name not in self.schema.results:
                raise KeyError(name)

    def _store_results(self, row: Row, results: Mapping[str, Any]) -> None:
        for name, value in results.items():
            sql_type = self.schema.results[name]
            row[name] = sql_type.from_db(sql_type.to_db(value))
            if self.schema.result_timestamps:
                row[f"{name}_timestamp"] = self._now()

    def requeue_stale(self, stale_after_seconds: float, max_attempts: int, retry_delay_seconds: float = 0.0) -> int:
        with self._lock:
            self._enter("requeue_stale")
            changed = 0
            for row in self._rows.values():
                if not self._is_lost(row, stale_after_seconds):
                    continue
                token = row["claim_token"]
                reason = f"worker lost: no heartbeat since {self._now()} (worker {row['worker']})"
                self._requeue_or_error(row, reason, max_attempts, retry_delay_seconds)
                row["claim_token"] = None
                self._close_attempts(token, [row["ID"]], Outcome.LOST, reason)
                changed += 1
            return changed

    # --- side tables: a launch is recorded (cancelling one needs a real database)
    def record_launch(self, kind: str, job_ids: Sequence[str], host: str) -> list[int]:
        with self._lock:
            first = len(self._launches) + 1
            self._launches += [{"ID": first + i, "kind": kind, "job_id": j, "host": host, "ended": None}
                               for i, j in enumerate(job_ids)]
            return list(range(first, len(self._launches) + 1))

    # --- maintenance and reading
    def reset(self, statuses: Sequence[str] | None = None, ids: Sequence[int] | None = None,
              where: Filter = NO_FILTER) -> int:
        with self._lock:
            self._enter("reset")
            wanted = set(ALL_STATUSES) if not statuses or "all" in statuses else set(statuses)
            picked = [r for r in self._rows.values() if r["status"] in wanted and (ids is None or r["ID"] in ids)
                      and where.matches(r)]
            gone = {r["ID"] for r in picked}
            for row in picked:
                row.update(status=Status.CREATED.value, attempts=0, claim_token=None, worker=None, machine=None,
                           heartbeat=None, start_date=None, end_date=None, error=None, available_at=None,
                           slurm_job_id=None, **dict.fromkeys(self.schema.result_columns()))
            for a in self._attempts:  # the history stays; what ran on these rows is closed
                if a["experiment_id"] in gone and a["outcome"] == Outcome.RUNNING.value:
                    a.update(outcome=Outcome.RESET.value, end_date=self._now())
            for name, entries in self._logs.items():
                self._logs[name] = [e for e in entries if e["experiment_id"] not in gone]
            return len(picked)

    def counts(self, stale_after_seconds: float | None = None, where: Filter = NO_FILTER) -> dict[str, int]:
        with self._lock:
            self._enter("counts")
            out = dict.fromkeys(ALL_STATUSES, 0)
            picked = [r for r in self._rows.values() if where.matches(r)]
            for row in picked:
                out[row["status"]] += 1
            if stale_after_seconds is not None:
                out["stale"] = sum(self._is_lost(r, stale_after_seconds) for r in picked)
            return out

    def rows(self, table: str | None = None, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            self._enter("rows")
            table = table or self.schema.name
            if table == self.schema.name:
                found: list[Row] = list(self._rows.values())
            elif table == self.schema.attempts_table:
                found = self._attempts
            else:
                names = {self.schema.logtable(n): n for n in self.schema.logtables}
                if table not in names:
                    raise InputError(f"unknown table {table!r}")
                found = self._logs.get(names[table], [])
            return [dict(r) for r in found if all(r.get(k) == v for k, v in (where or {}).items())]

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        with self._lock:
            self._enter("query")
            if name == "running":
                limit = float(params.get("stale_after_seconds", 120))
                return [{"ID": r["ID"], "worker": r["worker"], "machine": r["machine"], "attempts": r["attempts"],
                         "stale": self._is_lost(r, limit)}
                        for r in self._rows.values() if r["status"] == Status.RUNNING.value]
            if name == "error_groups":  # as store/reports.py groups them: by the traceback's last line
                groups: dict[str, list[int]] = {}
                for r in sorted(self._rows.values(), key=lambda r: r["ID"]):
                    if r["status"] == Status.ERROR.value and params.get("where", NO_FILTER).matches(r):
                        groups.setdefault(error_summary(r["error"]) or "(no message)", []).append(r["ID"])
                return [{"message": m, "count": len(ids), "example_ids": ids[:5]}
                        for m, ids in sorted(groups.items(), key=lambda g: (-len(g[1]), g[1][0]))]
            raise InputError(f"unknown report {name!r}")

    # --- coordination
    def try_sweeper_lock(self) -> bool:
        with self._lock:
            self._enter("try_sweeper_lock")
            # One store is one worker's connection, and a database's named lock is
            # re-entrant for its own session: the lock is always ours to take again.
            self.sweeper = True
            return True

    def release_sweeper_lock(self) -> None:
        with self._lock:
            self._enter("release_sweeper_lock")
            self.sweeper = False

    def close(self) -> None:
        self.calls.append("close")
