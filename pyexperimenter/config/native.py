"""pyexperimenter's own config format.

    experiment:  name, function, attempts, heartbeat and retry timing, local jobs
    database:    url, credentials
    parameters:  one entry per parameter (a list, a range, {values, type} or one value),
                 and `zip` groups; the grid is the cartesian product of all entries
    results:     result columns and their SQL types
    logtables:   per-experiment time series, each a mapping of columns to SQL types
    slurm:       defaults for `pyexp launch`
    custom:      free-form, handed to the experiment function

The key sets below are the whole format: unknown keys are errors, and the documentation
test reads these constants to check that every key is documented.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..grid import Factor, Grid, integer_or_float_range
from ..sqltypes import SqlType, infer_type
from .database_url import parse_database_url
from .model import DatabaseConfig, ExperimentConfig, SlurmConfig
from .sections import Section

NATIVE_TOP = frozenset({"experiment", "database", "parameters", "results", "logtables", "slurm", "custom"})
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
        "isolation",
        "timeout_seconds",
        "memory_limit_mb",
        "quarantine_after",
    }
)
ISOLATIONS = ("none", "process", "spawn")
DATABASE_KEYS = frozenset({"url", "credentials"})
ZIP_KEY = "zip"
RANGE_KEYS = frozenset({"start", "stop", "step"})
DOMAIN_KEYS = RANGE_KEYS | {"values", "type"}
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
    "python": str,
    "log_dir": str,
    "template": str,
}
_POSITIVE_SLURM = ("time_minutes", "cpus_per_task", "array_parallelism", "mem_gb")


def load_native(p: Path, data: dict[str, Any], credentials_path: str | os.PathLike[str] | None) -> ExperimentConfig:
    """`credentials_path` (given by the caller) replaces the file's `database.credentials`."""
    top = Section(p, "", data, NATIVE_TOP)
    exp = top.section("experiment", EXPERIMENT_KEYS)
    name = exp.identifier(exp.get("name", str, required=True), "table name", "name")
    function = exp.get("function", str)
    if function is not None and ":" not in function:
        raise exp.error("expected 'module:function'", function, "function")
    heartbeat, stale, retry_delay = _timing(exp)
    database = _database(top.section("database", DATABASE_KEYS), name, credentials_path)
    params, grid = _parameters(top.section("parameters"))
    results = read_results(top.section("results"), params)
    logtables = read_logtables(top.section("logtables"))
    slurm = _slurm(top.section("slurm", frozenset(SLURM_KEYS)))
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
        **_isolation(exp),
        quarantine_after=_non_negative(exp, "quarantine_after", 5),
        slurm=slurm,
        custom=custom,
        n_jobs=exp.positive("n_jobs", int, 1),
        path=p.resolve(),
        format="native",
    )


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


def _isolation(exp: Section) -> dict[str, Any]:
    """A time or memory limit can only be enforced on a child process: killing running
    Python code from inside its own process is not safe, so without isolation they are
    refused here rather than silently ignored."""
    isolation = exp.get("isolation", str, "none")
    if isolation not in ISOLATIONS:
        raise exp.error(f"expected one of {', '.join(ISOLATIONS)}", isolation, "isolation")
    timeout = exp.positive("timeout_seconds", float, None)
    memory = exp.positive("memory_limit_mb", int, None)
    for key, value in (("timeout_seconds", timeout), ("memory_limit_mb", memory)):
        if value is not None and isolation == "none":
            raise exp.error("needs experiment.isolation: process (a limit is enforced on a child process)", value, key)
    return {"isolation": isolation, "timeout_seconds": timeout, "memory_limit_mb": memory}


def _non_negative(exp: Section, key: str, default: int) -> int:
    value = exp.get(key, int, default)
    if value < 0:
        raise exp.error("expected an integer >= 0", value, key)
    return int(value)


