"""The Store port over SQL: each method hands its work to the engine module of its concern.

`SqlStore` holds a backend's Session and the little state a store keeps (the output staged
for the write that closes an attempt, whether the side tables were made sure of); it builds
no SQL and sends no statement itself. Backends (store/backends/) subclass it only to make
their Session and to add what differs per database (the sweeper lock, exports).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ...status import Outcome, Status
from ..filters import compile_filter
from ..port import Store
from ..sql.selects import sql_aggregates
from ..types import NO_FILTER, Claim, Filter, WorkerIdentity
from . import adopt, counters, ddl, migrations, quarantine, queue, reads, recovery, reports, resume
from .fill import RANK_SPACE, RowPriority, fill, filler_for
from .output import StagedOutput, attempt_output
from .session import Session
from .side import SideTables, write_codecarbon, write_logs
from .user_sql import run_user_sql, user_connection, user_statement


def random_rank() -> int:
    return random.randrange(RANK_SPACE)


class SqlStore(StagedOutput, Store):
    """A Store over one Session; backends subclass it with their own Session."""

    def __init__(self, session: Session, experimenter_name: str = "pyexperimenter"):
        self.session = session
        self.schema = session.schema
        self.dialect = session.dialect
        self.experimenter_name = experimenter_name
        self.side = SideTables(session)
        self._rank_indexed = False
        self._finish_counts: bool | None = None  # whether a finish counts its own rows (counters.py)

    def in_call(self) -> bool:
        return self.session.lock.held()

    def on_call_end(self, hook: Callable[[], None] | None) -> None:
        self.session.lock.on_leave = hook

    def q(self, identifier: str) -> str:  # for tests that age a heartbeat by hand
        return self.dialect.q(identifier)

    @property
    def t(self) -> str:
        return self.dialect.q(self.schema.name)

    def ago_sql(self) -> str:
        return self.dialect.ago

    # --- tables (store/engine/ddl.py)
    def create(self) -> None:
        migrations.upgrade(self.session, random_rank, adopt_table=True)
        self._create()

    def _create(self) -> None:
        self.session.transaction(lambda cur: ddl.create(self.session, cur, random_rank))

    def adopt(self) -> bool:
        """Make a PyExperimenter 1.4 table ours in place (schema version 1 and on), so
        workers and `pyexp status` work on it; False when there was nothing to do."""
        if migrations.upgrade(self.session, random_rank, adopt_table=True) != 0:
            return False
        self._create()
        return True

    def upgrade(self) -> None:
        """Bring a table made by an earlier version to the current schema version, in place
        (store/engine/migrations.py); PyExperimenter's own tables are left to `adopt`."""
        migrations.upgrade(self.session, random_rank)

    def exists(self) -> bool:
        return self.session.transaction(lambda cur: self.session.table_columns(cur) is not None)

    def drop(self) -> None:
        ddl.drop(self.session)

    def insert_missing(self, rows: Iterable[Mapping[str, Any]], progress: Callable[[int], None] | None = None,
                       priority: RowPriority = 0) -> int:
        """Stream `rows` in as chunked insert-or-ignore statements on the parameter hash
        (store/engine/fill.py); existing rows are never read into Python, nor changed."""
        return fill(self.session, filler_for(self.session, priority), rows, progress)

    def filter(self, where: Iterable[str | tuple[str, str, str]]) -> Filter:
        where = list(where)
        return compile_filter(self.schema, self.columns(), where) if where else NO_FILTER

    def index_filter(self, where: Filter) -> None:
        if where:
            ddl.create_filter_index(self.session, where.columns[0])

    # --- the queue (store/engine/queue.py)
    def claim(self, who: WorkerIdentity, limit: int = 1, random_order: bool = False,
              where: Filter = NO_FILTER) -> list[Claim]:
        if random_order and not self._rank_indexed:
            ddl.create_rank_index(self.session)
            self._rank_indexed = True
        return queue.claim(self.session, who, self.experimenter_name, limit, random_order, where)

    def claim_id(self, who: WorkerIdentity, row_id: int, statuses: Sequence[str]) -> Claim | None:
        return queue.claim_id(self.session, who, self.experimenter_name, row_id, statuses)

    def find(self, parameters: Mapping[str, Any]) -> tuple[int, str] | None:
        return adopt.find(self.session, parameters)

    def heartbeat(self, token: str) -> int:
        return queue.heartbeat(self.session, token)

    def finish(self, token: str, outcomes: Sequence[tuple[int, Mapping[str, Any]]]) -> set[int]:
        if self._finish_counts is None:
            self._finish_counts = counters.finish_counts(self.session)
        return queue.finish(self.session, token, outcomes, self.staged_for(token), self.usage_for(token),
                            self._finish_counts)

    def fail(self, token: str, row_id: int, error: str, max_attempts: int, retry_delay_seconds: float = 0.0,
             outcome: Outcome | None = None) -> bool:
        return queue.fail(self.session, token, row_id, error, max_attempts, retry_delay_seconds, outcome,
                          self.staged_for(token), self.usage_for(token))

    def set_status(self, token: str, row_id: int, status: Status, results: Mapping[str, Any]) -> bool:
        return queue.set_status(self.session, token, row_id, status, results, self.staged_for(token),
                                self.usage_for(token))

    def release(self, token: str, row_ids: Sequence[int], outcome: Outcome | None = None,
                reason: str | None = None) -> int:
        return queue.release(self.session, token, row_ids, outcome, reason, self.staged_for(token),
                             self.usage_for(token))

    def requeue(self, token: str, row_id: int, reason: str, max_requeues: int) -> str:
        return resume.requeue(self.session, token, row_id, reason, max_requeues, self.staged_for(token),
                              self.usage_for(token))

    def save_state(self, token: str, row_id: int, text: str) -> bool:
        return resume.save_state(self.session, token, row_id, text)

    def load_state(self, row_id: int) -> str | None:
        return resume.load_state(self.session, row_id)

    def write_results(self, token: str, row_id: int, results: Mapping[str, Any]) -> bool:
        return queue.write_results(self.session, token, row_id, results)

    def write_logs(self, token: str, row_id: int, logs: Mapping[str, Mapping[str, Any]]) -> bool:
        return write_logs(self.session, token, row_id, logs)

    def write_codecarbon(self, token: str, row_id: int, values: Mapping[str, Any]) -> bool:
        return write_codecarbon(self.session, token, row_id, values)

    # --- what an attempt printed (store/engine/output.py)
    def prepare_output(self) -> None:
        if not self.side.ready:
            self.side.transaction(lambda cur: None)  # once per store: the log columns exist

    def attempt_output(self, token: str, row_id: int, log_file: str | None, tail: str) -> bool:
        return self.side.transaction(lambda cur: attempt_output(self.session, cur, token, row_id, log_file, tail))

    # --- lost runs and resets (store/engine/recovery.py)
    def requeue_stale(self, stale_after_seconds: float, max_attempts: int, retry_delay_seconds: float = 0.0) -> int:
        return recovery.requeue_stale(self.session, stale_after_seconds, max_attempts, retry_delay_seconds,
                                      self.staged_for)

    def reset(self, statuses: Sequence[str] | None = None, ids: Sequence[int] | None = None,
              where: Filter = NO_FILTER, picked: list[int] | None = None) -> int:
        return recovery.reset(self.session, statuses, ids, where, picked)

    # --- quarantine (store/engine/quarantine.py)
    def quarantine_evidence(self, worker: str, row_ids: Sequence[int]) -> tuple[int, bool, bool]:
        return quarantine.evidence(self.session, worker, row_ids)

    def quarantine(self, failed: Sequence[tuple[str, int]]) -> int:
        return quarantine.quarantine(self.session, failed)

    def host_quarantined(self, machine: str, within_seconds: float) -> bool:
        return quarantine.host_quarantined(self.session, machine, within_seconds)

    # --- side tables (store/engine/side.py)
    def record_packages(self, packages_hash: str, packages: str) -> None:
        self.side.record_packages(packages_hash, packages)

    def provenance(self) -> list[dict[str, Any]]:
        return self.side.provenance()

    def record_launch(self, kind: str, job_ids: Sequence[str], host: str) -> list[int]:
        return self.side.record_launch(kind, job_ids, host)

    def launches(self) -> list[dict[str, Any]]:
        return self.side.launches()

    def launch_ended(self, job_id: str) -> bool:
        return self.side.launch_ended(job_id)

    def end_launches(self, ids: Sequence[int]) -> None:
        self.side.end_launches(ids)

    def reopen_launches(self, ids: Sequence[int]) -> None:
        self.side.reopen_launches(ids)

    # --- reading (store/engine/reads.py)
    def counts(self, stale_after_seconds: float | None = None, where: Filter = NO_FILTER) -> dict[str, int]:
        return reads.counts(self.session, stale_after_seconds, where)

    def rows(self, table: str | None = None, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return reads.rows(self.session, table or self.schema.name, where or {})

    def ids(self, where: Filter) -> list[int]:
        return reads.ids(self.session, where)

    def columns(self) -> list[str]:
        return reads.columns(self.session)

    def run_user_sql(self, statements: Sequence[tuple[str, Sequence[Any] | None]]) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
        return run_user_sql(self.session, statements)

    def user_statement(self, kind: str, table: str, columns: Sequence[str] = (), condition: str = "") -> str:
        return user_statement(self.session, kind, table, columns, condition)

    def user_connection(self) -> Any:
        return user_connection(self.session)

    def aggregates_in_sql(self) -> frozenset[str]:
        return sql_aggregates(self.dialect)

    def select_rows(self, columns: Sequence[str], shapes: Sequence[Any], args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return reads.select_rows(self.session, columns, shapes, args)

    def stream_rows(self, columns: Sequence[str], shapes: Sequence[Any], args: Sequence[Any],
                    chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        return reads.stream_rows(self.session, columns, shapes, args, chunk)

    def stream_csv_lines(self, columns: Sequence[tuple[str, str]], shapes: Sequence[Any], args: Sequence[Any],
                         chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        return reads.stream_csv_lines(self.session, columns, shapes, args, chunk)

    def count_rows(self, shapes: Sequence[Any], args: Sequence[Any]) -> int:
        return reads.count_rows(self.session, shapes, args)

    def nth_id(self, shapes: Sequence[Any], args: Sequence[Any], n: int) -> int | None:
        return reads.nth_id(self.session, shapes, args, n)

    def select_groups(self, groups: Sequence[tuple[str, str]], aggregates: Sequence[tuple[str, str]],
                      shapes: Sequence[Any], args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return reads.select_groups(self.session, groups, aggregates, shapes, args)

    def stream_group_values(self, groups: Sequence[tuple[str, str]], column: str, shapes: Sequence[Any],
                            args: Sequence[Any], chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        return reads.stream_group_values(self.session, groups, column, shapes, args, chunk)

    def log_curve(self, logtable: str, columns: Sequence[str], aggregates: Sequence[tuple[str, str]],
                  shifts: Sequence[float], limit: int) -> list[tuple[Any, ...]]:
        return reads.log_curve(self.session, logtable, columns, aggregates, shifts, limit)

    # --- reports (store/engine/reports.py)
    def status_groups(self, stale_after_seconds: float | None = None, where: Filter = NO_FILTER,
                      minutes: int | None = None, examples: int = 5) -> dict[str, Any]:
        return reports.status_groups(self.session, stale_after_seconds, where, minutes, examples)

    def error_groups(self, examples: int = 5, where: Filter = NO_FILTER) -> list[dict[str, Any]]:
        return reports.error_groups(self.session, examples, where)

    def running(self, stale_after_seconds: float = 120.0) -> list[dict[str, Any]]:
        return reports.running(self.session, float(stale_after_seconds))

    def attempt_outcomes(self) -> list[dict[str, Any]]:
        return reports.report(self.session, "report_outcomes")

    def attempt_usage(self) -> list[dict[str, Any]]:
        return reports.report(self.session, "report_usage")

    def peak_memory(self, outcomes: Sequence[str]) -> dict[str, float]:
        return reports.peaks(self.session, outcomes)

    def snapshot_uses(self, experiment_id: int | None = None) -> list[dict[str, Any]]:
        if experiment_id is None:
            return reports.report(self.session, "report_snapshots")
        return reports.report(self.session, "report_row_snapshots", (int(experiment_id),))

    def quarantined_workers(self) -> list[dict[str, Any]]:
        return reports.report(self.session, "report_quarantined")

    def finished_since(self, seconds: float) -> int:
        return int(reports.report(self.session, "report_finished_since", (float(seconds),))[0]["n"] or 0)

    def first_end(self) -> dict[str, Any]:
        return reports.report(self.session, "report_first_end")[0]

    def finished_per_minute(self, seconds: float) -> list[dict[str, Any]]:
        return reports.report(self.session, "report_minutes", (float(seconds),))

    def host_outcomes(self) -> list[dict[str, Any]]:
        return reports.report(self.session, "report_host_outcomes")

    def best_rows(self, columns: Sequence[str], by: str, descending: bool, limit: int = 10) -> list[dict[str, Any]]:
        return reports.report(self.session, "report_best", (int(limit),), select=tuple(columns), nonnull=by,
                              order=(by, bool(descending)))

    def sample_rows(self, columns: Sequence[str], limit: int = 10) -> list[dict[str, Any]]:
        return reports.report(self.session, "report_sample", (int(limit),), select=tuple(columns))
