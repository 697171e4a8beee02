"""How many workers, in which arrays, with which resources: pure decisions, no scheduler calls.

Everything here takes the cluster's answers (from `slurm.py` or `sge.py`) as plain values, so
the arithmetic of arrays and limits is tested without a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig, SlurmConfig
from ..errors import InputError

DEFAULT_MAX_ARRAY_SIZE = 1001  # SLURM's default when `scontrol show config` cannot be read
OVERRIDES = frozenset({
    "partition",
    "time_minutes",
    "mem_gb",
    "cpus_per_task",
    "gpus_per_node",
    "array_parallelism",
    "setup",
    "account",
    "qos",
    "constraint",
    "sbatch",
    "signal_seconds",
    "max_task_requeues",
    "python",
    "log_dir",
    "template",
})


@dataclass(frozen=True)
class ArrayPlan:
    """One array job: `tasks` workers, at most `parallelism` of them running at once."""

    tasks: int
    parallelism: int

    @property
    def spec(self) -> str:
        """The value of `sbatch --array`."""
        spec = f"0-{self.tasks - 1}"
        return spec if self.parallelism >= self.tasks else f"{spec}%{self.parallelism}"


def split_arrays(workers: int, max_array_size: int, parallelism: int) -> list[ArrayPlan]:
    """Split `workers` tasks into arrays the cluster accepts.

    MaxArraySize M allows task ids 0..M-1; to stay clear of off-by-one readings of that limit
    (and of sites that subtract one), an array holds at most M-1 tasks. `parallelism` bounds
    the workers running at once over all arrays: it is shared out in proportion to size.
    """
    if workers < 1:
        return []
    per_array = max(1, max_array_size - 1)
    sizes = [per_array] * (workers // per_array)
    if workers % per_array:
        sizes.append(workers % per_array)
    if parallelism >= workers:
        return [ArrayPlan(s, s) for s in sizes]
    return [ArrayPlan(s, min(s, p)) for s, p in zip(sizes, _shares(sizes, workers, parallelism))]


def _shares(sizes: Sequence[int], workers: int, parallelism: int) -> list[int]:
    """Largest-remainder share of `parallelism`, at least one per array."""
    exact = [parallelism * s / workers for s in sizes]
    shares = [max(1, int(e)) for e in exact]
    spare = parallelism - sum(shares)
    for i in sorted(range(len(sizes)), key=lambda i: exact[i] - int(exact[i]), reverse=True):
        if spare <= 0:
            break
        if shares[i] < sizes[i]:
            shares[i] += 1
            spare -= 1
    return shares


@dataclass(frozen=True)
class ClusterLimits:
    max_array_size: int
    max_job_count: int | None
    source: str  # where the numbers came from, for the plan
    # Grid Engine names its limits differently and counts tasks from 1, so an array may hold
    # all `max_array_size` of them; SLURM's MaxArraySize bounds the task ids 0..M-1 instead.
    size_name: str = "MaxArraySize"
    tasks_per_array: int | None = None  # None: max_array_size - 1 (see split_arrays)
    max_running_per_array: int | None = None  # Grid Engine's max_aj_instances; None: no limit


def parse_cluster_limits(text: str) -> ClusterLimits:
    """MaxArraySize and MaxJobCount from the text of `scontrol show config`."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()

    def number(key: str) -> int | None:
        match = re.match(r"\d+", values.get(key, ""))
        return int(match.group()) if match else None

    size = number("MaxArraySize")
    return ClusterLimits(
        max_array_size=size if size is not None else DEFAULT_MAX_ARRAY_SIZE,
        max_job_count=number("MaxJobCount"),
        source="scontrol show config" if size is not None else "assumed (no MaxArraySize in scontrol show config)",
    )


def assumed_limits(why: str) -> ClusterLimits:
    """SLURM's defaults, when the cluster cannot be asked; `why` says what went wrong."""
    return ClusterLimits(DEFAULT_MAX_ARRAY_SIZE, None, f"assumed (scontrol: {why})")


