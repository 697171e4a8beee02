"""Every conversation with SLURM: scontrol, sinfo, squeue, scancel, and sbatch through submitit.

Nothing else in the launcher runs a SLURM command, so a machine without SLURM (and the
tests) can exercise everything else. submitit does the submission (its SlurmExecutor writes
the script, calls sbatch, parses the job id); we only hand it our rendered script instead
of its pickle-based one. Its job objects are not used afterwards: submitit follows jobs
through sacct, which many clusters (and our test cluster) disable; the table tells more.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig, SlurmConfig
from ..errors import InputError
from .plan import ArrayPlan, ClusterLimits, assumed_limits, parse_cluster_limits
from .result import LaunchResult
from .scheduler import JobInputs, Placement
from .script import ScriptValues, read_template, template_path

SLURM_TIMEOUT = 30.0  # seconds for one scontrol/sinfo/squeue call

Runner = Callable[..., subprocess.CompletedProcess[str]]


def have_sbatch() -> bool:
    return shutil.which("sbatch") is not None


def cluster_limits(run: Runner = subprocess.run) -> ClusterLimits:
    """MaxArraySize and MaxJobCount from `scontrol show config`; SLURM's defaults if unreadable."""
    try:
        out = run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=SLURM_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as e:
        return assumed_limits(str(e))
    if out.returncode != 0:
        why = (out.stderr or out.stdout).strip().splitlines()[:1] or ["no output"]
        return assumed_limits(why[0])
    return parse_cluster_limits(out.stdout)


def _sinfo(*args: str) -> list[str] | None:
    try:
        out = subprocess.run(["sinfo", "-h", *args], capture_output=True, text=True, timeout=SLURM_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else None


def partition_nodes(partition: str | None) -> set[str] | None:
    """The nodes jobs of `partition` (default: the default partition) may land on; None if unknown."""
    if partition is None:
        names = _sinfo("-o", "%P")
        if names is None:
            return None
        defaults = [n.rstrip("*") for n in names if n.endswith("*")]
        if not defaults:
            return None
        partition = defaults[0]
    nodes = _sinfo("-N", "-p", partition, "-o", "%N")
    return set(nodes) if nodes is not None else None


def jobs_alive(job_ids: Sequence[str]) -> bool:
    """True while any task of these array jobs is pending or running (squeue)."""
    if not job_ids:
        return False
    try:
        out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(job_ids)],
                             capture_output=True, text=True, timeout=SLURM_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return True  # cannot tell: assume alive rather than stop watching early
    if out.returncode != 0:
        return "invalid job id" not in (out.stderr + out.stdout).lower()
    return bool(out.stdout.strip())


def queued(job_ids: Sequence[str]) -> list[str]:
    """The tasks of these jobs still pending or running (`123_4`, `123_[5-9]`); on an
    unreadable squeue, the jobs themselves (assume alive)."""
    if not job_ids:
        return []
    try:
        out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(job_ids)],
                             capture_output=True, text=True, timeout=SLURM_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return list(job_ids)
    if out.returncode != 0:
        return [] if "invalid job id" in (out.stderr + out.stdout).lower() else list(job_ids)
    return out.stdout.split()


