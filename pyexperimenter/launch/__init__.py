"""`pyexp launch`: N identical workers as array jobs of a scheduler, or locally.

Every worker runs the same shell script, rendered from a template; its last line is
`python -m pyexperimenter.worker --config ... --db ... --function ...`. Nothing is pickled:
the table is the only channel between the launcher and the workers, and the only source of
truth afterwards (no sacct, no qacct). `launch` checks (`preflight.py`), plans (`plan.py`),
and hands rendering, submitting, watching and cancelling to one `Scheduler` (scheduler.py):
SLURM (`slurm.py`, through submitit) or Grid Engine (`sge.py`), picked by `schedulers.py`;
or it runs the workers here (`local.py`). `LaunchResult` is what it did, `render.launch_text`
prints it.
"""

from __future__ import annotations

import shlex
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import snapshot as code_snapshot
from ..config import ExperimentConfig, SlurmConfig
from ..errors import InputError
from ..store import Store
from ..worker.function import spec_source
from . import preflight, schedulers
from .cancel import CancelResult, cancel
from .diagnose import dead_workers
from .local import run_local
from .plan import (
    ArrayPlan,
    ClusterLimits,
    log_dir,
    parse_cluster_limits,
    parse_sbatch_options,
    plan_arrays,
    resolve_slurm,
    split_arrays,
)
from .result import LaunchResult
from .scheduler import JobInputs, Scheduler
from .script import (
    TEMPLATE_DIR,
    ScriptValues,
    effective_signal_seconds,
    long_run_lines,
    pythonpath_line,
    render_template,
    template_path,
    worker_args,
    worker_environment,
)

Counts = Callable[[], dict[str, int]]


def launch(
    config: ExperimentConfig,
    store: Store,
    *,
    function: str | Callable[..., Any] | None = None,
    workers: int = 200,
    dry_run: bool = False,
    local: bool = False,
    scheduler: str | None = None,
    snapshot: bool = True,
    **overrides: Any,
) -> LaunchResult:
    """Check everything the nodes would trip over, then submit (or print, or run locally).

    `overrides` are the `slurm:` keys (partition, time_minutes, sbatch, ...) for this launch;
    they size the jobs of either scheduler. `scheduler` ("slurm" or "sge") overrides the
    config's `scheduler:`; without either, the one whose submit command is on PATH.
    Unless `snapshot` is False, the workers import the function from a code snapshot taken
    here (snapshot.py). A dry run writes nothing: its script names the snapshot the launch
    would take, and its workers write it from the live code if that is still the same.
    """
    if workers < 1:
        raise InputError(f"--workers: expected a positive number, got {workers}")
    if dry_run and local:
        raise InputError("--dry-run and --local exclude each other")
    if config.path is None:
        raise InputError("launch needs the experiment's config file: the workers read it on the nodes")
    slurm = resolve_slurm(config, overrides)
    cluster = schedulers.pick(scheduler or config.scheduler)
    spec = preflight.function_spec(config, function)
    extra_path = preflight.import_check(spec, config.base_dir, spec_source(function is not None, config.path))
    counts = preflight.table_counts(config, store)
    open_rows = counts["created"] + counts.get("stale", 0)
    result = LaunchResult(
        table=config.name,
        database=config.database.url,
        config_path=config.path,
        mode="dry-run" if dry_run else "local" if local else cluster.name,
        open_rows=open_rows,
        requested=workers,
        counts=dict(counts),
        slurm=slurm,
        log_dir=log_dir(config, slurm),
        scheduler=cluster.name,
    )
    if open_rows == 0:
        result.mode = "nothing"
        result.notes.append("no open rows: nothing to launch (`pyexp reset CONFIG --status error` requeues failed ones)")
        return result
    result.workers = min(workers, open_rows)
    if result.workers < workers:
        result.notes.append(f"capped at {result.workers} worker(s): only {open_rows} open row(s); more would idle")

    env = worker_environment(config.database)
    node_args = worker_args(config, spec)
    if snapshot:
        node_args += _snapshot_args(config, spec, result, spec_source(function is not None, config.path), dry_run)
    if local:
        return run_local(result, node_args, env, extra_path, store)
    if not dry_run:
        preflight.require_submit(cluster)
    result.notes += preflight.interpreter_check(slurm, spec, config.base_dir, extra_path)
    preflight.check_nodes(config, cluster.placement(config, slurm), result)
    result.notes += cluster.notes(config, slurm)
    result.limits = cluster.limits()
    result.workers, result.arrays, notes = plan_arrays(result.workers, result.limits, slurm.array_parallelism)
    result.notes += notes
    _render_scripts(result, cluster, config, slurm, node_args, extra_path, env)
    if config.database.password is not None:
        result.notes.append(
            "the database password is not in the script; it reaches the jobs as PYEXP_DB_PASSWORD in their environment"
            + (" (export it before submitting this script by hand)" if dry_run else "")
        )
    if not dry_run:
        try:
            cluster.submit(result, env)
        finally:  # what was submitted is recorded even when a later array was refused
            if result.job_ids:
                store.record_launch(cluster.name, result.job_ids, socket.gethostname())
    return result