def _database(sec: Section, name: str, credentials_path: str | os.PathLike[str] | None) -> DatabaseConfig:
    """Without a URL, a SQLite file named after the table, next to the config."""
    url = sec.get("url", str, f"sqlite:///{name}.db")
    creds = credentials_path or sec.get("credentials", str)
    return parse_database_url(url, f"{sec.file}: {sec.path('url')}", sec.file.parent, credentials=creds)


def _parameters(sec: Section) -> tuple[dict[str, SqlType], Grid]:
    if not sec.data:
        raise sec.error("expected at least one parameter (the grid is empty)")
    factors: list[Factor] = []
    columns: dict[str, SqlType] = {}
    for key, spec in sec.data.items():
        if key == ZIP_KEY:
            groups = spec if isinstance(spec, list) else [spec]
            for i, group in enumerate(groups):
                zsec = sec.child(ZIP_KEY if len(groups) == 1 else f"{ZIP_KEY}[{i}]", group)
                factors.append(_zip_factor(zsec, columns))
            continue
        col = _new_parameter(sec, key, columns)
        values, explicit = read_domain(sec, col, spec)
        columns[col] = explicit or infer_type(values)
        factors.append(Factor((col,), tuple((v,) for v in values)))
    return columns, Grid(tuple(factors))


def _new_parameter(sec: Section, key: Any, columns: Mapping[str, SqlType]) -> str:
    col = sec.column(key)
    if col in columns:
        raise sec.error("parameter is listed twice", None, col)
    return col


def _zip_factor(zsec: Section, columns: dict[str, SqlType]) -> Factor:
    """Lists of equal length, taken side by side: one axis of the product."""
    if not zsec.data:
        raise zsec.error("expected a mapping of parameter lists of equal length")
    names, lists = [], []
    for key, spec in zsec.data.items():
        col = _new_parameter(zsec, key, columns)
        values, explicit = read_domain(zsec, col, spec)
        columns[col] = explicit or infer_type(values)
        names.append(col)
        lists.append(values)
    lengths = {len(v) for v in lists}
    if len(lengths) != 1:
        detail = ", ".join(f"{n}: {len(v)}" for n, v in zip(names, lists))
        raise zsec.error(f"zipped lists must have equal lengths ({detail})")
    return Factor(tuple(names), tuple(zip(*lists)))


def read_domain(sec: Section, key: str, spec: Any) -> tuple[list[Any], SqlType | None]:
    """One parameter's values: a list, a range mapping, {values, type}, or a fixed scalar;
    and the SQL type, when one is given (else it is inferred from the values)."""
    if isinstance(spec, list):
        if not spec:
            raise sec.error("expected a non-empty list (the grid would be empty)", spec, key)
        return spec, None
    if isinstance(spec, dict):
        sub = sec.child(key, spec, DOMAIN_KEYS)
        sql_type = sub.sql_type("type", spec["type"]) if "type" in spec else None
        if "values" in spec:
            if RANGE_KEYS & set(spec):
                raise sub.error("give either values or start/stop/step, not both")
            values, _ = read_domain(sec, key, spec["values"])
            return values, sql_type
        return _range(sub), sql_type
    if isinstance(spec, (str, int, float, bool)) or spec is None:
        return [spec], None
    raise sec.error("expected a list, {start, stop[, step]}, {values[, type]} or a single value", spec, key)


def _range(sub: Section) -> list[Any]:
    """Python's range(): stop excluded, as PyExperimenter does; floats allowed."""
    numbers = (int, float)
    start = sub.get("start", numbers, 0)
    stop = sub.get("stop", numbers, required=True)
    step = sub.get("step", numbers, 1)
    if step == 0:
        raise sub.error("expected a non-zero number", step, "step")
    values = integer_or_float_range(start, stop, step)
    if not values:
        raise sub.error(f"range is empty (start {start}, stop {stop} excluded, step {step})")
    return values


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


def _slurm(sec: Section) -> SlurmConfig:
    values: dict[str, Any] = {}
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
    return SlurmConfig(**values)
