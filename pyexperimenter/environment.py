"""What a worker learns from its process environment, read in one place.

SLURM or Grid Engine names the task a worker runs in (job, array job, array task), and the
batch script exports PYEXP_DEADLINE, the moment after which a worker claims nothing new. The
store names workers after their task and the worker loop honours the deadline; both ask
here, so a variable is spelt and parsed once. Only the standard library is imported: the
store imports this module, and it must not pull the rest of the package in with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEADLINE = "PYEXP_DEADLINE"  # seconds since the epoch, set by the sbatch script
# Long runs (docs/long-runs.md), set by the job script: the stop grace period sized to fit the
# signal's lead time, and how often a worker stopped by the time limit may requeue its task.
STOP_GRACE = "PYEXP_STOP_GRACE"
TASK_REQUEUES = "PYEXP_TASK_REQUEUES"
SLURM_RESTART_COUNT = "SLURM_RESTART_COUNT"  # how often SLURM requeued this job (task) so far
# Grid Engine keeps no such count (its RESTARTED is 0 or 1): the job script names a file, one
# per task beside its log, in which the worker counts its task's requeues itself.
SGE_REQUEUES_FILE = "PYEXP_REQUEUES_FILE"
SLURM_JOB_ID = "SLURM_JOB_ID"
SLURM_ARRAY_JOB_ID = "SLURM_ARRAY_JOB_ID"
SLURM_ARRAY_TASK_ID = "SLURM_ARRAY_TASK_ID"
# Grid Engine: JOB_ID is the job (for an array, the array job), SGE_TASK_ID the task or the
# string "undefined" outside arrays. JOB_ID alone is too common a name to mean Grid Engine.
SGE_JOB_ID = "JOB_ID"
SGE_TASK_ID = "SGE_TASK_ID"
SGE_ROOT = "SGE_ROOT"


@dataclass(frozen=True)
class SchedulerTask:
    """The batch job (and array task) this process runs in; all None outside a scheduler."""

    scheduler: str | None = None  # "slurm", "sge", or None (a local worker)
    job_id: str | None = None
    array_job_id: str | None = None
    array_task_id: str | None = None  # as the scheduler wrote it; `task_number` is the integer

    @property
    def task_number(self) -> int | None:
        task = self.array_task_id
        return int(task) if task and task.isdigit() else None

    @property
    def name(self) -> str | None:
        """`<array job>_<task>` for an array task, else the job id (how `squeue` names it)."""
        if self.array_job_id and self.array_task_id:
            return f"{self.array_job_id}_{self.array_task_id}"
        return self.job_id or None


def scheduler_task(environ: Mapping[str, str] | None = None) -> SchedulerTask:
    env = os.environ if environ is None else environ
    if env.get(SLURM_JOB_ID):
        return SchedulerTask("slurm", env.get(SLURM_JOB_ID), env.get(SLURM_ARRAY_JOB_ID), env.get(SLURM_ARRAY_TASK_ID))
    if env.get(SGE_JOB_ID) and (SGE_ROOT in env or SGE_TASK_ID in env):
        job, task = env[SGE_JOB_ID], env.get(SGE_TASK_ID)
        if task and task.isdigit():
            return SchedulerTask("sge", f"{job}.{task}", job, task)
        return SchedulerTask("sge", job)
    return SchedulerTask()


def deadline(environ: Mapping[str, str] | None = None) -> float | None:
    """PYEXP_DEADLINE as a timestamp; None when unset or unreadable (then there is no
    deadline: a worker started by hand with a stray value should still work)."""
    value = (os.environ if environ is None else environ).get(DEADLINE)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _number(name: str, environ: Mapping[str, str] | None) -> float | None:
    value = (os.environ if environ is None else environ).get(name)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def stop_grace(configured: float, environ: Mapping[str, str] | None = None) -> float:
    """The job script's PYEXP_STOP_GRACE (fitted to the signal's lead time), else the config's."""
    value = _number(STOP_GRACE, environ)
    return configured if value is None or value < 0 else value


def task_requeues_left(environ: Mapping[str, str] | None = None) -> int:
    """How many more times this task may requeue itself: PYEXP_TASK_REQUEUES (0 without it: a
    worker started by hand or with `--no-requeue`) less the requeues so far, SLURM_RESTART_COUNT
    on SLURM, the count in PYEXP_REQUEUES_FILE on Grid Engine (0 left without that variable,
    as under a site's own template: a count that cannot be kept must not loop forever)."""
    env = os.environ if environ is None else environ
    allowed = _number(TASK_REQUEUES, env)
    if allowed is None:
        return 0
    if scheduler_task(env).scheduler == "sge":
        done = sge_requeues_done(env)
        if done is None:
            return 0
    else:
        done = int(_number(SLURM_RESTART_COUNT, env) or 0)
    return max(0, int(allowed) - done)


def sge_requeues_done(environ: Mapping[str, str] | None = None) -> int | None:
    """The count in PYEXP_REQUEUES_FILE (0 before the first requeue); None without the
    variable, or when the file cannot be read."""
    path = (os.environ if environ is None else environ).get(SGE_REQUEUES_FILE)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return 0
    except OSError:
        return None
    return int(text) if text.isdigit() else None
