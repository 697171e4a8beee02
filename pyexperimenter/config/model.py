"""The validated configuration, as frozen dataclasses.

Stores, workers and the launcher read only these, never the YAML, so a config that loaded
is a config that can run. They are frozen because one config object is shared by every
worker of a process and by the launcher's plan: nobody may change it underneath the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..params.grid import AnyGrid
from ..params.priority import Priority
from ..sqltypes import SqlType


@dataclass(frozen=True)
class SshTunnelConfig:
    """An SSH gateway in front of MariaDB (compute nodes behind a firewall): the database
    is reached at `remote_host:remote_port` as seen from the gateway. The key's passphrase
    stays out of repr(), like the database password."""

    host: str
    port: int | None = None  # None: the host's Port in ~/.ssh/config, else 22
    user: str | None = None  # None: ~/.ssh/config for the host, else the local user
    key_file: str | None = None  # None: ~/.ssh/config, the ssh agent and ~/.ssh/id_*
    key_password: str | None = field(default=None, repr=False)
    remote_host: str = "127.0.0.1"
    remote_port: int = 3306
    local_host: str = "127.0.0.1"
    local_port: int = 0  # 0: a free port, so several processes on one node never collide
    source: str = "ssh"  # file and key, for messages
    # The file that names the gateway (a PyExperimenter credentials file when `legacy`, else
    # a native config): launched workers read it again, as the password, it is not in their script.
    file: str | None = None
    legacy: bool = False

    @property
    def gateway(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.port}" if self.port else f"{user}{self.host}"


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the table lives. The password is kept out of repr() and out of `url`, because
    both end up in logs, in `pyexp status` output and in generated sbatch scripts."""

    kind: str  # "sqlite", "mysql" or "postgres"
    path: Path | None = None
    host: str = "localhost"
    port: int = 3306
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    unix_socket: str | None = None
    read_default_file: str | None = None
    ssh: SshTunnelConfig | None = None  # connect through this gateway instead of to host:port
    server_dir: str | None = None  # `pyexp-db://DIR`: host, port, user and password read from DIR's connection file

    @property
    def url(self) -> str:
        """A URL that is safe to print: the password never appears in it."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.path}"
        if self.server_dir is not None:
            return f"pyexp-db://{self.server_dir}"
        user = f"{quote(self.user or '')}@" if self.user else ""
        scheme = "postgresql" if self.kind == "postgres" else "mysql"
        return f"{scheme}://{user}{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class SlurmConfig:
    """Defaults for `pyexp launch`; each is overridable on the command line, so the config
    holds what is true for the cluster and the flags what is true for one launch."""

    partition: str | None = None
    time_minutes: int = 60
    mem_gb: float = 4
    cpus_per_task: int = 1
    gpus_per_node: int = 0
    array_parallelism: int = 100
    setup: tuple[str, ...] = ()
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    sbatch: tuple[tuple[str, str], ...] = ()
    signal_seconds: int = 120  # SIGUSR2 this long before the time limit (default: stop_grace_seconds + 60)
    max_task_requeues: int = 10  # a worker stopped by the time limit requeues its own array task this often
    python: str | None = None  # interpreter on the nodes; default: the one launching
    log_dir: str | None = None  # worker logs; default pyexp_logs/<table> next to the config
    template: str | None = None  # own sbatch template; default slurm_templates/{cpu,gpu}.sbatch


SCHEDULERS = ("slurm", "sge")


@dataclass(frozen=True)
class SgeConfig:
    """What only Grid Engine needs (`sge:`); time, memory, CPUs, parallelism and setup come
    from the `slurm:` keys, so one config launches on either scheduler."""

    queue: str | None = None  # `-q`; default: wherever the scheduler puts the job
    pe: str = "smp"  # parallel environment for cpus_per_task > 1 (`-pe smp N`)
    memory_resource: str | None = "h_vmem"  # the complex mem_gb is requested as, per slot; None: none
    gpu_resource: str | None = None  # the site's GPU complex (e.g. gpu); needed for gpus_per_node > 0
    options: tuple[str, ...] = ()  # extra `#$` lines, each as qsub takes it (`-P myproject`)
    template: str | None = None  # own job script template; default slurm_templates/cpu.sge


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment table: its columns, its grid, and how workers treat its rows.

    Both config formats (native and PyExperimenter 1.4) end up here; `format` and
    `experimenter_name` remember which, where behaviour has to follow the original tool.
    """

    name: str
    database: DatabaseConfig
    parameters: Mapping[str, SqlType]
    grid: AnyGrid
    results: Mapping[str, SqlType] = field(default_factory=dict)
    logtables: Mapping[str, Mapping[str, SqlType]] = field(default_factory=dict)
    function: str | None = None
    max_attempts: int = 3
    heartbeat_seconds: float = 30.0
    stale_after_seconds: float = 120.0
    retry_delay_seconds: float = 0.0
    result_timestamps: bool = False
    isolation: str = "none"  # "none" (in the worker), "process" (a forked child), "spawn"
    timeout_seconds: float | None = None  # needs isolation
    memory_limit_mb: int | None = None  # the child's address space; needs isolation
    quarantine_after: int = 5  # 0: never quarantine
    snapshot_max_mb: float = 100.0  # the code snapshot's cap (snapshot.py)
    # Long runs (docs/long-runs.md): after a stop signal the experiment gets this long to save
    # and raise Requeue; each row's checkpoint directory lives under `checkpoint_dir`.
    stop_grace_seconds: float = 60.0
    max_requeues: int = 10
    checkpoint_dir: str | None = None  # default: <log folder>/checkpoints
    keep_checkpoints: bool = False  # keep a row's directory when it is done
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    scheduler: str | None = None  # "slurm" or "sge"; None: detected from the commands on PATH
    sge: SgeConfig = field(default_factory=SgeConfig)
    custom: Mapping[str, Any] = field(default_factory=dict)
    n_jobs: int = 1
    where: tuple[str, ...] = ()  # `--where` conditions: workers claim only rows matching all
    # CodeCarbon: one `<table>_codecarbon` row per run, measured offline (worker/tracking.py).
    codecarbon: bool = False
    codecarbon_options: Mapping[str, Any] = field(default_factory=dict)
    priority: Priority = 0  # of the rows a fill adds: an int or an expression over the parameters
    experimenter_name: str = "pyexperimenter"
    path: Path | None = None
    format: str = "native"

    @property
    def base_dir(self) -> Path:
        """The config's folder: relative paths in it (template, log_dir, a `--db` SQLite file)
        start here, and the experiment module is searched here too, so a command started in
        another folder still finds them."""
        return self.path.parent if self.path else Path.cwd()

    def log_folder(self, slurm: SlurmConfig | None = None) -> Path:
        """`slurm.log_dir`, or pyexp_logs/<table>/ next to the config: worker logs, and each
        attempt's output under `output/` (worker/output.py), so `pyexp logs` finds them."""
        log_dir = (slurm or self.slurm).log_dir
        if log_dir:
            path = Path(log_dir).expanduser()
            return path if path.is_absolute() else (self.base_dir / path).resolve()
        return (self.base_dir / "pyexp_logs" / self.name).resolve()

    def checkpoint_root(self) -> Path:
        """The folder holding this table's checkpoint directories, one per row (`<root>/<ID>`):
        `<checkpoint_dir or the log folder's checkpoints/>/<table>`, on the shared file system
        beside the logs by default, so the next attempt finds it on any node; the table's
        name keeps two tables sharing a folder apart."""
        if self.checkpoint_dir:
            path = Path(self.checkpoint_dir).expanduser()
            base = path if path.is_absolute() else (self.base_dir / path).resolve()
        else:
            base = self.log_folder() / "checkpoints"
        return base / self.name

    def with_database(self, database: DatabaseConfig) -> ExperimentConfig:
        return replace(self, database=database)
