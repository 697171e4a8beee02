"""What a worker learns from its process environment, read in one place.

SLURM names the task a worker runs in (job, array job, array task), and the sbatch
script exports PYEXP_DEADLINE, the moment after which a worker claims nothing new. The
store names workers after their task and the worker loop honours the deadline; both ask
here, so a variable is spelt and parsed once. Only the standard library is imported: the
store imports this module, and it must not pull the rest of the package in with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEADLINE = "PYEXP_DEADLINE"  # seconds since the epoch, set by the sbatch script
SLURM_JOB_ID = "SLURM_JOB_ID"
SLURM_ARRAY_JOB_ID = "SLURM_ARRAY_JOB_ID"
SLURM_ARRAY_TASK_ID = "SLURM_ARRAY_TASK_ID"


@dataclass(frozen=True)
class SlurmTask:
    """The SLURM job (and array task) this process runs in; all None outside SLURM."""

    job_id: str | None = None
    array_job_id: str | None = None
    array_task_id: str | None = None  # as SLURM wrote it; `task_number` is the integer

    @property
    def task_number(self) -> int | None:
        task = self.array_task_id
        return int(task) if task and task.isdigit() else None

    @property
    def name(self) -> str | None:
        """`<array job>_<task>` for an array task, else the job id: how `squeue` names it."""
        if self.array_job_id and self.array_task_id:
            return f"{self.array_job_id}_{self.array_task_id}"
        return self.job_id or None


def slurm_task(environ: Mapping[str, str] | None = None) -> SlurmTask:
    env = os.environ if environ is None else environ
    return SlurmTask(
        job_id=env.get(SLURM_JOB_ID),
        array_job_id=env.get(SLURM_ARRAY_JOB_ID),
        array_task_id=env.get(SLURM_ARRAY_TASK_ID),
    )


def deadline(environ: Mapping[str, str] | None = None) -> float | None:
    """PYEXP_DEADLINE as a timestamp; None when unset or unreadable (then there is no
    deadline: a worker started by hand with a stray value should still work)."""
    value = (os.environ if environ is None else environ).get(DEADLINE)
    try:
        return float(value) if value else None
    except ValueError:
        return None
