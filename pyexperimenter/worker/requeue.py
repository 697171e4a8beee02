"""A worker whose allocation ended (SLURM's time limit, or a preemption's USR2) while rows
are still open requeues its own array task, as submitit does on a timeout: so
one `pyexp launch` carries a sweep of long runs to its end, each run resuming from its
checkpoint. Bounded by `slurm.max_task_requeues` (the job script's PYEXP_TASK_REQUEUES,
0 with `pyexp launch --no-requeue`) against SLURM_RESTART_COUNT; never after `pyexp cancel`
or a plain `scancel` (Worker.stopped_by_allocation says which stops count).

SLURM holds a requeued job back for a while (about two minutes: its credential lifetime)
before it may start again; the rows wait as `created` meanwhile, and any other worker may
take them. This module and launch/slurm.py are the only ones that run `scontrol`.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable

from .. import environment

log = logging.getLogger("pyexperimenter")
SCONTROL_SECONDS = 30


def task_requeue_wanted(stopped_by_allocation: Callable[[], bool], open_rows: Callable[[], int]) -> bool:
    """Cheapest first: the environment, then what the database says (cancelled? rows open?)."""
    if environment.scheduler_task().scheduler != "slurm" or environment.task_requeues_left() <= 0:
        return False
    return stopped_by_allocation() and open_rows() > 0


def requeue_task() -> str:
    """Ask SLURM to requeue this task; returns what happened, for the worker's log."""
    name = environment.scheduler_task().name
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
