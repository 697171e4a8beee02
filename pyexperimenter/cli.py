"""`pyexp`: parse, call the package, print. No SQL and no logic of its own lives here."""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import InputError, PyexpError

if TYPE_CHECKING:
    import pandas as pd

    from .experiment import Experimenter


class _Group(click.Group):
    """Turns our errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("pyexp: interrupted", err=True)
            ctx.exit(130)
        except PyexpError as e:
            if ctx.meta.get("pyexp.debug"):
                traceback.print_exc()
            click.echo(f"pyexp: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except Exception as e:  # a bug or an unexpected database error: still one line
            if ctx.meta.get("pyexp.debug"):
                traceback.print_exc()
            first = str(e).splitlines()[0] if str(e) else ""
            click.echo(f"pyexp: error: {type(e).__name__}: {first} (run with --debug for the traceback)", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pyexp")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Define experiments as rows of a table; run them locally or on SLURM; lose nothing.

    \b
    Typical use:
      pyexp init demo && cd demo
      pyexp fill experiment.yml      # one row per parameter combination
      pyexp run experiment.yml -j 4  # local workers drain the table
      pyexp status experiment.yml
      pyexp results experiment.yml --group-by dataset --agg mean
    """
    ctx.meta["pyexp.debug"] = debug


_config_arg = click.argument("config", type=click.Path(dir_okay=False))
_db_option = click.option("--db", "db", metavar="URL", help="Database URL overriding the config (or PYEXP_DB_URL).")


def _open(config: str, db: str | None) -> Experimenter:
    from .experiment import Experimenter

    return Experimenter(config, db=db)


def _interactive() -> bool:
    return sys.stderr.isatty()


