"""The narrow interface every database backend implements.

Everything above this package (worker, API, CLI) speaks only these methods; the SQL lives
in `store/sql.py` (shared statements) and `store/sqlite.py` / `store/mysql.py` (the claim,
the lost-run sweep, connections and retries, which differ per database).
"""

from __future__ import annotations

import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..environment import slurm_task
from ..sqltypes import SqlType
from .filters import NO_FILTER, Filter


@dataclass(frozen=True)
class TableSchema:
    """What a store needs to know about an experiment's tables; built from the config."""

    name: str
    parameters: Mapping[str, SqlType]
    results: Mapping[str, SqlType] = field(default_factory=dict)
    logtables: Mapping[str, Mapping[str, SqlType]] = field(default_factory=dict)
    result_timestamps: bool = False
    # PyExperimenter 1.4's stamps: `<result>_timestamp` a VARCHAR and every stamp the worker's
    # local time to the second, so its users' tables and frames read as before.
    local_timestamps: bool = False
    codecarbon: bool = False  # keep `<table>_codecarbon` (CodeCarbon's row per run)

    @property
    def attempts_table(self) -> str:
        return f"{self.name}__attempts"

    @property
    def codecarbon_table(self) -> str:
        return f"{self.name}_codecarbon"

    @property
    def packages_table(self) -> str:
        return f"{self.name}_packages"

    @property
    def launches_table(self) -> str:
        return f"{self.name}_launches"

    @property
    def counts_table(self) -> str:
        return f"{self.name}_counts"

    def logtable(self, name: str) -> str:
        return f"{self.name}__{name}"

    def result_columns(self) -> list[str]:
        cols = list(self.results)
        if self.result_timestamps:
            cols += [f"{c}_timestamp" for c in self.results]
        return cols


@dataclass(frozen=True)
class WorkerIdentity:
    """Who holds a row: written into `worker`/`machine` and the attempt history."""

    worker: str
    machine: str
    pid: int
    slurm_job_id: str | None = None
    slurm_array_job_id: str | None = None
    slurm_array_task_id: int | None = None
    cuda_devices: str | None = None
    # Provenance (pyexperimenter/provenance.py fills these once per worker process).
    git_commit: str | None = None
    git_dirty: bool | None = None
    git_diff_hash: str | None = None
    python_version: str | None = None
    packages_hash: str | None = None

    @property
    def attempt_values(self) -> tuple[Any, ...]:
        """What `claim_attempts` records besides the token, in its order."""
        dirty = None if self.git_dirty is None else int(self.git_dirty)
        return (self.pid, self.slurm_job_id, self.slurm_array_job_id, self.slurm_array_task_id, self.cuda_devices,
                self.git_commit, dirty, self.git_diff_hash, self.python_version, self.packages_hash)

    @classmethod
    def current(cls) -> WorkerIdentity:
        host = socket.gethostname()
        pid = os.getpid()
        task = slurm_task()
        worker = f"{task.name}@{host}:{pid}" if task.name else f"{host}:{pid}"
        return cls(
            worker=worker,
            machine=host,
            pid=pid,
            slurm_job_id=task.job_id,
            slurm_array_job_id=task.array_job_id,
            slurm_array_task_id=task.task_number,
            cuda_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )


@dataclass(frozen=True)
class Claim:
    """One row handed to one worker. `token` fences every later write for this attempt."""

    id: int
    token: str
    attempt: int
    parameters: dict[str, Any]


def new_token() -> str:
    return uuid.uuid4().hex


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
    def filter(self, conditions: Iterable[tuple[str, str, str]]) -> Filter:
        """(column, operator, value text) conditions checked against this table's columns."""

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

    # -- what an experiment printed (worker/output.py captures it; store/output.py keeps it)
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
              where: Filter = NO_FILTER) -> int: ...

    @abstractmethod
    def counts(self, stale_after_seconds: float | None = None, where: Filter = NO_FILTER) -> dict[str, int]:
        """Rows (matching `where`) per status (every status present, zeros included), plus `stale`."""

    @abstractmethod
    def rows(self, table: str | None = None, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """All rows of the experiment table (or of an attempts/log table), decoded."""

    @abstractmethod
    def ids(self, where: Filter) -> list[int]:
        """The ids of the rows matching `where`, in order."""

    @abstractmethod
    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run one of the named read-only report queries (status details)."""

    # -- reading with filters and aggregates in the database (store/select.py)
    def upgrade(self) -> None:
        """Add, in place, bookkeeping columns newer than the table (none by default)."""
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

    def read(self, name: str, args: Sequence[Any] = (), **parts: Any) -> list[tuple[Any, ...]]:
        """Rows of one of the read-only named queries."""
        raise NotImplementedError

    def stream(self, name: str, args: Sequence[Any] = (), chunk: int = 5000, **parts: Any) -> Iterator[list[tuple[Any, ...]]]:
        """The same in chunks, in constant memory."""
        raise NotImplementedError

    # -- coordination between workers
    @abstractmethod
    def try_sweeper_lock(self) -> bool:
        """Become the one worker that stays to finish lost runs; False if another is it."""

    @abstractmethod
    def release_sweeper_lock(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    # -- side tables: provenance and launches (store/side.py)
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