def _snapshot_args(config: ExperimentConfig, spec: str, result: LaunchResult, where: str, dry_run: bool) -> list[str]:
    """Take the code snapshot the workers import from; its line goes with the launch's notes."""
    assert result.log_dir is not None
    taken, why = code_snapshot.prepare(spec, config.base_dir, result.log_dir, config.snapshot_max_mb, where,
                                       write=not dry_run)
    if taken is None:
        if why:
            result.notes.append(why)
        return []
    result.notes.append(taken.describe() + (" (not written by a dry run: this script's workers write it from the "
                                            "live code, and refuse code edited since)" if dry_run else ""))
    return ["--snapshot", str(taken.folder), "--snapshot-path", taken.import_path]


def _render_scripts(result: LaunchResult, cluster: Scheduler, config: ExperimentConfig, slurm: SlurmConfig,
                    node_args: list[str], extra_path: Path | None, env: dict[str, str]) -> None:
    inputs = JobInputs(
        table=config.name,
        python=slurm.python or shlex.quote(sys.executable),
        workdir=Path.cwd(),
        log_dir=result.log_dir or Path.cwd(),
        worker_args=node_args,
        environment=[*pythonpath_line(extra_path), *long_run_lines(config, slurm)],
        passed=sorted(env),
    )
    result.template, result.scripts = cluster.render(config, slurm, inputs, result.arrays)


def wait_for_jobs(result: LaunchResult, counts: Counts, *, interval: float = 2.0,
                  on_progress: Callable[[dict[str, int]], None] | None = None) -> dict[str, int]:
    """Poll `counts()` until nothing is open or running, or no submitted job is left.

    The scheduler (squeue, qstat) is asked at most every 10 s (the table is cheap to ask, the
    scheduler is not). Returns the last counts; when the jobs ended with rows left, a note says
    so, or an error (`result.failed`) quoting a worker's log when workers died rather than ran
    out of rows.
    """
    cluster = schedulers.get(result.scheduler)
    last_squeue = time.monotonic()
    while True:
        now = counts()
        if on_progress is not None:
            on_progress(now)
        if now["created"] + now["running"] == 0 or not result.job_ids:
            return now
        if time.monotonic() - last_squeue >= max(10.0, interval):
            last_squeue = time.monotonic()
            if not cluster.alive(result.job_ids):
                now = counts()
                if now["created"] + now["running"]:
                    died = dead_workers(result.log_dir, result.job_ids)
                    if died is not None:  # launching again would fail the same way
                        result.errors.append(died)
                    else:
                        result.notes.append(
                            f"all workers ended with {now['created']} open and {now['running']} running row(s) "
                            "left; launch again to finish them"
                        )
                return now
        time.sleep(interval)


__all__ = [
    "TEMPLATE_DIR",
    "ArrayPlan",
    "CancelResult",
    "ClusterLimits",
    "LaunchResult",
    "ScriptValues",
    "effective_signal_seconds",
    "cancel",
    "launch",
    "parse_cluster_limits",
    "parse_sbatch_options",
    "render_template",
    "resolve_slurm",
    "split_arrays",
    "template_path",
    "wait_for_jobs",
]
