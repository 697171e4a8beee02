"""pyexperimenter's own config format.

    experiment:  name, function, attempts, heartbeat and retry timing, local jobs, codecarbon
    database:    url, credentials, ssh (a gateway to tunnel through)
    parameters:  one entry per parameter (a list, a range, {values, type}, a sampled
                 {distribution, ...} or one value), `zip` groups and `random` blocks; the
                 grid is the cartesian product of all entries
    grids:       sub-grids, each like `parameters:` and crossed with it; their union is
                 the table, a parameter a sub-grid lacks being NULL in its rows
    results:     result columns and their SQL types
    logtables:   per-experiment time series, each a mapping of columns to SQL types
    scheduler:   slurm or sge, the scheduler `pyexp launch` submits to
    slurm:       defaults for `pyexp launch` (time, memory, CPUs, parallelism, setup: both schedulers)
    sge:         what only Grid Engine needs (queue, parallel environment, resources, options)
    custom:      free-form, handed to the experiment function

The key sets below are the whole format: unknown keys are errors, and the documentation
test reads these constants to check that every key is documented.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..params.priority import Priority, PriorityError, parse_priority
from ..sqltypes import SqlType
from .database_url import parse_database_url
from .grids import DEFAULT_MAX_GRID_ROWS, read_grids
from .limits import non_negative, read_isolation
from .longruns import LONG_RUN_KEYS, read_long_runs, signal_lead
from .model import SCHEDULERS, DatabaseConfig, ExperimentConfig, SgeConfig, SlurmConfig
from .sections import Section
from .ssh import native_ssh

NATIVE_TOP = frozenset({"experiment", "database", "parameters", "grids", "results", "logtables", "scheduler", "slurm",
                        "sge", "custom"})
EXPERIMENT_KEYS = frozenset(
    {
        "name",
        "function",
        "max_attempts",
        "heartbeat_seconds",
        "stale_after_seconds",
        "retry_delay_seconds",
        "result_timestamps",
        "n_jobs",
        "codecarbon",
        "isolation",
        "timeout_seconds",
        "memory_limit_mb",
        "quarantine_after",
        "priority",
        "max_grid_rows",
        "snapshot_max_mb",
        *LONG_RUN_KEYS,
    }
)
DATABASE_KEYS = frozenset({"url", "credentials", "ssh"})
# Each slurm key with the YAML type it must have.
SLURM_KEYS: dict[str, Any] = {
    "partition": str,
    "time_minutes": int,
    "mem_gb": (int, float),
    "cpus_per_task": int,
    "gpus_per_node": int,
    "array_parallelism": int,
    "setup": list,
    "account": str,
    "qos": str,
    "constraint": str,
    "sbatch": dict,
    "signal_seconds": int,
    "max_task_requeues": int,
    "python": str,
    "log_dir": str,
    "template": str,
}
_POSITIVE_SLURM = ("time_minutes", "cpus_per_task", "array_parallelism", "mem_gb")
# Each sge key with the YAML type it must have.
SGE_KEYS: dict[str, Any] = {
    "queue": str,
    "pe": str,
    "memory_resource": str,
    "gpu_resource": str,
    "options": list,
    "template": str,
}


def load_native(p: Path, data: dict[str, Any], credentials_path: str | os.PathLike[str] | None,
                replaced: bool = False) -> ExperimentConfig:
    """`credentials_path` (given by the caller) replaces the file's `database.credentials`;
    `replaced` (by --db / PYEXP_DB_URL) skips reading the database section's files."""
    top = Section(p, "", data, NATIVE_TOP)
    exp = top.section("experiment", EXPERIMENT_KEYS)
    name = exp.table_name(exp.get("name", str, required=True), "name")
    function = exp.get("function", str)
    if function is not None and ":" not in function:
        raise exp.error("expected 'module:function'", function, "function")
    heartbeat, stale, retry_delay = _timing(exp)
    dbsec = top.section("database", DATABASE_KEYS)
    database = DatabaseConfig(kind="sqlite") if replaced else _database(dbsec, name, credentials_path)
    params, grid = read_grids(top, exp.positive("max_grid_rows", int, DEFAULT_MAX_GRID_ROWS))
    results = read_results(top.section("results"), params)
    logtables = read_logtables(top.section("logtables"))
    exp.derived_names(name, logtables, "name")
    long_runs = read_long_runs(exp)
    slurm = _slurm(top.section("slurm", frozenset(SLURM_KEYS)), long_runs["stop_grace_seconds"])
    scheduler = top.get("scheduler", str)
    if scheduler is not None and scheduler not in SCHEDULERS:
        raise top.error(f"expected one of {', '.join(SCHEDULERS)}", scheduler, "scheduler")
    sge = _sge(top.section("sge", frozenset(SGE_KEYS)))
    custom = top.get("custom", dict, {})
    return ExperimentConfig(
        name=name,
        database=database,
        parameters=params,
        grid=grid,
        results=results,
        logtables=logtables,
        function=function,
        max_attempts=exp.positive("max_attempts", int, 3),
        heartbeat_seconds=heartbeat,
        stale_after_seconds=stale,
        retry_delay_seconds=retry_delay,
        result_timestamps=exp.get("result_timestamps", bool, False),
        **read_isolation(exp),
        quarantine_after=non_negative(exp, "quarantine_after", 5),
        snapshot_max_mb=exp.positive("snapshot_max_mb", float, 100.0),
        **long_runs,
        slurm=slurm,
        scheduler=scheduler,
        sge=sge,
        custom=custom,
        n_jobs=exp.positive("n_jobs", int, 1),
        codecarbon=exp.get("codecarbon", bool, False),
        priority=_priority(exp, params),
        path=p.resolve(),
        format="native",
    )