def _scancel(*args: str) -> None:
    try:
        subprocess.run(["scancel", *args], capture_output=True, text=True, timeout=SLURM_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        pass  # what is left shows in squeue, which the caller asks next


def cancel_jobs(job_ids: Sequence[str], grace_seconds: float = 30.0, poll: float = 0.5) -> list[str]:
    """Stop these array jobs so that their rows are released, not lost; returns the tasks
    still queued at the end (normally none).

    Pending tasks are cancelled first (they hold no row and must not start). Running ones
    get USR2 on their batch step - the worker itself, which the sbatch script `exec`s - the
    signal of a time limit: the worker hands its row back without spending an attempt and
    exits. Whatever still runs after `grace_seconds` is cancelled outright (SIGTERM, on
    which the worker also releases its row, then SIGKILL after the cluster's KillWait)."""
    alive = queued(job_ids)
    if not alive:
        return []
    ids = ",".join(job_ids)
    _scancel("--state=PENDING", ids)
    _scancel("--batch", "--signal=USR2", "--state=RUNNING", ids)
    end = time.monotonic() + grace_seconds
    while (alive := queued(job_ids)) and time.monotonic() < end:
        time.sleep(poll)
    if alive:
        _scancel(ids)
        end = time.monotonic() + max(grace_seconds, 10.0)
        while (alive := queued(job_ids)) and time.monotonic() < end:
            time.sleep(poll)
    return alive


# ----------------------------------------------------------------------------- submitting

# The submitit releases ScriptExecutor was written against, as pinned in pyproject.toml.
SUBMITIT_VERSIONS = ">=1.5,<1.6"
_SUBMITIT_EXECUTOR: Any = None


def script_executor_class() -> Any:
    """submitit's SlurmExecutor, handing sbatch our rendered script instead of its own.
    Built on first use: importing submitit costs time every other command would pay.

    Why a subclass that calls submitit's private `_submit_command` (whose docstring advises
    against it): submitit has no public way to submit a script of one's own. Its public API
    (`submit`, `map_array`, `submit_array`) pickles a callable and writes its own sbatch
    script around `python -m submitit.core._submit`; ours `exec`s `pyexp-worker` with the
    signal lead, the deadline and the environment `--dry-run` prints byte for byte (tests/data/
    *.sbatch), and nothing is pickled. The advice is about the returned Job expecting pickled
    results; we never read them (the table is the source of truth). `_submit_command` is the
    one place that writes the script, runs sbatch, parses the job id and keeps the script as
    <job id>_submission.sh, and `_make_submission_file_text` is the abstract hook it calls.
    Both are private to submitit 1.5.x: pyproject.toml pins SUBMITIT_VERSIONS, and
    tests/unit/test_submitit_pin.py fails on another release or changed hooks."""
    global _SUBMITIT_EXECUTOR
    if _SUBMITIT_EXECUTOR is None:
        import submitit

        class ScriptExecutor(submitit.SlurmExecutor):
            def __init__(self, folder: Path, script: str) -> None:
                super().__init__(folder=folder)
                self.script = script
                self.uids: list[str] = []

            def _make_submission_file_text(self, command: str, uid: str) -> str:
                self.uids.append(uid)
                return self.script

        _SUBMITIT_EXECUTOR = ScriptExecutor
    return _SUBMITIT_EXECUTOR


def submit_script(script: str, folder: Path) -> str:
    """Submit one rendered array script through submitit; returns the array job id.

    submitit writes it to FOLDER/<job id>_submission.sh (kept: the exact script of each job),
    runs sbatch and parses the id.
    """
    executor = script_executor_class()(folder, script)
    with contextlib.redirect_stderr(io.StringIO()):  # submitit echoes sbatch's errors; we raise them
        job = executor._submit_command("pyexp-worker")
    for uid in executor.uids:  # submitit leaves a dot-file symlink to the script behind
        link = folder / f".submission_file_{uid}.sh"
        if link.is_symlink():
            link.unlink()
    return str(job.job_id)


def submit_arrays(result: LaunchResult, env: Mapping[str, str]) -> None:
    """Submit every planned array, recording the job ids in `result`.

    A refusal of the first array is bad input (a partition, account or limit sbatch does
    not accept): InputError, nothing runs. A later refusal leaves arrays running, so it is
    recorded in `result.errors` instead (shown with the submitted ones; exit code 1).
    """
    assert result.log_dir is not None
    result.log_dir.mkdir(parents=True, exist_ok=True)
    with _environment(env):
        for array, script in zip(result.arrays, result.scripts):
            try:
                result.job_ids.append(submit_script(script, result.log_dir))
            except Exception as e:  # noqa: BLE001 - sbatch's own message is the useful part
                why = "; ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
                message = f"sbatch refused array {len(result.job_ids) + 1} of {len(result.arrays)} " \
                          f"({array.tasks} tasks): {why or type(e).__name__}"
                if not result.job_ids:
                    raise InputError(message) from None
                result.errors.append(message)
                return


@contextlib.contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the sbatch child only (SLURM passes the submit environment on)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ----------------------------------------------------------------------------- the launcher's interface


class Slurm:
    """SLURM behind the launcher's `Scheduler` interface (scheduler.py), over the functions
    above; module functions are looked up at call time, so tests can replace them."""

    name = "slurm"
    label = "SLURM"
    submit_command = "sbatch"

    def available(self) -> bool:
        return have_sbatch()

    def limits(self) -> ClusterLimits:
        return cluster_limits()

    def placement(self, config: ExperimentConfig, slurm: SlurmConfig) -> Placement:
        nodelist = dict(slurm.sbatch).get("nodelist") or dict(slurm.sbatch).get("w")
        if nodelist and not re.search(r"[,\[]", nodelist):
            nodes: set[str] | None = {nodelist}
        else:
            nodes = partition_nodes(slurm.partition)
        where = f"partition {slurm.partition}" if slurm.partition else "the default partition"
        return Placement(nodes, where, "--sbatch nodelist=NODE")

    def notes(self, config: ExperimentConfig, slurm: SlurmConfig) -> list[str]:
        return []

    def render(self, config: ExperimentConfig, slurm: SlurmConfig, inputs: JobInputs,
               arrays: Sequence[ArrayPlan]) -> tuple[Traversable, list[str]]:
        template = template_path(slurm, config.base_dir)
        text = read_template(template)
        values = ScriptValues(table=inputs.table, slurm=slurm, python=inputs.python, workdir=inputs.workdir,
                              log_dir=inputs.log_dir, worker_args=inputs.worker_args, environment=inputs.environment)
        return template, [values.render(array, text, str(template)) for array in arrays]

    def array_text(self, array: ArrayPlan) -> str:
        return f"--array={array.spec}"

    def submit(self, result: LaunchResult, env: Mapping[str, str]) -> None:
        submit_arrays(result, env)

    def alive(self, job_ids: Sequence[str]) -> bool:
        return jobs_alive(job_ids)

    def queued(self, job_ids: Sequence[str]) -> list[str]:
        return queued(job_ids)

    def cancel(self, job_ids: Sequence[str], grace_seconds: float) -> list[str]:
        return cancel_jobs(job_ids, grace_seconds)

    def hints(self, job_ids: Sequence[str]) -> tuple[str, str]:
        return f"squeue -j {','.join(job_ids)}", f"scancel {' '.join(job_ids)}"
