"""Grid Engine's job script and the answers of its commands, as pure text: no qsub here.

The same `slurm:` keys size a Grid Engine job (time, memory, CPUs, parallelism, setup) and
the `sge:` section adds what only Grid Engine has (queue, parallel environment, resource
names, extra options), so one config launches on either scheduler. Kept apart from `sge.py`,
which runs the commands, so rendering and parsing are tested without a cell.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

from ..config import SgeConfig, SlurmConfig
from ..environment import SGE_REQUEUES_FILE
from ..errors import InputError
from .plan import ArrayPlan, ClusterLimits
from .scheduler import JobInputs
from .script import TEMPLATE_DIR, effective_signal_seconds, render_template

DEFAULT_MAX_AJ_TASKS = 75000  # Grid Engine's defaults, when `qconf -sconf` cannot be read
DEFAULT_MAX_AJ_INSTANCES = 2000


def template_path(sge: SgeConfig, base_dir: Path) -> Traversable:
    """The site's own template (`sge.template`, relative to the config's folder), or ours."""
    if sge.template:
        path = Path(sge.template).expanduser()
        return path if path.is_absolute() else base_dir / path
    return TEMPLATE_DIR / "cpu.sge"


def h_rt(minutes: int) -> str:
    """`-l h_rt` as H:MM:SS (Grid Engine reads hours beyond 24 as they are)."""
    return f"{minutes // 60}:{minutes % 60:02d}:00"


def requeue_count_line(log_dir: Path) -> str:
    """Where a worker counts its task's requeues (environment.py): beside the task's log."""
    return f'export {SGE_REQUEUES_FILE}={shlex.quote(str(log_dir))}/"${{JOB_ID}}_${{SGE_TASK_ID}}.requeues"'


def memory_per_slot(mem_gb: float, slots: int) -> str:
    """Grid Engine's memory requests (h_vmem and most site complexes) count per slot, while
    `mem_gb` is the job's: divided among the slots, in whole megabytes unless whole gigabytes."""
    per_slot = mem_gb / slots
    return f"{int(per_slot)}G" if float(per_slot).is_integer() else f"{max(1, round(per_slot * 1024))}M"


def array_options(array: ArrayPlan) -> tuple[str, str]:
    """`-t` (tasks are numbered from 1) and `-tc` (empty when all may run at once)."""
    return f"1-{array.tasks}", str(array.parallelism) if array.parallelism < array.tasks else ""


def resource_lines(slurm: SlurmConfig, sge: SgeConfig) -> list[str]:
    """The `#$` lines of queue, slots, memory and GPUs."""
    if slurm.gpus_per_node > 0 and not sge.gpu_resource:
        raise InputError(
            f"gpus_per_node {slurm.gpus_per_node}: Grid Engine has no standard GPU request; name your site's "
            "resource in sge.gpu_resource (e.g. gpu), or request it in sge.options"
        )
    lines = []
    if sge.queue:
        lines.append(f"#$ -q {sge.queue}")
    if slurm.cpus_per_task > 1:
        lines.append(f"#$ -pe {sge.pe} {slurm.cpus_per_task}")
    if sge.memory_resource:
        lines.append(f"#$ -l {sge.memory_resource}={memory_per_slot(slurm.mem_gb, slurm.cpus_per_task)}")
    if slurm.gpus_per_node > 0:
        lines.append(f"#$ -l {sge.gpu_resource}={slurm.gpus_per_node}")
    return lines


@dataclass(frozen=True)
class SgeScript:
    """Everything a rendered Grid Engine script depends on besides the array itself."""

    inputs: JobInputs
    slurm: SlurmConfig
    sge: SgeConfig

    def render(self, array: ArrayPlan, template: str, where: str) -> str:
        s, i = self.slurm, self.inputs
        tasks, concurrency = array_options(array)
        setup = ["# setup (slurm.setup)", *s.setup] if s.setup else []
        values = {
            "table": i.table,
            "tasks": array.tasks,
            # qsub refuses names with `/`, `:`, `@`, `\`, `*`, `?` and names starting with a digit.
            "job_name": "pyexp-" + re.sub(r"[^A-Za-z0-9_.-]", "_", i.table),
            "array": tasks,
            "concurrency": f"#$ -tc {concurrency}" if concurrency else "",
            "h_rt": h_rt(s.time_minutes),
            "resources": "\n".join(resource_lines(s, self.sge)),
            "cpus_per_task": s.cpus_per_task,
            "time_minutes": s.time_minutes,
            "time_seconds": s.time_minutes * 60,
            "signal_seconds": effective_signal_seconds(s),
            "workdir": shlex.quote(str(i.workdir)),
            "log_dir": shlex.quote(str(i.log_dir)),
            "passed": "\n".join(f"#$ -v {name}" for name in i.passed),
            "sge_options": "\n".join(f"#$ {option}" for option in self.sge.options),
            "setup": "\n".join(setup),
            "environment": "\n".join([*i.environment, requeue_count_line(i.log_dir)]),
            "python": i.python,
            "worker_args": " ".join(shlex.quote(a) for a in i.worker_args),
        }
        return render_template(template, values, where)


def parse_limits(text: str) -> ClusterLimits:
    """max_aj_tasks and max_aj_instances from the text of `qconf -sconf` (0 means no limit)."""
    values = dict(line.split(None, 1) for line in text.splitlines() if len(line.split(None, 1)) == 2)

    def number(key: str) -> int | None:
        match = re.fullmatch(r"\d+", values.get(key, "").strip())
        return int(match.group()) if match else None

    tasks, instances = number("max_aj_tasks"), number("max_aj_instances")
    if tasks is None:
        return assumed_limits("no max_aj_tasks in qconf -sconf")
    per_array = tasks or 10**9  # 0: no limit
    return ClusterLimits(max_array_size=per_array, max_job_count=None, source="qconf -sconf", size_name="max_aj_tasks",
                         tasks_per_array=per_array, max_running_per_array=instances or None)


def assumed_limits(why: str) -> ClusterLimits:
    """Grid Engine's defaults, when the cell cannot be asked; `why` says what went wrong."""
    return ClusterLimits(DEFAULT_MAX_AJ_TASKS, None, f"assumed (qconf: {why})", "max_aj_tasks",
                         DEFAULT_MAX_AJ_TASKS, DEFAULT_MAX_AJ_INSTANCES)


def queue_value(text: str, key: str) -> str | None:
    """One attribute of `qconf -sq QUEUE` (the queue-wide value, before any `[host=...]` override)."""
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] == key:
            return parts[1].split(",")[0].strip()
    return None


def duration_seconds(text: str | None) -> int | None:
    """Grid Engine's `H:M:S` (or plain seconds) as seconds; None for INFINITY or unreadable."""
    if not text:
        return None
    if re.fullmatch(r"\d+", text):
        return int(text)
    match = re.fullmatch(r"(\d+):(\d+):(\d+)", text)
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + int(match.group(3)) if match else None
