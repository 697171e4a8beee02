"""What `pyexp launch` and `pyexp cancel` print: the plan, the job script(s) and what was
submitted or stopped. A LaunchResult is plain data (launch/result.py); this is its text.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from . import schedulers
from .result import LaunchResult
from .script import effective_signal_seconds, mem_text
from .sge_script import h_rt


def launch_text(result: LaunchResult) -> str:
    """What `pyexp launch` prints: the plan, then the scripts (dry run), the submitted job
    ids with how to watch and cancel them, or how the local workers ended."""
    lines = [f"pyexp launch: table {result.table} on {result.database}"]
    c = result.counts
    if c:
        lines.append(
            f"  open rows    {result.open_rows} (created {c.get('created', 0)}, lost {c.get('stale', 0)}; "
            f"running {c.get('running', 0)}, done {c.get('done', 0)}, error {c.get('error', 0)})"
        )
    if result.mode == "nothing":
        lines += [f"  note: {n}" for n in result.notes]
        return "\n".join(lines)
    capped = f" (asked for {result.requested})" if result.requested != result.workers else ""
    where = "local processes" if result.mode == "local" else f"{schedulers.get(result.scheduler).label} array tasks"
    lines.append(f"  workers      {result.workers}{capped} as {where}")
    if result.mode != "local":
        lines += _launch_plan_lines(result)
    if result.log_dir is not None:
        pattern = "%A_%a.log (array job id _ task id)" if result.mode != "local" else "local-*.log"
        if result.mode != "local" and result.scheduler == "sge":
            pattern = "$JOB_ID_$TASK_ID.log (array job id _ task id, from 1)"
        lines.append(f"  logs         {result.log_dir}/{pattern}")
    lines += [f"  note: {n}" for n in result.notes]
    lines += _launch_outcome_lines(result)
    lines += [f"error: {e}" for e in result.errors]
    return "\n".join(lines)


def _launch_plan_lines(result: LaunchResult) -> list[str]:
    """Arrays, resources, setup and template of a scheduled launch (or dry run)."""
    lines = []
    cluster = schedulers.get(result.scheduler)
    if result.arrays:
        limits = result.limits
        limit_text = ""
        if limits is not None:
            limit_text = f"; {limits.size_name} {limits.max_array_size}"
            if limits.max_job_count is not None:
                limit_text += f", MaxJobCount {limits.max_job_count}"
            if limits.max_running_per_array is not None:
                limit_text += f", max_aj_instances {limits.max_running_per_array}"
            limit_text += f" ({limits.source})"
        sizes = ", ".join(f"{a.tasks} ({cluster.array_text(a)})" for a in result.arrays)
        lines.append(f"  arrays       {len(result.arrays)}: {sizes}{limit_text}")
    if result.slurm is not None and result.scheduler == "sge":
        s = result.slurm
        parts = [f"{s.cpus_per_task} slot(s)", f"{mem_text(s.mem_gb)} memory", f"h_rt {h_rt(s.time_minutes)}",
                 f"the workers stop themselves {effective_signal_seconds(s)} s before"]
        lines.append(f"  resources    {', '.join(parts)}")
        if s.setup:
            lines.append(f"  setup        {' ; '.join(s.setup)}")
    elif result.slurm is not None:
        s = result.slurm
        parts = [
            f"partition {s.partition or '(default)'}",
            f"{s.cpus_per_task} CPU",
            f"{mem_text(s.mem_gb)} memory",
            f"{s.gpus_per_node} GPU" if s.gpus_per_node else "no GPU",
            f"{s.time_minutes} min",
            f"USR2 {effective_signal_seconds(s)} s before the limit",
        ]
        parts += [f"{k} {v}" for k, v in (("account", s.account), ("qos", s.qos), ("constraint", s.constraint)) if v]
        parts += [f"--{k}{'=' + v if v else ''}" for k, v in s.sbatch]
        lines.append(f"  resources    {', '.join(parts)}")
        if s.setup:
            lines.append(f"  setup        {' ; '.join(s.setup)}")
    if result.template is not None:
        lines.append(f"  template     {result.template}")
    return lines


def _launch_outcome_lines(result: LaunchResult) -> list[str]:
    lines: list[str] = []
    cluster = schedulers.get(result.scheduler)
    if result.mode == "dry-run":
        for i, (array, script) in enumerate(zip(result.arrays, result.scripts), 1):
            lines += ["", f"# ---- {cluster.submit_command} script {i} of {len(result.scripts)} ({array.tasks} tasks) ----",
                      script.rstrip("\n")]
        lines += ["", "dry run: nothing was submitted"]
    elif result.mode == cluster.name and result.job_ids:
        ids = ", ".join(f"{j} ({a.tasks} tasks)" for j, a in zip(result.job_ids, result.arrays))
        config = shlex.quote(str(result.config_path)) if result.config_path else "CONFIG"
        watch, stop = cluster.hints(result.job_ids)
        lines.append(f"submitted    array job(s) {ids}")
        lines.append(f"watch        pyexp status {config} --watch 5")
        lines.append(f"             {watch}")
        lines.append(f"cancel       {stop}")
    elif result.mode == "local":
        bad = [code for code in result.exit_codes if code != 0]
        lines.append(
            f"ran          {len(result.exit_codes)} local worker(s) in {result.seconds:.1f} s"
            + (f"; {len(bad)} exited abnormally (exit codes {sorted(set(bad))})" if bad else "")
        )
    return lines


def cancel_text(result: Any, counts: Mapping[str, int]) -> str:
    """What `pyexp cancel` did (a launch.CancelResult), and the rows afterwards."""
    lines = []
    sge_jobs = result.sge_jobs
    if not result.slurm_jobs and not sge_jobs and not result.local_pids:
        lines.append(f"{result.table}: no launched job or local worker is running; nothing to cancel")
    else:
        parts = [] if sge_jobs and not result.slurm_jobs else [
            f"{len(result.slurm_jobs)} SLURM job(s)" + (f" ({', '.join(result.slurm_jobs)})" if result.slurm_jobs else "")]
        parts += [f"{len(sge_jobs)} Grid Engine job(s) ({', '.join(sge_jobs)})"] if sge_jobs else []
        jobs = ", ".join(parts)
        lines.append(f"{result.table}: cancelled {jobs} and {len(result.local_pids)} local worker(s)")
    for where in result.elsewhere:
        lines.append(f"  local worker {where} runs on another host: stop it there (kill -TERM), or run cancel there")
    if result.left:
        lines.append(f"  still running after the grace period: {', '.join(result.left)}")
    lines.append(f"  rows: created {counts.get('created', 0)}, running {counts.get('running', 0)}, "
                 f"done {counts.get('done', 0)}, error {counts.get('error', 0)}")
    return "\n".join(lines)