def plan_arrays(workers: int, limits: ClusterLimits, parallelism: int) -> tuple[int, list[ArrayPlan], list[str]]:
    """The workers the cluster allows (MaxJobCount), their arrays, and notes for the plan."""
    notes = []
    if limits.source.startswith("assumed"):
        notes.append(f"could not read the cluster's limits: {limits.size_name} {limits.max_array_size} {limits.source}")
    if limits.max_job_count is not None and workers > limits.max_job_count:
        notes.append(f"capped at MaxJobCount {limits.max_job_count} worker(s)")
        workers = limits.max_job_count
    size = limits.max_array_size if limits.tasks_per_array is None else limits.tasks_per_array + 1
    arrays = split_arrays(workers, size, parallelism)
    cap = limits.max_running_per_array
    if cap is not None and any(a.parallelism > cap for a in arrays):
        arrays = [ArrayPlan(a.tasks, min(a.parallelism, cap)) for a in arrays]
        notes.append(f"at most {cap} task(s) of each array run at once (max_aj_instances)")
    if len(arrays) > 1:
        notes.append(
            f"{workers} workers exceed {limits.size_name} {limits.max_array_size}: split into {len(arrays)} arrays"
            + (f"; array_parallelism {parallelism} shared among them" if parallelism < workers else "")
        )
    return workers, arrays, notes


def parse_sbatch_options(items: Sequence[str]) -> dict[str, str]:
    """`--sbatch KEY=VALUE` items as a dict; a bare KEY is a flag (e.g. `exclusive`)."""
    extra: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key.strip().lstrip("-"):
            raise InputError(f"--sbatch: expected KEY=VALUE, got {item!r}")
        extra[key.strip().lstrip("-")] = value.strip()
    return extra


def resolve_slurm(config: ExperimentConfig, overrides: Mapping[str, Any]) -> SlurmConfig:
    """The config's `slurm:` section with CLI/API overrides applied; `sbatch` extras merge."""
    unknown = sorted(set(overrides) - OVERRIDES)
    if unknown:
        raise InputError(f"launch: unknown option {unknown[0]!r}; expected one of {', '.join(sorted(OVERRIDES))}")
    given = {k: v for k, v in overrides.items() if v is not None}
    slurm = config.slurm
    if "sbatch" in given:
        extra = given.pop("sbatch")
        items = extra.items() if isinstance(extra, Mapping) else extra
        merged = dict(slurm.sbatch)
        merged.update({str(k).strip().lstrip("-"): str(v) for k, v in items})
        given["sbatch"] = tuple(merged.items())
    if "setup" in given:
        given["setup"] = tuple(given["setup"]) if not isinstance(given["setup"], str) else (given["setup"],)
    slurm = replace(slurm, **given)
    _check_numbers(slurm)
    _check_one_line(slurm)
    return slurm


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_one_line(slurm: SlurmConfig) -> None:
    """Each of these becomes one `#SBATCH` line and one sinfo argument: a newline in one
    would end the directive and start a line of its own in the script."""
    values = [(f"slurm.{k}", getattr(slurm, k)) for k in ("partition", "account", "qos", "constraint")]
    values += [(f"slurm.sbatch.{k}", f"{k}={v}") for k, v in slurm.sbatch]
    for key, value in values:
        if isinstance(value, str) and _CONTROL.search(value):
            raise InputError(f"{key}: expected one line without control characters, got {value!r}")


def _check_numbers(slurm: SlurmConfig) -> None:
    for key in ("time_minutes", "cpus_per_task", "array_parallelism", "signal_seconds"):
        value = getattr(slurm, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(f"slurm.{key}: expected a positive integer, got {value!r}")
    if slurm.mem_gb <= 0:
        raise InputError(f"slurm.mem_gb: expected a positive number, got {slurm.mem_gb!r}")
    if slurm.gpus_per_node < 0:
        raise InputError(f"slurm.gpus_per_node: expected 0 or more, got {slurm.gpus_per_node!r}")


def log_dir(config: ExperimentConfig, slurm: SlurmConfig) -> Path:
    """`slurm.log_dir`, or pyexp_logs/<table>/; relative paths are relative to the config's folder."""
    return config.log_folder(slurm)
