"""Every conversation with Grid Engine: qconf, qhost, qstat, qdel and qsub.

Workers are one array job per planned array (`qsub -t 1-N -tc K`), submitted with `-notify`:
a qdel or the hard limit (h_rt) sends USR2 first and SIGKILL the queue's `notify` time later,
and USR2 is a stop the worker answers by handing its row back. At the time limit that comes
too late for the task to be run again, so workers stop themselves `signal_seconds` earlier
(worker/signals.py's DeadlineAlarm) and requeue their tasks (worker/requeue.py). Job
identity comes from `$JOB_ID`/`$SGE_TASK_ID` (environment.py). qacct lags and may be disabled; as on SLURM the
table is the source of truth, qstat only says whether jobs are still queued.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from importlib.resources.abc import Traversable

from ..config import ExperimentConfig, SlurmConfig
from ..errors import InputError
from .plan import ArrayPlan, ClusterLimits
from .result import LaunchResult
from .scheduler import JobInputs, Placement
from .script import read_template
from .sge_script import (
    SgeScript,
    array_options,
    assumed_limits,
    duration_seconds,
    parse_limits,
    queue_value,
    template_path,
)

SGE_TIMEOUT = 30.0  # seconds for one qconf/qstat/qdel/qsub call


def _run(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str] | None:
    """Run a Grid Engine command; None when it cannot run at all (missing, hung)."""
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=SGE_TIMEOUT,
                              env=None if env is None else {**os.environ, **env})
    except (OSError, subprocess.SubprocessError):
        return None


def _first_line(out: subprocess.CompletedProcess[str] | None) -> str:
    if out is None:
        return "did not run"
    lines = [ln.strip() for ln in (out.stderr or out.stdout).splitlines() if ln.strip()]
    return lines[0] if lines else f"exit code {out.returncode}"


def have_qsub() -> bool:
    return shutil.which("qsub") is not None


def cluster_limits() -> ClusterLimits:
    """max_aj_tasks and max_aj_instances of the global configuration; the defaults if unreadable."""
    out = _run("qconf", "-sconf")
    if out is None or out.returncode != 0:
        return assumed_limits(_first_line(out))
    return parse_limits(out.stdout)


def queue_notify_seconds(queue: str | None) -> tuple[str, int] | None:
    """The queue whose `notify` time is shortest (of `queue`, or of every queue) and that time:
    how long a worker has between USR2 and SIGKILL. None when qconf cannot tell."""
    if queue:
        names = [queue.split("@")[0]]
    else:
        listed = _run("qconf", "-sql")
        if listed is None or listed.returncode != 0:
            return None
        names = listed.stdout.split()
    found = []
    for name in names:
        out = _run("qconf", "-sq", name)
        seconds = duration_seconds(queue_value(out.stdout, "notify")) if out and out.returncode == 0 else None
        if seconds is not None:
            found.append((seconds, name))
    return (min(found)[1], min(found)[0]) if found else None


def exec_hosts() -> set[str] | None:
    """The execution hosts jobs may land on (qhost, without its `global` line)."""
    out = _run("qhost")
    if out is None or out.returncode != 0:
        return None
    hosts = {line.split()[0] for line in out.stdout.splitlines()[3:] if line.strip()}
    return hosts - {"global"} or None


def _tasks(job_ids: Sequence[str]) -> list[str] | None:
    """`JOB.TASK` (or `JOB.FIRST-LAST:STEP` of pending tasks) of these jobs in qstat; None if unreadable."""
    out = _run("qstat", "-u", "*", "-g", "d", "-xml")
    if out is None or out.returncode != 0:
        return None
    try:
        root = ET.fromstring(out.stdout)
    except ET.ParseError:
        return None
    wanted, found = set(job_ids), []
    for job in root.iter("job_list"):
        number = job.findtext("JB_job_number", "")
        if number in wanted:
            task = job.findtext("tasks")
            found.append(f"{number}.{task}" if task else number)
    return found


def jobs_alive(job_ids: Sequence[str]) -> bool:
    if not job_ids:
        return False
    tasks = _tasks(job_ids)
    return True if tasks is None else bool(tasks)  # cannot tell: assume alive rather than stop watching early


def queued(job_ids: Sequence[str]) -> list[str]:
    if not job_ids:
        return []
    tasks = _tasks(job_ids)
    return list(job_ids) if tasks is None else tasks


def cancel_jobs(job_ids: Sequence[str], grace_seconds: float = 30.0, poll: float = 0.5) -> list[str]:
    """qdel: pending tasks go at once, running ones get USR2 (-notify) and SIGKILL the queue's
    notify time later; the worker releases its row on USR2. A task still listed after the
    grace is deleted by force (`qdel -f`, which only a manager may do: then it is reported)."""
    if not queued(job_ids):
        return []
    _run("qdel", *job_ids)
    end = time.monotonic() + grace_seconds
    while (alive := queued(job_ids)) and time.monotonic() < end:
        time.sleep(poll)
    if alive:
        _run("qdel", "-f", *job_ids)
        end = time.monotonic() + 10.0
        while (alive := queued(job_ids)) and time.monotonic() < end:
            time.sleep(poll)
    return alive


def submit_script(script: str, result: LaunchResult, env: Mapping[str, str]) -> str:
    """qsub one rendered script; returns the array job id. The script is kept as
    <log dir>/<job id>_submission.sh, as submitit keeps SLURM's (Grid Engine spools its own copy
    at submission, so renaming it afterwards is safe)."""
    assert result.log_dir is not None
    pending = result.log_dir / f".submission-{uuid.uuid4().hex}.sh"
    pending.write_text(script)
    out = _run("qsub", "-terse", str(pending), env=env)
    if out is None or out.returncode != 0 or not re.match(r"\d+", out.stdout.strip()):
        pending.unlink()
        raise RuntimeError(_first_line(out) if out is None or out.returncode != 0 else out.stdout.strip())
    job = re.match(r"\d+", out.stdout.strip()).group()  # type: ignore[union-attr]  # `JOB.1-N:1` for arrays
    pending.rename(result.log_dir / f"{job}_submission.sh")
    return job


def submit_arrays(result: LaunchResult, env: Mapping[str, str]) -> None:
    """Submit every planned array (scheduler.py's contract for refusals)."""
    assert result.log_dir is not None
    result.log_dir.mkdir(parents=True, exist_ok=True)  # qsub does not make the log folder; the job would fail
    for array, script in zip(result.arrays, result.scripts):
        try:
            result.job_ids.append(submit_script(script, result, env))
        except Exception as e:  # noqa: BLE001 - qsub's own message is the useful part
            why = "; ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
            message = f"qsub refused array {len(result.job_ids) + 1} of {len(result.arrays)} " \
                      f"({array.tasks} tasks): {why or type(e).__name__}"
            if not result.job_ids:
                raise InputError(message) from None
            result.errors.append(message)
            return


class GridEngine:
    """Grid Engine behind the launcher's `Scheduler` interface (scheduler.py)."""

    name = "sge"
    label = "Grid Engine"
    submit_command = "qsub"

    def available(self) -> bool:
        return have_qsub()

    def limits(self) -> ClusterLimits:
        return cluster_limits()

    def placement(self, config: ExperimentConfig, slurm: SlurmConfig) -> Placement:
        queue = config.sge.queue
        return Placement(exec_hosts(), f"queue {queue}" if queue else "the cell", "-l hostname=NODE in sge.options")

    def notes(self, config: ExperimentConfig, slurm: SlurmConfig) -> list[str]:
        notes = []
        if slurm.max_task_requeues > 0 and any("s_rt" in option for option in config.sge.options):
            notes.append("sge.options sets s_rt: on a task it runs again Grid Engine enforces s_rt as h_rt, so a "
                         "task requeued at its time limit is killed at s_rt and not run again; the workers stop "
                         "themselves before h_rt without it (docs/cluster.md)")
        notify = queue_notify_seconds(config.sge.queue)
        if notify is None:
            return notes
        queue, seconds = notify
        # At the time limit the workers stop themselves the signal's lead early (and the grace
        # is cut to fit it); a qdel, and so `pyexp cancel`, gives only the queue's notify time.
        grace = config.stop_grace_seconds
        if grace > seconds:
            notes.append(f"experiment.stop_grace_seconds {grace:g} exceeds queue {queue}'s notify time of {seconds} s: "
                         "on qdel or pyexp cancel Grid Engine kills a stopped worker (SIGKILL) that much after USR2, "
                         f"so an experiment gets at most {seconds} s to save and hand its row back (at the time limit "
                         "the workers stop themselves earlier; ask the admins for a longer notify)")
        return notes

    def render(self, config: ExperimentConfig, slurm: SlurmConfig, inputs: JobInputs,
               arrays: Sequence[ArrayPlan]) -> tuple[Traversable, list[str]]:
        template = template_path(config.sge, config.base_dir)
        text = read_template(template)
        script = SgeScript(inputs, slurm, config.sge)
        return template, [script.render(array, text, str(template)) for array in arrays]

    def array_text(self, array: ArrayPlan) -> str:
        tasks, concurrency = array_options(array)
        return f"-t {tasks}" + (f" -tc {concurrency}" if concurrency else "")

    def submit(self, result: LaunchResult, env: Mapping[str, str]) -> None:
        submit_arrays(result, env)

    def alive(self, job_ids: Sequence[str]) -> bool:
        return jobs_alive(job_ids)

    def queued(self, job_ids: Sequence[str]) -> list[str]:
        return queued(job_ids)

    def cancel(self, job_ids: Sequence[str], grace_seconds: float) -> list[str]:
        return cancel_jobs(job_ids, grace_seconds)

    def hints(self, job_ids: Sequence[str]) -> tuple[str, str]:
        return f"qstat -u $USER  (jobs {', '.join(job_ids)})", f"qdel {' '.join(job_ids)}"
