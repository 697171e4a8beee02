"""A worker whose allocation ended (the time limit, or a preemption's USR2 on SLURM) while
rows are still open requeues its own array task, as submitit does on a timeout: so one
`pyexp launch` carries a sweep of long runs to its end, each run resuming from its
checkpoint. Bounded by `slurm.max_task_requeues` (the job script's PYEXP_TASK_REQUEUES, 0
with `pyexp launch --no-requeue`) against the requeues so far (environment.py); never after
`pyexp cancel`, a plain `scancel` or a `qdel` (Worker.stopped_by_allocation says which stops
count).

SLURM: `scontrol requeue` of the task. SLURM holds a requeued job back for a while (about
two minutes: its credential lifetime) before it may start again; the rows wait as `created`
meanwhile, and any other worker may take them. This module and launch/slurm.py are the only
ones that run `scontrol`.

Grid Engine: the job script exits with 99, which Grid Engine answers by running the task
again, unless the job was killed by its hard limit h_rt. So the worker stops itself at its
deadline (signals.DeadlineAlarm), in time to exit 99. Grid Engine counts no restarts, so the
worker counts them in the file the script names, before it exits.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from .. import environment

log = logging.getLogger("pyexperimenter")
SCONTROL_SECONDS = 30
SGE_RESCHEDULE = 99  # Grid Engine's exit code for "run this job again"


@dataclass(frozen=True)
class TaskRequeue:
    """What requeueing did, for the worker's log, and the exit code that completes it (Grid
    Engine's 99), or None for the usual one."""

    note: str
    exit_code: int | None = None


def task_requeue_wanted(stopped_by_allocation: Callable[[], bool], open_rows: Callable[[], int]) -> bool:
    """Cheapest first: the environment, then what the database says (cancelled? rows open?)."""
    if environment.scheduler_task().scheduler not in ("slurm", "sge") or environment.task_requeues_left() <= 0:
        return False
    return stopped_by_allocation() and open_rows() > 0


def requeue_task() -> TaskRequeue:
    task = environment.scheduler_task()
    if task.scheduler == "sge":
        return _requeue_sge_task(task.name)
    return TaskRequeue(_requeue_slurm_task(task.name))


def _requeue_slurm_task(name: str | None) -> str:
    scontrol = shutil.which("scontrol")
    if name is None or scontrol is None:
        return "not requeued: no SLURM task or no scontrol here"
    try:
        done = subprocess.run([scontrol, "requeue", name], capture_output=True, text=True, timeout=SCONTROL_SECONDS)
    except (OSError, subprocess.SubprocessError) as e:
        return f"not requeued: scontrol requeue {name}: {e}"
    if done.returncode != 0:
        return f"not requeued: scontrol requeue {name}: {(done.stderr or done.stdout).strip()}"
    return f"requeued task {name} (rows are still open)"


def _requeue_sge_task(name: str | None) -> TaskRequeue:
    """Count this requeue first: a task whose count cannot be written is not requeued, or a
    broken file system could run it again without end."""
    path = os.environ.get(environment.SGE_REQUEUES_FILE)
    done = environment.sge_requeues_done()
    if not path or done is None:
        return TaskRequeue(f"not requeued: no readable {environment.SGE_REQUEUES_FILE} to count requeues in")
    try:
        part = f"{path}.{os.getpid()}"
        with open(part, "w", encoding="utf-8") as f:
            f.write(f"{done + 1}\n")
        os.replace(part, path)
    except OSError as e:
        return TaskRequeue(f"not requeued: cannot count the requeue in {path}: {e}")
    return TaskRequeue(f"requeued task {name} (rows are still open; exit code {SGE_RESCHEDULE}, "
                       f"requeue {done + 1} of this task)", SGE_RESCHEDULE)