def _progress(total: int, description: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    """A rich progress bar on a terminal; nothing at all when output is redirected."""
    if not _interactive() or total <= 0:
        return (lambda n: None), (lambda: None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
    task = bar.add_task(description, total=total)
    bar.start()
    return (lambda n: bar.advance(task, n)), bar.stop


# ----------------------------------------------------------------------------- init


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(directory: str, force: bool) -> None:
    """Write a runnable example config and experiment module into DIRECTORY."""
    from .scaffold import write_example

    written = write_example(directory, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"\nnext:\n  cd {directory}\n  pyexp fill experiment.yml\n  pyexp run experiment.yml --jobs 2\n  pyexp status experiment.yml")


# ----------------------------------------------------------------------------- fill


@main.command()
@_config_arg
@_db_option
def fill(config: str, db: str | None) -> None:
    """Create the tables and insert the grid rows not present yet."""
    exp = _open(config, db)
    total = len(exp.config.grid)
    advance, stop = _progress(total, "filling")
    try:
        added = exp.fill_table_from_config(progress=advance)
    finally:
        stop()
    counts = exp.counts()
    click.echo(
        f"{exp.config.name}: added {added} of {total} grid rows "
        f"({total - added} already present); table now has {sum(v for k, v in counts.items() if k != 'stale')} rows"
    )


# ----------------------------------------------------------------------------- run


@main.command()
@_config_arg
@_db_option
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Local worker processes [config n_jobs or 1].")
@click.option("--max-experiments", type=int, default=-1, show_default=True, help="Stop each worker after K experiments (-1: no limit).")
@click.option("--random-order", is_flag=True, help="Claim open rows in random order.")
@click.option("--function", "function", metavar="MODULE:FN", help="Experiment function overriding experiment.function.")
def run(config: str, db: str | None, jobs: int | None, max_experiments: int, random_order: bool, function: str | None) -> None:
    """Run local workers until no open rows are left."""
    exp = _open(config, db)
    fn = exp._function(function)
    before = exp.counts()
    todo = before["created"] if max_experiments < 0 else min(before["created"], max_experiments * (jobs or 1))
    advance, stop = _progress(todo, "running")
    state = {"done": before["done"] + before["error"]}

    def tick() -> None:
        now = exp.counts()
        finished = now["done"] + now["error"]
        advance(finished - state["done"])
        state["done"] = finished

    try:
        codes = exp.execute(fn, max_experiments=max_experiments, random_order=random_order, n_jobs=jobs, on_tick=tick)
    finally:
        stop()
    after = exp.counts()
    ran = (after["done"] + after["error"]) - (before["done"] + before["error"])
    click.echo(
        f"{exp.config.name}: {ran} experiment(s) finished this run; now done {after['done']}, error {after['error']}, "
        f"created {after['created']}, running {after['running']}"
    )
    bad = [c for c in codes if c != 0]
    if bad:
        click.echo(f"pyexp: {len(bad)} of {len(codes)} worker(s) exited abnormally (exit codes {sorted(set(bad))})", err=True)
        sys.exit(130 if set(bad) == {130} else 1)


# ----------------------------------------------------------------------------- launch


@main.command()
@_config_arg
@_db_option
@click.option("-w", "--workers", type=click.IntRange(min=1), required=True, help="Number of identical workers.")
@click.option("--dry-run", is_flag=True, help="Print the plan and sbatch script(s); submit nothing.")
@click.option("--local", is_flag=True, help="Run the workers as local processes instead of SLURM jobs.")
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
@click.option("--sbatch", "sbatch", multiple=True, metavar="KEY=VALUE", help="Extra #SBATCH option (repeatable).")
def launch(config: str, db: str | None, workers: int, dry_run: bool, local: bool, wait: bool, function: str | None,
           sbatch: tuple[str, ...], **overrides: Any) -> None:
    """Submit N identical workers as SLURM array job(s) that drain the table."""
    exp = _open(config, db)
    extra: dict[str, str] = {}
    for item in sbatch:
        if "=" not in item:
            raise InputError(f"--sbatch: expected KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        extra[key.strip().lstrip("-")] = value.strip()
    slurm = {k: v for k, v in overrides.items() if v is not None}
    if extra:
        slurm["sbatch"] = extra
    result = exp.launch(fn=function, workers=workers, dry_run=dry_run, local=local, wait=False, **slurm)
    click.echo(result.render())
    if wait and not dry_run and not local:
        _wait_until_drained(exp)
    if getattr(result, "failed", False):
        sys.exit(1)


def _wait_until_drained(exp: Experimenter) -> None:
    counts = exp.counts()
    total = counts["created"] + counts["running"]
    advance, stop = _progress(total, "draining")
    finished = counts["done"] + counts["error"]
    try:
        while counts["created"] + counts["running"] > 0:
            time.sleep(2)
            counts = exp.counts()
            now = counts["done"] + counts["error"]
            advance(now - finished)
            finished = now
    finally:
        stop()
    click.echo(f"drained: done {counts['done']}, error {counts['error']}")


# ----------------------------------------------------------------------------- status


@main.command()
@_config_arg
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@click.option("--watch", type=click.FloatRange(min=0.5), default=None, metavar="S", help="Refresh every S seconds.")
def status(config: str, db: str | None, as_json: bool, watch: float | None) -> None:
    """Counts per status, running and lost rows, errors, throughput and ETA."""
    from .report import status_report

    exp = _open(config, db)
    if as_json:
        while True:
            click.echo(json.dumps(status_report(exp), default=str))
            if watch is None:
                return
            time.sleep(watch)
    from rich.console import Console
    from rich.live import Live

    from .render import status_view

    console = Console()
    if watch is None:
        console.print(status_view(status_report(exp)))
        return
    with Live(status_view(status_report(exp)), console=console, auto_refresh=False) as live:
        while True:
            time.sleep(watch)
            live.update(status_view(status_report(exp)), refresh=True)


# ----------------------------------------------------------------------------- reset / recover / delete


@main.command()
@_config_arg
@_db_option
@click.option("--status", "statuses", multiple=True, metavar="S", help="Status to reset (repeatable): created, running, done, error, paused, all.")
@click.option("--id", "ids", multiple=True, type=int, metavar="N", help="Row id to reset (repeatable).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(config: str, db: str | None, statuses: tuple[str, ...], ids: tuple[int, ...], yes: bool) -> None:
    """Put rows back to `created` (results and errors cleared, ids kept)."""
    if not statuses and not ids:
        raise InputError("nothing to reset: give --status S (e.g. --status error) and/or --id N")
    exp = _open(config, db)
    counts = exp.counts()
    wanted = set(counts) - {"stale"} if not statuses or "all" in statuses else set(statuses)
    affected = len(ids) if ids else sum(counts.get(s, 0) for s in wanted)
    if affected > 10 and not yes:
        if not sys.stdin.isatty():
            raise InputError(f"this would reset up to {affected} rows; add --yes to confirm")
        click.confirm(f"Reset up to {affected} rows of {exp.config.name}?", abort=True)
    n = exp.reset_experiments(*statuses, ids=list(ids) if ids else None) if statuses else exp.reset_experiments("all", ids=list(ids))
    click.echo(f"{exp.config.name}: reset {n} row(s) to created")


@main.command()
@_config_arg
@_db_option
def recover(config: str, db: str | None) -> None:
    """Requeue lost runs (stale heartbeat) now; workers also do this on their own."""
    exp = _open(config, db)
    n = exp.recover()
    click.echo(f"{exp.config.name}: recovered {n} lost run(s) (no heartbeat for {exp.config.stale_after_seconds:g}s)")


@main.command()
@_config_arg
@_db_option
@click.option("--yes", is_flag=True, help="Really drop the tables.")
def delete(config: str, db: str | None, yes: bool) -> None:
    """Drop the experiment's tables (experiments, attempts, logs)."""
    exp = _open(config, db)
    if not yes:
        raise InputError(f"this drops table {exp.config.name} and its log tables; add --yes to confirm")
    exp.delete_table()
    click.echo(f"dropped {exp.config.name} and its attempt and log tables")


# ----------------------------------------------------------------------------- results


@main.command()
@_config_arg
@_db_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--status", "statuses", multiple=True, metavar="S", help="Only rows of this status (repeatable).")
@click.option("--where", multiple=True, metavar="COL=VALUE", help="Only rows where COL equals VALUE (repeatable).")
@click.option("--columns", metavar="A,B,...", help="Only these columns (comma-separated).")
@click.option("--group-by", "group_by", multiple=True, metavar="COL", help="Aggregate results over the other parameters.")
@click.option("--agg", default="mean", show_default=True, type=click.Choice(["mean", "median", "std", "min", "max", "count"]))
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of printing.")
def results(config: str, db: str | None, fmt: str, statuses: tuple[str, ...], where: tuple[str, ...],
            columns: str | None, group_by: tuple[str, ...], agg: str, output: str | None) -> None:
    """Export results; with --group-by, aggregate over e.g. seeds (group size in `n`)."""
    exp = _open(config, db)
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else []
    frame = exp.results(status=statuses, where=where, columns=cols, group_by=group_by, agg=agg)
    text = _format_frame(frame, fmt)
    if output:
        with open(output, "w") as f:
            f.write(text)
        click.echo(f"wrote {len(frame)} row(s) to {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


def _format_frame(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "json":
        return frame.to_json(orient="records", date_format="iso", double_precision=15) + "\n"
    if fmt == "csv":
        return str(frame.to_csv(index=False))
    if frame.empty:
        return "(no rows)\n"
    return str(frame.to_string(index=False)) + "\n"


if __name__ == "__main__":  # pragma: no cover
    main()
