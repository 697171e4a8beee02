"""The Store contract: the one interface everything above this package speaks.

Code above the store (worker, API, CLI, views) asks for what it needs by typed methods and
never names a query; store/engine/sqlstore.py implements it over SQL, in floors below.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .types import NO_FILTER, Claim, Filter, TableSchema, Usage, WorkerIdentity


class Store(ABC):
    """Operations on one experiment's tables. Implementations are thread-safe: a worker's
    heartbeat thread shares the worker's single connection."""

    schema: TableSchema

    # -- tables
    @abstractmethod
    def create(self) -> None:
        """Create the experiment, attempt-history and log tables if missing."""

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def drop(self) -> None: ...

    def adopt(self) -> bool:
        """Add our columns to a PyExperimenter 1.4 table in place; False if nothing to do."""
        return False

    def claim_id(self, who: WorkerIdentity, row_id: int, statuses: Sequence[str]) -> Claim | None:
        """Claim one given row if it is in one of `statuses`."""
        raise NotImplementedError

    def find(self, parameters: Mapping[str, Any]) -> tuple[int, str] | None:
        """The id and status of the row with these parameters, if there is one."""
        raise NotImplementedError

    @abstractmethod
    def insert_missing(self, rows: Iterable[Mapping[str, Any]], progress: Any = None,
                       priority: int | Callable[[Mapping[str, Any]], int] = 0) -> int:
        """Insert rows whose parameter hash is not present yet, with this priority (or each
        row's own, from experiment.priority); returns how many were new."""

    # -- selecting rows (`--where`)
    @abstractmethod
    def filter(self, where: Iterable[str | tuple[str, str, str]]) -> Filter:
        """`--where` texts (`COL=VALUE`, or parsed (column, operator, value text) triples)
        typed by pyexperimenter/where.py against this table's columns (store/filters.py)."""

    @abstractmethod
    def index_filter(self, where: Filter) -> None:
        """Make the index that claims filtered by `where` use (once per column and table)."""

    # -- the work queue
    @abstractmethod
    def claim(self, who: WorkerIdentity, limit: int = 1, random_order: bool = False,
              where: Filter = NO_FILTER) -> list[Claim]:
        """Atomically take up to `limit` open rows (matching `where`) for `who`, all under one
        fresh token: higher priority first, then lower ID (or in random order)."""

    @abstractmethod
    def heartbeat(self, token: str) -> int:
        """Refresh the heartbeat of rows still held under `token`; returns how many."""

    @abstractmethod
    def finish(self, token: str, outcomes: Sequence[tuple[int, Mapping[str, Any]]]) -> set[int]:
        """Mark rows done with their results; returns the ids whose write landed (fenced)."""

    @abstractmethod
    def fail(self, token: str, row_id: int, error: str, max_attempts: int,
             retry_delay_seconds: float = 0.0, outcome: Any = None) -> bool:
        """Requeue (attempts < max_attempts) or mark `error`, closing the attempt with
        `outcome` (default failed); False when fenced out."""

    @abstractmethod
    def set_status(self, token: str, row_id: int, status: Any, results: Mapping[str, Any]) -> bool:
        """The experiment chose its final status itself (PyExperimenter's PAUSED/ERROR)."""

    @abstractmethod
    def release(self, token: str, row_ids: Sequence[int], outcome: Any = None, reason: str | None = None) -> int:
        """Give rows back to `created` without spending an attempt (signals, time limits,
        quarantine), closing their attempts with `outcome` (default released) and why."""

    # -- resumable experiments (docs/long-runs.md)
    @abstractmethod
    def requeue(self, token: str, row_id: int, reason: str, max_requeues: int) -> str:
        """The experiment raised Requeue: back to `created` without spending an attempt, or
        `error` once it has asked `max_requeues` times; returns `requeued`, `error`, or ``
        when the row went to another worker meanwhile (store/engine/resume.py)."""

    @abstractmethod
    def save_state(self, token: str, row_id: int, text: str) -> bool:
        """Keep a resumable experiment's state (JSON) with its row; fenced like a result."""

    @abstractmethod
    def load_state(self, row_id: int) -> str | None:
        """The state the row's last attempt saved, None when it saved none."""

    # -- what an experiment printed (worker/output.py captures it; store/engine/output.py keeps it)
    def prepare_output(self) -> None:
        """Make the attempts' output columns exist (a table an older version made lacks
        them); a worker calls it once at its start, so staging an attempt's output later
        needs no database write that could fail. Nothing to do for a store without DDL."""
        return None

    @abstractmethod
    def stage_output(self, token: str, row_id: int, log_file: str | None, tail: str) -> None:
        """Keep an attempt's log file and output tail for the write that closes the attempt
        (finish, fail, set_status or release of this token and row), in its transaction."""

    @abstractmethod
    def stage_usage(self, token: str, row_id: int, usage: Usage) -> None:
        """Keep what an attempt used for the write that closes it,
        like `stage_output`: in memory, so measuring can never fail the attempt."""

    @abstractmethod
    def attempt_output(self, token: str, row_id: int, log_file: str | None, tail: str) -> bool:
        """A running attempt's output so far (the heartbeat's); False once it is not running."""

    @abstractmethod
    def write_results(self, token: str, row_id: int, results: Mapping[str, Any]) -> bool: ...

    @abstractmethod
    def write_logs(self, token: str, row_id: int, logs: Mapping[str, Mapping[str, Any]]) -> bool: ...

    def write_codecarbon(self, token: str, row_id: int, values: Mapping[str, Any]) -> bool:
        """CodeCarbon's row for one run (`schema.codecarbon`), fenced by the claim; False if fenced."""
        raise NotImplementedError

    @abstractmethod
    def requeue_stale(self, stale_after_seconds: float, max_attempts: int, retry_delay_seconds: float = 0.0) -> int:
        """Requeue (or fail) running rows whose heartbeat is older than the limit, as one
        compare-and-set per row on its claim token: concurrent sweeps change a row once."""

    # -- quarantine (worker/quarantine.py decides; these only read and write)
    @abstractmethod
    def quarantine_evidence(self, worker: str, row_ids: Sequence[int]) -> tuple[int, bool, bool]:
        """(how many of `row_ids` other workers did, whether others did any row, whether
        others are running one)."""

    @abstractmethod
    def quarantine(self, failed: Sequence[tuple[str, int]]) -> int:
        """Relabel these (token, row id) failed attempts `quarantined` and give their rows the
        attempt back where nobody claimed them since; returns how many got it back."""

    @abstractmethod
    def host_quarantined(self, machine: str, within_seconds: float) -> bool: ...

    # -- maintenance and reading
    @abstractmethod
    def reset(self, statuses: Sequence[str] | None = None, ids: Sequence[int] | None = None,
              where: Filter = NO_FILTER, picked: list[int] | None = None) -> int:
        """Rows back to a fresh `created`; `picked`, when given, receives their ids (their
        checkpoint directories go too: worker/checkpoints.py)."""

    @abstractmethod
    def counts(self, stale_after_seconds: float | None = None, where: Filter = NO_FILTER) -> dict[str, int]:
        """Rows (matching `where`) per status (every status present, zeros included), plus `stale`."""

    @abstractmethod
    def rows(self, table: str | None = None, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """All rows of the experiment table (or of an attempts/log table), decoded."""

    @abstractmethod
    def ids(self, where: Filter) -> list[int]:
        """The ids of the rows matching `where`, in order."""

    # -- what `pyexp status` and `pyexp report` read (store/engine/reports.py)
    def status_groups(self, stale_after_seconds: float | None = None, where: Filter = NO_FILTER,
                      minutes: int | None = None, examples: int = 5) -> dict[str, Any]:
        """Counts of every status and `stale`, the error groups, and with `minutes` the rows
        finished per minute ago (and, off the counters, attempts per outcome and `second`)."""
        raise NotImplementedError

    def error_groups(self, examples: int = 5, where: Filter = NO_FILTER) -> list[dict[str, Any]]:
        """Rows in `error` per summary: message, count, example_ids; largest first."""
        raise NotImplementedError

    def running(self, stale_after_seconds: float = 120.0) -> list[dict[str, Any]]:
        """The running rows: ID, worker, machine, heartbeat age, and whether each is lost."""
        raise NotImplementedError

    def attempt_outcomes(self) -> list[dict[str, Any]]:
        """Ended attempts per outcome: outcome, n."""
        raise NotImplementedError

    def attempt_usage(self) -> list[dict[str, Any]]:
        """What ended attempts used, per outcome: outcome, n, measured, peak_rss_mb_max,
        peak_rss_mb_mean, wall_seconds_mean, cpu_seconds_total, gpu_peak_mb_max. Reads every
        attempt: for the report, not for status."""
        raise NotImplementedError

    def peak_memory(self, outcomes: Sequence[str]) -> dict[str, float]:
        """The highest `peak_rss_mb` of each of `outcomes` that has one, each found without
        reading the outcome's attempts (status at any size)."""
        raise NotImplementedError

    def snapshot_uses(self, experiment_id: int | None = None) -> list[dict[str, Any]]:
        """The code snapshots the attempts (of one row) ran, first used first: snapshot (None
        where none was recorded), n_attempts, n_rows, first_attempt, last_attempt,
        first_start, last_start."""
        raise NotImplementedError

    def quarantined_workers(self) -> list[dict[str, Any]]:
        """The workers and hosts quarantine stopped, with when and why."""
        raise NotImplementedError

    def finished_since(self, seconds: float) -> int:
        """How many rows finished in the last `seconds` (by the server's clock)."""
        raise NotImplementedError

    def first_end(self) -> dict[str, Any]:
        """When the first row finished, and how long ago (`pyexp report`'s time axis)."""
        raise NotImplementedError

    def finished_per_minute(self, seconds: float) -> list[dict[str, Any]]:
        """Rows finished per minute ago over the last `seconds`: minutes_ago, n."""
        raise NotImplementedError

    def host_outcomes(self) -> list[dict[str, Any]]:
        """Attempts per host and outcome."""
        raise NotImplementedError

    def best_rows(self, columns: Sequence[str], by: str, descending: bool, limit: int = 10) -> list[dict[str, Any]]:
        """The `limit` done rows best by `by` (non-null), with `columns`."""
        raise NotImplementedError

    def sample_rows(self, columns: Sequence[str], limit: int = 10) -> list[dict[str, Any]]:
        """The last `limit` done rows, with `columns`."""
        raise NotImplementedError

    # -- reading with filters and aggregates in the database (store/select.py)
    def upgrade(self) -> None:
        """Bring a table made by an earlier version to the current schema version, in place
        (store/engine/migrations.py; nothing by default)."""
        return None

    def aggregates_in_sql(self) -> frozenset[str]:
        """The `--agg` functions this database computes itself (the rest are streamed)."""
        return frozenset()

    def csv_in_sql(self) -> bool:
        """Whether the database writes each row as a line of CSV itself (select_csv_lines)."""
        return False

    def exports_in_halves(self) -> bool:
        """Whether a second process may read the rows beside this one for a CSV export."""
        return False

    def columns(self) -> list[str]:
        """The experiment table's columns, in order ([] when it does not exist)."""
        raise NotImplementedError

    # Selections: `shapes` and `args` are a store.select.Selection's WHERE (its where_parts()
    # and args); the values are bound, the columns checked against the table.
    def select_rows(self, columns: Sequence[str], shapes: Sequence[Any], args: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows selected, with these columns, by ID."""
        raise NotImplementedError

    def stream_rows(self, columns: Sequence[str], shapes: Sequence[Any], args: Sequence[Any],
                    chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        """The same in chunks, on a connection of their own: constant memory, and no lock
        held that workers would wait for."""
        raise NotImplementedError

    def stream_csv_lines(self, columns: Sequence[tuple[str, str]], shapes: Sequence[Any], args: Sequence[Any],
                         chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        """The rows selected as lines of CSV the database writes itself ((column, kind) each;
        only where `csv_in_sql()`)."""
        raise NotImplementedError

    def count_rows(self, shapes: Sequence[Any], args: Sequence[Any]) -> int:
        raise NotImplementedError

    def nth_id(self, shapes: Sequence[Any], args: Sequence[Any], n: int) -> int | None:
        """The ID of the `n`-th selected row (0-based, by ID), None past the end."""
        raise NotImplementedError

    def select_groups(self, groups: Sequence[tuple[str, str]], aggregates: Sequence[tuple[str, str]],
                      shapes: Sequence[Any], args: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Per group ((column, kind) each): its keys, its size, then each (function, column)
        aggregate; `args` first bind what the aggregates take (`sq`'s shifts)."""
        raise NotImplementedError

    def stream_group_values(self, groups: Sequence[tuple[str, str]], column: str, shapes: Sequence[Any],
                            args: Sequence[Any], chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        """The group keys and one column's values of every selected row, grouped, in chunks."""
        raise NotImplementedError

    def log_curve(self, logtable: str, columns: Sequence[str], aggregates: Sequence[tuple[str, str]],
                  shifts: Sequence[float], limit: int) -> list[tuple[Any, ...]]:
        """A log table's aggregates per step over all runs: step, COUNT(*), then each aggregate."""
        raise NotImplementedError

    # -- coordination between workers
    @abstractmethod
    def try_sweeper_lock(self) -> bool:
        """Become the one worker that stays to finish lost runs; False if another is it."""

    @abstractmethod
    def release_sweeper_lock(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    # -- side tables: provenance and launches (store/engine/side.py)
    def record_packages(self, packages_hash: str, packages: str) -> None:
        """Keep this list of installed packages once, under its hash (`<table>_packages`)."""
        raise NotImplementedError

    def provenance(self) -> list[dict[str, Any]]:
        """Per experiment, the provenance columns of its latest done attempt."""
        raise NotImplementedError

    def record_launch(self, kind: str, job_ids: Sequence[str], host: str) -> list[int]:
        """Remember what a launch started (`<table>_launches`); returns the record ids."""
        raise NotImplementedError

    def launches(self) -> list[dict[str, Any]]:
        """The launches not ended yet: id, kind, job_id, host."""
        raise NotImplementedError

    def end_launches(self, ids: Sequence[int]) -> None:
        raise NotImplementedError

    def reopen_launches(self, ids: Sequence[int]) -> None:
        """Undo `end_launches` for launches whose cancelling was cut short."""
        raise NotImplementedError

    def launch_ended(self, job_id: str) -> bool:
        """Whether the recorded SLURM launch `job_id` was ended (`pyexp cancel` ends it before
        it signals the workers, so their releases say `cancelled`, not `time_limit`)."""
        return False

    # -- a user's own SQL (PyExperimenter 1.4's connector methods): store/engine/user_sql.py
    def run_user_sql(self, statements: Sequence[tuple[str, Sequence[Any] | None]]) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
        """Run statements the user wrote, as written, in one transaction, values bound by the
        driver; for each, its column names and rows. Not fenced: the caller owns the text."""
        raise NotImplementedError

    def user_statement(self, kind: str, table: str, columns: Sequence[str] = (), condition: str = "") -> str:
        """1.4.2's `insert` (of `columns` into `table`), `select` or `delete` (`table`'s rows,
        then the user's `condition`) text in this driver's paramstyle, for `run_user_sql`."""
        raise NotImplementedError

    def user_connection(self) -> Any:
        """A new DB-API connection of the driver's (sqlite3, pymysql, psycopg) to this store's
        database, with its settings, for the caller to use and close: PyExperimenter 1.4
        scripts run their own SQL on `db_connector.connect()`. Not fenced, never shared; in
        autocommit, so that nothing the caller leaves open holds locks the store needs (a
        transaction is the caller's to open with BEGIN)."""
        raise NotImplementedError

    # -- signals: a worker never interrupts its main thread inside a database call
    def in_call(self) -> bool:
        """Whether the calling thread is inside one of this store's database calls."""
        return False

    def on_call_end(self, hook: Callable[[], None] | None) -> None:
        """Run `hook` whenever a thread leaves its outermost database call."""
        del hook  # a store without calls to interrupt has nothing to hook

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
