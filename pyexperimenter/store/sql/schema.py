"""The columns pyexperimenter keeps in every table, listed once.

The DDL, the names users may not take for parameters or results, the columns hidden from
DataFrames, the columns decoded as dates and the names offered by shell completion are all
derived from these tuples, so adding a bookkeeping column is a one-line change here.

Kinds are abstract; the dialect (store/sql/dialect.py) turns each into the database's type:
    pk         auto-increment primary key
    datetime   a timestamp with sub-second precision, on the server's clock
    status     a short word (VARCHAR(16))
    text       up to 255 characters
    long_text  a traceback, unbounded
    int        an integer
    bigint     a row id in another table
    token      a claim token (CHAR(32))
    hash       a parameter hash (CHAR(40))
    double     a double-precision number (CodeCarbon's measurements)
    bool       a boolean

This module imports nothing from the rest of the package: config validation and the
stores both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    default: str | None = None  # "now", "created", "0" (a literal), or None for DEFAULT NULL
    not_null: bool = False
    hidden: bool = False  # bookkeeping a researcher never needs to see in a DataFrame


# The experiment table: ID, then the parameters, then HEAD, then the results (each with its
# `<name>_timestamp` when result_timestamps is on), then TAIL. The order of ID, parameters,
# HEAD and results matches PyExperimenter 1.4's tables, and so do their names; every other
# bookkeeping column starts with PREFIX, which no parameter, result or log column may take
# (config/ refuses it), so our columns never take a name from the user.
PREFIX = "pyexp_"
MAIN_HEAD: tuple[Column, ...] = (
    Column("creation_date", "datetime", default="now"),
    Column("status", "status", default="created", not_null=True),
    Column("start_date", "datetime"),
    Column("name", "text"),
    Column("machine", "text"),
)
MAIN_TAIL: tuple[Column, ...] = (
    Column("end_date", "datetime"),
    Column("error", "long_text"),
    # The traceback's last line, written with it: `pyexp status` groups errors by one GROUP BY.
    Column("pyexp_error_summary", "text", hidden=True),
    Column("pyexp_attempts", "int", default="0", not_null=True),
    Column("pyexp_worker", "text"),
    Column("pyexp_heartbeat", "datetime"),
    Column("pyexp_token", "token", hidden=True),  # the claim's token (store/sql/queries.py: fencing)
    Column("pyexp_hash", "hash", not_null=True, hidden=True),  # of the parameters
    Column("pyexp_rank", "int", default="0", not_null=True, hidden=True),  # random claim order
    Column("pyexp_available_at", "datetime", hidden=True),
    Column("pyexp_job_id", "text"),  # the batch job (SLURM, Grid Engine) of the worker
    Column("pyexp_priority", "int", default="0", not_null=True),  # claimed first: higher, then lower ID
    # The small state dict an experiment saved (`save_state`, JSON), offered to its next attempt.
    Column("pyexp_state", "long_text", hidden=True),
)

# Schema versions 1 and 2 named these columns without the prefix (store/engine/migrations.py
# renames them in place): new name -> old name.
RENAMED_MAIN: dict[str, str] = {
    "pyexp_error_summary": "error_summary", "pyexp_attempts": "attempts", "pyexp_worker": "worker",
    "pyexp_heartbeat": "heartbeat", "pyexp_token": "claim_token", "pyexp_hash": "param_hash",
    "pyexp_rank": "rank_key", "pyexp_available_at": "available_at", "pyexp_job_id": "slurm_job_id",
    "pyexp_priority": "priority",
}
RENAMED_ATTEMPTS: dict[str, str] = {
    "job_id": "slurm_job_id", "array_job_id": "slurm_array_job_id", "array_task_id": "slurm_array_task_id",
}
MAIN_ID = Column("ID", "pk")

# One row per claim of an experiment: who ran it, when, and how it ended.
ATTEMPT_COLUMNS: tuple[Column, ...] = (
    MAIN_ID,
    Column("experiment_id", "bigint", not_null=True),
    Column("attempt", "int", not_null=True),
    Column("claim_token", "token", not_null=True),
    Column("worker", "text"),
    Column("machine", "text"),
    Column("pid", "int"),
    Column("job_id", "text"),  # the batch job of the worker, as its scheduler names it
    Column("array_job_id", "text"),
    Column("array_task_id", "int"),
    Column("start_date", "datetime"),
    Column("end_date", "datetime"),
    Column("outcome", "status", not_null=True),
    Column("error", "long_text"),
    # Provenance, measured once per worker process (pyexperimenter/worker/provenance.py).
    Column("cuda_devices", "text"),  # CUDA_VISIBLE_DEVICES of the worker (`run --gpus`, SLURM)
    Column("git_commit", "text"),  # of the experiment function's code folder
    Column("git_dirty", "int"),  # 1: uncommitted changes in that folder
    Column("git_diff_hash", "hash"),  # which changes, when dirty
    Column("python_version", "text"),
    Column("packages_hash", "hash"),  # the installed packages; the list is in <table>_packages
    # What the experiment printed (worker/output.py): the whole in a file, its last few KB here.
    Column("log_file", "long_text"),  # a path can be longer than a VARCHAR(255)
    Column("log_tail", "long_text"),
    Column("scheduler", "status"),  # "slurm", "sge", or NULL: a local worker
    # What the attempt used (worker/usage.py); NULL where it could not be measured.
    Column("wall_seconds", "double"),
    Column("cpu_seconds", "double"),  # user + system, the experiment's process and its reaped children
    Column("peak_rss_mb", "double"),  # the child's peak with isolation, the worker process's peak without
    Column("gpu_peak_mb", "double"),  # NULL unless a GPU and its tools are present
    Column("snapshot", "hash"),  # the code snapshot the attempt ran
)
ATTEMPTS_ADDED_LATER: tuple[str, ...] = (
    "cuda_devices", "git_commit", "git_dirty", "git_diff_hash", "python_version", "packages_hash",
    "log_file", "log_tail", "scheduler",
)
"""Attempt columns that attempt tables made by earlier versions lack (migrations.py adds them)."""
ATTEMPTS_ADDED_V5: tuple[str, ...] = ("wall_seconds", "cpu_seconds", "peak_rss_mb", "gpu_peak_mb", "snapshot")
MAIN_ADDED_V6: tuple[str, ...] = ("pyexp_state",)
"""What each attempt used and the code it ran: schema version 5 adds them (migrations.py)."""

SCHEMA_TABLE = "pyexp_schema"
"""The database's registry of schema versions: one row per experiment table
(store/engine/migrations.py). No experiment may take this name."""

# `<table>_packages`: each distinct list of installed packages once, by its hash.
PACKAGE_COLUMNS: tuple[Column, ...] = (
    MAIN_ID,
    Column("packages_hash", "hash", not_null=True),
    Column("packages", "long_text"),  # `name==version` lines, sorted
    Column("first_seen", "datetime", default="now"),
)

# `<table>_launches`: what `pyexp launch` started, so `pyexp cancel` can stop it from any host.
LAUNCH_COLUMNS: tuple[Column, ...] = (
    MAIN_ID,
    Column("kind", "status", not_null=True),  # "slurm"/"sge" (job_id: an array job) or "local" (job_id: a pid)
    Column("job_id", "text", not_null=True),
    Column("host", "text"),
    Column("launched", "datetime", default="now"),
    Column("ended", "datetime"),  # cancelled, or the local worker exited
)

# Every log table starts with these; the user's columns follow.
LOG_HEAD: tuple[Column, ...] = (
    MAIN_ID,
    Column("experiment_id", "bigint", not_null=True),
    Column("timestamp", "datetime"),
)

# `<table>_codecarbon`: one row per tracked run (`codecarbon: true`), PyExperimenter 1.4's
# columns in its order; `CODECARBON_FIELDS` names the field of codecarbon's EmissionsData
# each one is read from.
CODECARBON_HEAD: tuple[Column, ...] = (MAIN_ID, Column("experiment_id", "bigint", not_null=True))
_CC: tuple[tuple[str, str, str], ...] = (
    ("codecarbon_timestamp", "datetime", "timestamp"), ("project_name", "text", "project_name"),
    ("run_id", "text", "run_id"), ("duration_seconds", "double", "duration"), ("emissions_kg", "double", "emissions"),
    ("emissions_rate_kg_sec", "double", "emissions_rate"), ("cpu_power_watt", "double", "cpu_power"),
    ("gpu_power_watt", "double", "gpu_power"), ("ram_power_watt", "double", "ram_power"),
    ("cpu_energy_kw", "double", "cpu_energy"), ("gpu_energy_kw", "double", "gpu_energy"),
    ("ram_energy_kw", "double", "ram_energy"), ("energy_consumed_kw", "double", "energy_consumed"),
    ("country_name", "text", "country_name"), ("country_iso_code", "text", "country_iso_code"),
    ("region", "text", "region"), ("cloud_provider", "text", "cloud_provider"), ("cloud_region", "text", "cloud_region"),
    ("os", "text", "os"), ("python_version", "text", "python_version"),
    ("codecarbon_version", "text", "codecarbon_version"), ("cpu_count", "double", "cpu_count"),
    ("cpu_model", "text", "cpu_model"), ("gpu_count", "double", "gpu_count"), ("gpu_model", "text", "gpu_model"),
    ("longitude", "text", "longitude"), ("latitude", "text", "latitude"), ("ram_total_size", "double", "ram_total_size"),
    ("tracking_mode", "text", "tracking_mode"), ("on_cloud", "text", "on_cloud"),
    ("power_usage_efficiency", "double", "pue"), ("offline_mode", "bool", "offline_mode"),
)
CODECARBON_COLUMNS: tuple[Column, ...] = tuple(Column(name, kind) for name, kind, _ in _CC)
CODECARBON_FIELDS: dict[str, str] = {name: field for name, _, field in _CC}

MAIN_INTERNAL: tuple[Column, ...] = (MAIN_ID, *MAIN_HEAD, *MAIN_TAIL)

FILL_COLUMNS: tuple[str, ...] = ("pyexp_hash", "pyexp_rank", "pyexp_priority")
"""What a fill writes after the parameters; status and creation_date come from defaults."""


MAX_NAME = 64  # MariaDB's longest table name (SQLite has no limit; the rule is one for both)
DERIVED_SUFFIXES = ("__attempts", "_codecarbon", "_packages", "_launches", "_counts")


def derived_tables(table: str, logtables: tuple[str, ...] = ()) -> list[str]:
    """Every table an experiment table brings along (keep in step with TableSchema's names):
    a name is valid only if each of these fits, or a fill would leave an orphan behind."""
    return [table, *(table + s for s in DERIVED_SUFFIXES), *(f"{table}__{log}" for log in logtables)]


def error_summary(error: str | None) -> str | None:
    """The last non-empty line of a traceback (the exception), cut to fit its column."""
    if error is None:
        return None
    lines = [ln.strip() for ln in error.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "(no message)")[:255]


def timestamp_column(result: str, local: bool = False) -> Column:
    """When a result was written (`result_timestamps: true`); placed right after the result.
    `local`: PyExperimenter 1.4's VARCHAR of the worker's local time (TableSchema.local_timestamps)."""
    return Column(f"{result}_timestamp", "text" if local else "datetime")


def local_stamp() -> str:
    """The worker's local time to the second, as PyExperimenter 1.4 stamps results and logs."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    descending: tuple[str, ...] = ()  # columns kept in descending order
    # Where the database keeps partial indexes (SQLite): the rows indexed. A claim (created ->
    # running) and a finish (running -> done) then touch only the indexes of the statuses
    # involved: every index that starts with `status` was rewritten at each claim and finish,
    # 42 KB written per no-op experiment against 25 KB with these (docs/performance.md). A
    # statement that is to use the index repeats this condition word for word.
    where: str = ""
    # Columns indexed by their first characters only: MariaDB indexes no TEXT column whole
    # and no key longer than 3072 bytes (error 1170 or 1071), so `--where` on a long text
    # column gets an index of its first INDEX_PREFIX_CHARS characters (SQLite indexes all).
    prefix: tuple[str, ...] = ()


INDEX_PREFIX_CHARS = 255


# The claim picks open rows through STATUS_INDEX (priority, then ID order) or RANK_INDEX
# (random order); on MariaDB its SELECT names them in a FORCE INDEX hint. RANK_INDEX is made
# by the first random-order claim, not with the table: every index led by `status` is
# rewritten at each claim and finish, and on MariaDB (no partial indexes) this one cost a
# no-op experiment about 5% of the throughput of workers that never claim at random.
# Index names predate the `pyexp_` column names and keep their old spelling: renaming a
# column carries its indexes along, and the claim's FORCE INDEX hints name them.
STATUS_INDEX = Index("ix_status_priority", ("status", "pyexp_priority", "ID"), descending=("pyexp_priority",))
RANK_INDEX = Index("ix_status_rank", ("status", "pyexp_rank"), where="status = 'created'")
MAIN_INDEXES: tuple[Index, ...] = (
    Index("ux_param_hash", ("pyexp_hash",), unique=True),  # what makes a fill idempotent
    STATUS_INDEX,
    Index("ix_claim_token", ("pyexp_token",)),
    # `pyexp status` at a million rows: throughput reads a range of end dates, errors are
    # grouped by their summary, both from the index alone. A group's first ids are read in ID
    # order off the index: MariaDB and SQLite keep the ID in every index, PostgreSQL only if
    # named (without it, it read the primary key from the start, filtering every row).
    Index("ix_status_end", ("status", "end_date"), where="status IN ('done', 'error')"),
    Index("ix_status_error", ("status", "pyexp_error_summary", "ID"), where="status = 'error'"),
    # The lost-run sweep reads only the running rows whose heartbeat is old, not every running
    # row: with every worker sweeping, a scan of all running rows grew with the square of the
    # workers and took row locks it did not need (docs/scale.md).
    Index("ix_status_heartbeat", ("status", "pyexp_heartbeat"), where="status = 'running'"),
)
PARTIAL_INDEXES: tuple[Index, ...] = tuple(i for i in (*MAIN_INDEXES, RANK_INDEX) if i.where)


def filter_index(column: str, long_text: bool = False) -> Index:
    """The index that lets a claim filtered on `column` (`--where`) find its next row
    without walking past the rows it skips: open rows of one value, in claim order."""
    name = f"ix_where_{column}"
    if len(name) > 60:  # MariaDB's index names end at 64 characters
        import hashlib

        name = "ix_where_" + hashlib.sha1(column.encode()).hexdigest()[:20]
    return Index(name, ("status", column, "pyexp_priority", "ID"), descending=("pyexp_priority",),
                 prefix=(column,) if long_text else ())


# ix_outcome_peak: `pyexp status` counts attempts per outcome off this index alone, finds the
# quarantined ones by range, and each outcome's peak memory by one seek (MAX of its last
# entry); without it all three read every attempt (one per finished row, or more). It
# replaced ix_outcome (outcome alone) at no cost to a finish: closing an attempt moves its
# entry anyway, the outcome changing, and its peak is set by the same statement. Made with
# the others by `pyexp fill` (ddl.create), and by the upgrade to schema version 5
# (migrations.py) for a table made before, which then drops ix_outcome.
# Closing a claim's attempts names ATTEMPT_TOKEN_INDEX on MariaDB: left to itself the optimiser
# took the outcome index's range of every running attempt, whose next-key locks made concurrent
# finishes deadlock (13-46 deadlocks in a 10,000-row run of 16 workers, each a retry).
ATTEMPT_TOKEN_INDEX = Index("ix_claim_token", ("claim_token",))
ATTEMPT_OUTCOME_INDEX = Index("ix_outcome_peak", ("outcome", "peak_rss_mb"))
ATTEMPT_INDEXES: tuple[Index, ...] = (Index("ix_experiment", ("experiment_id",)), ATTEMPT_TOKEN_INDEX,
                                      ATTEMPT_OUTCOME_INDEX)
RETIRED_ATTEMPT_INDEXES: tuple[str, ...] = ("ix_outcome",)
"""Attempt indexes an earlier version made that a later one replaced: `pyexp fill` drops them."""
PACKAGE_INDEXES: tuple[Index, ...] = (Index("ux_packages_hash", ("packages_hash",), unique=True),)
LOG_INDEXES: tuple[Index, ...] = (Index("ix_experiment", ("experiment_id",)),)

RESERVED_COLUMNS: frozenset[str] = frozenset(c.name.lower() for c in MAIN_INTERNAL)
"""Names a parameter or result may not take (compared case-insensitively, as MySQL does),
beside every name starting with PREFIX (`is_reserved`)."""


def is_reserved(name: str) -> bool:
    """Whether a parameter, result or log column may not take `name`: one of PyExperimenter's
    columns, or one starting with PREFIX, now or in a later version."""
    return name.lower() in RESERVED_COLUMNS or name.lower().startswith(PREFIX)



RESERVED_LOG_COLUMNS: frozenset[str] = frozenset(c.name.lower() for c in LOG_HEAD)

INTERNAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in MAIN_INTERNAL if c.hidden)
"""Dropped from DataFrames unless asked for (`get_table(keep_internal=True)`)."""

DATE_COLUMNS: frozenset[str] = frozenset(
    c.name for c in (*MAIN_INTERNAL, *ATTEMPT_COLUMNS, *LOG_HEAD, *CODECARBON_COLUMNS, *PACKAGE_COLUMNS, *LAUNCH_COLUMNS)
    if c.kind == "datetime"
)
"""Decoded to datetime when a driver hands them back as text (SQLite)."""

VISIBLE_COLUMNS: tuple[str, ...] = tuple(c.name for c in MAIN_INTERNAL if not c.hidden)
"""The bookkeeping columns a user may select, filter or complete on the command line."""


def is_date_column(name: str) -> bool:
    return name in DATE_COLUMNS or name.endswith("_timestamp")