def _priority(exp: Section, params: Mapping[str, SqlType]) -> Priority:
    """An integer, or an expression over the parameters checked now (params/priority.py)."""
    value = exp.get("priority", (int, str), 0)
    if isinstance(value, int):
        return value
    try:
        return parse_priority(value, params)
    except PriorityError as e:
        raise exp.error(f"expected an integer or an expression over the parameters: {e}", value, "priority") from None


def _timing(exp: Section) -> tuple[float, float, float]:
    """(heartbeat, stale_after, retry_delay); a run is declared lost only after missing
    several heartbeats, so stale_after must exceed the heartbeat interval."""
    heartbeat = exp.positive("heartbeat_seconds", float, 30.0)
    stale = exp.positive("stale_after_seconds", float, 4 * heartbeat)
    if stale <= heartbeat:
        raise exp.error(f"must be larger than heartbeat_seconds ({heartbeat:g})", stale, "stale_after_seconds")
    retry_delay = exp.get("retry_delay_seconds", float, 0.0)
    if retry_delay < 0:
        raise exp.error("expected a number >= 0", retry_delay, "retry_delay_seconds")
    return heartbeat, stale, retry_delay


def _database(sec: Section, name: str, credentials_path: str | os.PathLike[str] | None) -> DatabaseConfig:
    """Without a URL, a SQLite file named after the table, next to the config."""
    url = sec.get("url", str, f"sqlite:///{name}.db")
    creds = credentials_path or sec.get("credentials", str)
    db = parse_database_url(url, f"{sec.file}: {sec.path('url')}", sec.file.parent, credentials=creds)
    ssh = native_ssh(sec)
    if ssh is not None and db.kind != "mysql":
        raise sec.error("an SSH tunnel needs a mysql:// database.url", url, "ssh")
    return replace(db, ssh=ssh) if ssh is not None else db


def read_results(sec: Section, params: Mapping[str, SqlType]) -> dict[str, SqlType]:
    """Result columns; they share the row with the parameters, so the names must differ."""
    results: dict[str, SqlType] = {}
    for key, value in sec.data.items():
        col = sec.column(key)
        if col in params:
            raise sec.error("a result cannot share its name with a parameter", None, col)
        results[col] = sec.sql_type(col, value)
    return results


def read_logtables(sec: Section) -> dict[str, dict[str, SqlType]]:
    """Log tables by name; each becomes its own SQL table, so its name is checked like one."""
    tables: dict[str, dict[str, SqlType]] = {}
    for key, cols in sec.data.items():
        name = sec.identifier(key, "logtable name", str(key))
        csec = sec.child(name, cols)
        if not csec.data:
            raise csec.error("expected a mapping of column names to types")
        tables[name] = {}
        for ckey, ctype in csec.data.items():
            col = csec.log_column(ckey)
            tables[name][col] = csec.sql_type(col, ctype)
    return tables


def _sge(sec: Section) -> SgeConfig:
    values: dict[str, Any] = {key: sec.get(key, kind) for key, kind in SGE_KEYS.items() if key in sec.data}
    if "options" in values:
        if not all(isinstance(s, str) for s in values["options"]):
            raise sec.error("expected a list of qsub options (strings)", values["options"], "options")
        values["options"] = tuple(values["options"])
    if "memory_resource" in values and values["memory_resource"] in ("", "none"):
        values["memory_resource"] = None  # request no memory at all
    return SgeConfig(**values)


def _slurm(sec: Section, grace: float) -> SlurmConfig:
    values: dict[str, Any] = {"signal_seconds": signal_lead(grace)}
    for key, kind in SLURM_KEYS.items():
        if key in sec.data and sec.data[key] is not None:
            values[key] = sec.get(key, kind)
    if "setup" in values:
        if not all(isinstance(s, str) for s in values["setup"]):
            raise sec.error("expected a list of shell lines", values["setup"], "setup")
        values["setup"] = tuple(values["setup"])
    if "sbatch" in values:
        values["sbatch"] = tuple((str(k), str(v)) for k, v in values["sbatch"].items())
    for key in _POSITIVE_SLURM:
        if key in values and values[key] <= 0:
            raise sec.error("expected a positive number", values[key], key)
    if values.get("max_task_requeues", 0) < 0:
        raise sec.error("expected an integer >= 0", values["max_task_requeues"], "max_task_requeues")
    return SlurmConfig(**values)
