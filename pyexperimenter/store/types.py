"""The values that cross the store's boundary: what a table looks like, who claims, what a
claim hands over, which rows a `--where` selects, and what of a config a store reads.

They import nothing of the store, so the port, the SQL text, the engine and the backends all
lean on them without leaning on each other; the config is described by protocols here
rather than imported, so config validation may read the store's schema without a cycle.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ..environment import scheduler_task
from ..sqltypes import SqlType
from ..where import NO_FILTER as NO_FILTER  # `--where`, typed once (pyexperimenter/where.py)
from ..where import Filter as Filter


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
    """Who holds a row: written into `pyexp_worker`/`machine` and the attempt history. The job
    fields name the batch job the worker runs in, whatever the scheduler (`scheduler`)."""

    worker: str
    machine: str
    pid: int
    scheduler: str | None = None  # "slurm", "sge", or None (a local worker)
    job_id: str | None = None
    array_job_id: str | None = None
    array_task_id: int | None = None
    cuda_devices: str | None = None
    # Provenance (pyexperimenter/worker/provenance.py fills these once per worker process).
    git_commit: str | None = None
    git_dirty: bool | None = None
    git_diff_hash: str | None = None
    python_version: str | None = None
    packages_hash: str | None = None
    snapshot: str | None = None  # the hash of the code snapshot the worker imports from (snapshot.py)

    @property
    def attempt_values(self) -> tuple[Any, ...]:
        """What `claim_attempts` records besides the token, in its order."""
        dirty = None if self.git_dirty is None else int(self.git_dirty)
        return (self.pid, self.scheduler, self.job_id, self.array_job_id, self.array_task_id, self.cuda_devices,
                self.git_commit, dirty, self.git_diff_hash, self.python_version, self.packages_hash, self.snapshot)

    @classmethod
    def current(cls) -> WorkerIdentity:
        host = socket.gethostname()
        pid = os.getpid()
        task = scheduler_task()
        worker = f"{task.name}@{host}:{pid}" if task.name else f"{host}:{pid}"
        return cls(
            worker=worker,
            machine=host,
            pid=pid,
            scheduler=task.scheduler,
            job_id=task.job_id,
            array_job_id=task.array_job_id,
            array_task_id=task.task_number,
            cuda_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )


USAGE_COLUMNS = ("wall_seconds", "cpu_seconds", "peak_rss_mb", "gpu_peak_mb")


class Usage(NamedTuple):
    """What one attempt used (worker/usage.py measures it), kept with the attempt by the
    write that closes it; in the order of USAGE_COLUMNS. None: not measurable here (stored
    as NULL). A tuple: made once per measured attempt on the hot path. The code it ran is
    the worker's (WorkerIdentity.snapshot), recorded when the attempt starts."""

    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = None
    gpu_peak_mb: float | None = None


@dataclass(slots=True)
class Claim:
    """One row handed to one worker. `token` fences every later write for this attempt.
    Not frozen, though nothing changes it: a frozen dataclass sets each field through
    object.__setattr__, 0.5 us per claim against 0.14 us, a no-op experiment's 1%."""

    id: int
    token: str
    attempt: int
    parameters: dict[str, Any]


def new_token() -> str:
    return uuid.uuid4().hex




class SshGateway(Hashable, Protocol):
    """What a tunnel needs of an SSH gateway (config.model.SshTunnelConfig)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    @property
    def user(self) -> str | None: ...
    @property
    def key_file(self) -> str | None: ...
    @property
    def key_password(self) -> str | None: ...
    @property
    def remote_host(self) -> str: ...
    @property
    def remote_port(self) -> int: ...
    @property
    def local_host(self) -> str: ...
    @property
    def local_port(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def gateway(self) -> str: ...


class DatabaseSettings(Protocol):
    """What a backend needs of where the table lives (config.model.DatabaseConfig)."""

    @property
    def kind(self) -> str: ...
    @property
    def path(self) -> Path | None: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def user(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def database(self) -> str | None: ...
    @property
    def unix_socket(self) -> str | None: ...
    @property
    def read_default_file(self) -> str | None: ...
    @property
    def ssh(self) -> SshGateway | None: ...
    @property
    def server_dir(self) -> str | None: ...
    @property
    def url(self) -> str: ...


class StoreSettings(Protocol):
    """What `open_store` needs of an experiment's config (config.model.ExperimentConfig)."""

    @property
    def name(self) -> str: ...
    @property
    def database(self) -> DatabaseSettings: ...
    @property
    def parameters(self) -> Mapping[str, SqlType]: ...
    @property
    def results(self) -> Mapping[str, SqlType]: ...
    @property
    def logtables(self) -> Mapping[str, Mapping[str, SqlType]]: ...
    @property
    def result_timestamps(self) -> bool: ...
    @property
    def format(self) -> str: ...
    @property
    def codecarbon(self) -> bool: ...
    @property
    def experimenter_name(self) -> str: ...
    @property
    def heartbeat_seconds(self) -> float: ...
    @property
    def stale_after_seconds(self) -> float: ...
