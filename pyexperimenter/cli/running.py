"""`pyexp run` (local workers drain the table) and `pyexp launch` (SLURM array jobs)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from .group import log_warnings, main
from .options import config_arg, db_option, interactive, max_attempts_option, open_experiment, where_option

no_snapshot_option = click.option(
    "--no-snapshot", is_flag=True,
    help="Run the live code: take no code snapshot for the workers to import from (pyexp snapshot).")

if TYPE_CHECKING:
    from ..experiment import Experimenter
    from ..launch import LaunchResult


@main.command()
@config_arg
@db_option
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Local worker processes [config n_jobs or 1].")
@click.option("--max-experiments", type=int, default=-1, show_default=True, help="Stop each worker after K experiments (-1: no limit).")
@click.option("--random-order", is_flag=True, help="Claim open rows in random order.")
@click.option("--function", "function", metavar="MODULE:FN", help="Experiment function overriding experiment.function.")
@click.option("--gpus", metavar="0,1,...|auto",
              help="Pin each worker to its own GPU(s) with CUDA_VISIBLE_DEVICES: these device ids, or auto "
                   "(nvidia-smi -L, else CUDA_VISIBLE_DEVICES).")
@click.option("--gpus-per-job", type=click.IntRange(min=1), default=1, show_default=True, metavar="K",
              help="GPUs per worker (with --gpus).")
@max_attempts_option
@where_option
@no_snapshot_option
def run(config: str, db: str | None, jobs: int | None, max_experiments: int, random_order: bool, function: str | None,
        gpus: str | None, gpus_per_job: int, max_attempts: int | None, where: tuple[str, ...], no_snapshot: bool) -> None:
    """Run local workers until no open rows are left (or each ran K experiments).

    With --where, the workers claim only matching rows (e.g. --where dataset=iris --where 'seed<3').
    Rows are claimed by priority (pyexp fill --priority), then by id."""
    from ..results.progress import ProgressBar, follow_counts
    from ..views.terminal import run_summary, workers_note
    from ..worker.local import check_jobs

    exp = open_experiment(config, db, max_attempts)
    n_jobs = jobs or exp.config.n_jobs
    check_jobs(n_jobs)  # bad input is refused before anything is imported, snapshotted or said
    code = exp.load_code(function, not no_snapshot)
    if code.note:
        click.echo(code.note, err=True)
    before = exp.counts(where)
    todo = before["created"] + before["stale"]
    if max_experiments >= 0:
        todo = min(todo, max_experiments * n_jobs)
    started = time.monotonic()
    log_warnings(click.get_current_context())  # workers report requeued and refused rows
    with ProgressBar(todo, "running", enabled=interactive()) as bar:
        codes = exp.execute(code.fn, max_experiments=max_experiments, random_order=random_order, n_jobs=n_jobs,
                            on_progress=follow_counts(bar, before) if bar.enabled and not where else None, where=where,
                            gpus=gpus, gpus_per_job=gpus_per_job, snapshot=not no_snapshot)
    after = exp.counts(where)
    click.echo(run_summary(exp.config.name, before, after, time.monotonic() - started))
    if after["error"] > before["error"]:
        click.echo(f"errors grouped by message: pyexp status {config}", err=True)
    note = workers_note(codes)
    if note:
        click.echo(note, err=True)
        sys.exit(130 if {c for c in codes if c != 0} == {130} else 1)


@main.command()
@config_arg
@db_option
@click.option("-w", "--workers", type=click.IntRange(min=1), required=True, help="Number of identical workers.")
@click.option("--dry-run", is_flag=True, help="Print the plan and job script(s); submit nothing.")
@click.option("--local", is_flag=True, help="Run the workers as local processes instead of SLURM jobs.")
@click.option("--scheduler", type=click.Choice(["slurm", "sge"]), default=None,
              help="slurm or sge (Grid Engine); default: the config's scheduler, else the one on PATH (slurm if both).")
@click.option("--wait", is_flag=True, help="Stay and show progress until nothing is open or running.")
@click.option("--function", "function", metavar="MODULE:FN", help="Experiment function overriding experiment.function.")
@click.option("--partition")
@click.option("--time-minutes", type=click.IntRange(min=1))
@click.option("--mem-gb", type=click.FloatRange(min=0, min_open=True))
@click.option("--cpus-per-task", type=click.IntRange(min=1))
@click.option("--gpus-per-node", type=click.IntRange(min=0))
@click.option("--array-parallelism", type=click.IntRange(min=1))
@click.option("--account")
@click.option("--qos")
@click.option("--constraint")
@click.option("--sbatch", "sbatch", multiple=True, metavar="KEY=VALUE", help="Extra #SBATCH option, e.g. gres=gpu:1 or exclusive (repeatable).")
@click.option("--no-requeue", is_flag=True,
              help="A worker stopped by the time limit exits, even with rows open (default: it requeues its task).")
@where_option
@no_snapshot_option
def launch(config: str, db: str | None, workers: int, dry_run: bool, local: bool, scheduler: str | None, wait: bool,
           function: str | None, sbatch: tuple[str, ...], no_requeue: bool, where: tuple[str, ...], no_snapshot: bool,
           **overrides: Any) -> None:
    """Submit N identical workers as SLURM or Grid Engine array job(s) that drain the table.

    Returns once the jobs are accepted; worker logs go to pyexp_logs/<table>/ next to CONFIG.
    --local runs the N workers on this machine and returns when they are done."""
    from ..launch import parse_sbatch_options
    from ..launch.render import launch_text

    exp = open_experiment(config, db)
    slurm = {k: v for k, v in overrides.items() if v is not None}
    if no_requeue:
        slurm["max_task_requeues"] = 0
    extra = parse_sbatch_options(sbatch)
    if extra:
        slurm["sbatch"] = extra
    result = exp.launch(fn=function, workers=workers, dry_run=dry_run, local=local, wait=False, where=where,
                        scheduler=scheduler, snapshot=not no_snapshot, **slurm)
    click.echo(launch_text(result))
    left = _wait_until_drained(exp, result) if wait and not dry_run and not local else 0
    if result.failed or left:
        sys.exit(1)


def _wait_until_drained(exp: Experimenter, result: LaunchResult) -> int:
    """`launch.wait_for_jobs` behind a progress bar of the table; returns how many rows were
    left open or running."""
    from ..launch import wait_for_jobs
    from ..results.progress import ProgressBar, follow_counts
    from ..views.terminal import drained_summary

    counts = exp.counts()
    known = len(result.errors)
    with ProgressBar(counts["created"] + counts["running"], "draining", enabled=interactive()) as bar:
        counts = wait_for_jobs(result, exp.counts, on_progress=follow_counts(bar, counts, show_failed=False))
    for error in result.errors[known:]:  # the workers died: "drained" would be wrong
        click.echo(f"error: {error}", err=True)
    if len(result.errors) == known:
        click.echo(drained_summary(counts))
    return counts["created"] + counts["running"]
