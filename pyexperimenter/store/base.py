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


@dataclass(frozen=True)
class TableSchema:
    """What a store needs to know about an experiment's tables; built from the config."""

    name: str
    parameters: Mapping[str, SqlType]
    results: Mapping[str, SqlType] = field(default_factory=dict)
    logtables: Mapping[str, Mapping[str, SqlType]] = field(default_factory=dict)
    result_timestamps: bool = False

    @property
    def attempts_table(self) -> str:
        return f"{self.name}__attempts"

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

    @abstractmethod
    def insert_missing(self, rows: Iterable[Mapping[str, Any]], progress: Any = None) -> int:
        """Insert rows whose parameter hash is not present yet; returns how many were new."""

    # -- the work queue
    @abstractmethod
    def claim(self, who: WorkerIdentity, limit: int = 1, random_order: bool = False) -> list[Claim]:
        """Atomically take up to `limit` open rows for `who`, all under one fresh token."""

    @abstractmethod
    def heartbeat(self, token: str) -> int:
        """Refresh the heartbeat of rows still held under `token`; returns how many."""

    @abstractmethod
    def finish(self, token: str, outcomes: Sequence[tuple[int, Mapping[str, Any]]]) -> set[int]:
        """Mark rows done with their results; returns the ids whose write landed (fenced)."""

    @abstractmethod
    def fail(self, token: str, row_id: int, error: str, max_attempts: int,
             retry_delay_seconds: float = 0.0) -> bool:
        """Requeue (attempts < max_attempts) or mark `error`; False when fenced out."""

    @abstractmethod
    def set_status(self, token: str, row_id: int, status: Any, results: Mapping[str, Any]) -> bool:
        """The experiment chose its final status itself (PyExperimenter's PAUSED/ERROR)."""

    @abstractmethod
    def release(self, token: str, row_ids: Sequence[int]) -> int:
        """Give rows back to `created` without spending an attempt (signals, time limits)."""

    @abstractmethod
    def write_results(self, token: str, row_id: int, results: Mapping[str, Any]) -> bool: ...

    @abstractmethod
    def write_logs(self, token: str, row_id: int, logs: Mapping[str, Mapping[str, Any]]) -> bool: ...

    @abstractmethod
    def requeue_stale(self, stale_after_seconds: float, max_attempts: int, retry_delay_seconds: float = 0.0) -> int:
        """Requeue (or fail) running rows whose heartbeat is older than the limit, as one
        compare-and-set per row on its claim token: concurrent sweeps change a row once."""

    # -- maintenance and reading
    @abstractmethod
    def reset(self, statuses: Sequence[str] | None = None, ids: Sequence[int] | None = None) -> int: ...

    @abstractmethod
    def counts(self, stale_after_seconds: float | None = None) -> dict[str, int]:
        """Rows per status (every status present, zeros included), plus `stale`."""

    @abstractmethod
    def rows(self, table: str | None = None, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """All rows of the experiment table (or of an attempts/log table), decoded."""

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
