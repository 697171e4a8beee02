"""The columns pyexperimenter keeps in every table, listed once.

The DDL, the names users may not take for parameters or results, the columns hidden from
DataFrames, the columns decoded as dates and the names offered by shell completion are all
derived from these tuples, so adding a bookkeeping column is a one-line change here.

Kinds are abstract; the dialect (store/dialect.py) turns each into the database's type:
    pk         auto-increment primary key
    datetime   a timestamp with sub-second precision, on the server's clock
    status     a short word (VARCHAR(16))
    text       up to 255 characters
    long_text  a traceback, unbounded
    int        an integer
    bigint     a row id in another table
    token      a claim token (CHAR(32))
    hash       a parameter hash (CHAR(40))

This module imports nothing from the rest of the package: config validation and the
stores both read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    default: str | None = None  # "now", "created", "0" (a literal), or None for DEFAULT NULL
    not_null: bool = False
    hidden: bool = False  # bookkeeping a researcher never needs to see in a DataFrame


# The experiment table: ID, then the parameters, then HEAD, then the results (each with its
# `<name>_timestamp` when result_timestamps is on), then TAIL. The order of ID, parameters,
# HEAD and results matches PyExperimenter 1.4's tables.
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
    Column("error_summary", "text", hidden=True),
    Column("attempts", "int", default="0", not_null=True),
    Column("worker", "text"),
    Column("heartbeat", "datetime"),
    Column("claim_token", "token", hidden=True),
    Column("param_hash", "hash", not_null=True, hidden=True),
    Column("rank_key", "int", default="0", not_null=True, hidden=True),
    Column("available_at", "datetime", hidden=True),
    Column("slurm_job_id", "text"),
)
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
    Column("slurm_job_id", "text"),
    Column("slurm_array_job_id", "text"),
    Column("slurm_array_task_id", "int"),
    Column("start_date", "datetime"),
    Column("end_date", "datetime"),
    Column("outcome", "status", not_null=True),
    Column("error", "long_text"),
)

# Every log table starts with these; the user's columns follow.
LOG_HEAD: tuple[Column, ...] = (
    MAIN_ID,
    Column("experiment_id", "bigint", not_null=True),
    Column("timestamp", "datetime"),
)

MAIN_INTERNAL: tuple[Column, ...] = (MAIN_ID, *MAIN_HEAD, *MAIN_TAIL)

FILL_COLUMNS: tuple[str, ...] = ("param_hash", "rank_key")
"""What a fill writes after the parameters; status and creation_date come from defaults."""


def error_summary(error: str | None) -> str | None:
    """The last non-empty line of a traceback (the exception), cut to fit its column."""
    if error is None:
        return None
    lines = [ln.strip() for ln in error.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "(no message)")[:255]


def timestamp_column(result: str) -> Column:
    """When a result was written (`result_timestamps: true`); placed right after the result."""
    return Column(f"{result}_timestamp", "datetime")


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False


# The claim picks open rows through STATUS_INDEX (ID order) or RANK_INDEX (random order);
# on MariaDB its SELECT names them in a FORCE INDEX hint.
STATUS_INDEX = Index("ix_status", ("status", "ID"))
RANK_INDEX = Index("ix_status_rank", ("status", "rank_key"))
MAIN_INDEXES: tuple[Index, ...] = (
    Index("ux_param_hash", ("param_hash",), unique=True),  # what makes a fill idempotent
    STATUS_INDEX,
    RANK_INDEX,
    Index("ix_claim_token", ("claim_token",)),
    # `pyexp status` at a million rows: throughput reads a range of end dates, errors are
    # grouped by their summary, both from the index alone.
    Index("ix_status_end", ("status", "end_date")),
    Index("ix_status_error", ("status", "error_summary")),
)
ATTEMPT_INDEXES: tuple[Index, ...] = (Index("ix_experiment", ("experiment_id",)), Index("ix_claim_token", ("claim_token",)))
LOG_INDEXES: tuple[Index, ...] = (Index("ix_experiment", ("experiment_id",)),)

RESERVED_COLUMNS: frozenset[str] = frozenset(c.name.lower() for c in MAIN_INTERNAL)
"""Names a parameter or result may not take (compared case-insensitively, as MySQL does)."""

RESERVED_LOG_COLUMNS: frozenset[str] = frozenset(c.name.lower() for c in LOG_HEAD)

INTERNAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in MAIN_INTERNAL if c.hidden)
"""Dropped from DataFrames unless asked for (`get_table(keep_internal=True)`)."""

DATE_COLUMNS: frozenset[str] = frozenset(
    c.name for c in (*MAIN_INTERNAL, *ATTEMPT_COLUMNS, *LOG_HEAD) if c.kind == "datetime"
)
"""Decoded to datetime when a driver hands them back as text (SQLite)."""

VISIBLE_COLUMNS: tuple[str, ...] = tuple(c.name for c in MAIN_INTERNAL if not c.hidden)
"""The bookkeeping columns a user may select, filter or complete on the command line."""


def is_date_column(name: str) -> bool:
    return name in DATE_COLUMNS or name.endswith("_timestamp")
