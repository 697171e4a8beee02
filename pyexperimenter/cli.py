"""`pyexp`: parse, call the package, print. No SQL and no logic of its own lives here."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import InputError, PyexpError

if TYPE_CHECKING:
    import pandas as pd

    from .experiment import Experimenter
    from .launch import LaunchResult

STATUSES = ("created", "running", "done", "error", "paused")
AGGREGATIONS = ("mean", "median", "std", "min", "max", "count")
SHELLS = ("bash", "zsh", "fish")


class _Group(click.Group):
    """Turns every error into one line on stderr and the documented exit code:
    2 for bad input (config, flags, database, credentials), 1 when the work failed."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        logger = logging.getLogger("pyexperimenter")
        saved = (logger.level, logger.propagate, list(logger.handlers))
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            command = e.ctx.command_path if e.ctx is not None else "pyexp"
            click.echo(f"{command}: error: {e.format_message().rstrip('.')} (see `{command} --help`)", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"pyexp: error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("pyexp: aborted", err=True)
            sys.exit(1)
        finally:  # in-process callers (tests, notebooks) get their logging back untouched
            logger.setLevel(saved[0])
            logger.propagate = saved[1]
            logger.handlers[:] = saved[2]
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

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
            hint = "" if ctx.meta.get("pyexp.debug") else " (run `pyexp --debug ...` for the traceback)"
            click.echo(f"pyexp: error: {type(e).__name__}: {first}{hint}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="pyexp", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="PYEXP_DEBUG", help="Show the traceback of an error [env PYEXP_DEBUG=1].")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Define experiments as rows of a table; run them locally or on SLURM; lose nothing.

    \b
    Typical use:
      pyexp init demo && cd demo
      pyexp fill experiment.yml      # one row per parameter combination
      pyexp run experiment.yml -j 4  # local workers drain the table
      pyexp status experiment.yml
      pyexp results experiment.yml --group-by method --agg mean

    Every command that reads a config takes --db URL (or PYEXP_DB_URL) to use another
    database. Exit codes: 0 success, 1 the work failed, 2 bad input. Shell completion:
    `pyexp completion --help`.
    """
    ctx.meta["pyexp.debug"] = debug
    _setup_logging(logging.DEBUG if debug else logging.ERROR)


def _setup_logging(level: int) -> None:
    """Our log lines on stderr, prefixed. Commands start quiet (a failure is reported as one
    line, not preceded by retry chatter); `run` turns warnings on once its workers start."""
    logger = logging.getLogger("pyexperimenter")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("pyexp[%(process)d]: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (click's test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _log_warnings(ctx: click.Context) -> None:
    if not ctx.meta.get("pyexp.debug"):
        logging.getLogger("pyexperimenter").setLevel(logging.WARNING)


# ----------------------------------------------------------------------------- shared options


def _complete_columns(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Column names from the config already on the command line (no database needed)."""
    from .config import load_config

    # While an option still waits for its value, click leaves CONFIG in ctx.args.
    paths = [p for p in (ctx.params.get("config"), *ctx.args) if isinstance(p, str) and Path(p).is_file()]
    try:
        cfg = load_config(paths[0])
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []
    names = ["ID", *cfg.parameters, "status", *cfg.results, "attempts", "worker", "machine", "error",
             "start_date", "end_date", "creation_date", "heartbeat", "slurm_job_id", "n"]
    return [n for n in names if n.startswith(incomplete)]


_config_arg = click.argument("config", type=click.Path(dir_okay=False))
_db_option = click.option(
    "--db", "db", metavar="URL", envvar="PYEXP_DB_URL", show_envvar=True,
    help="Database URL overriding database.url of the config.",
)
_status_choice = click.Choice(STATUSES)


def _open(config: str, db: str | None, max_attempts: int | None = None) -> Experimenter:
    from dataclasses import replace

    from .experiment import Experimenter

    exp = Experimenter(config, db=db)
    if max_attempts is not None:
        exp.config = replace(exp.config, max_attempts=max_attempts)
    return exp


_max_attempts_option = click.option(
    "--max-attempts", type=click.IntRange(min=1), default=None, metavar="N",
    help="Requeue a failed or lost run until it had N attempts, then mark it error [config experiment.max_attempts].",
)


def _interactive() -> bool:
    return sys.stderr.isatty()


def _stdin_interactive() -> bool:
    return sys.stdin.isatty()


def _progress(total: int, description: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    """A progress bar on a terminal; nothing at all when output is redirected.
    Returns (advance(n), stop())."""
    from .render import ProgressBar

    bar = ProgressBar(total, description, enabled=_interactive())
    bar.__enter__()
    return bar.advance, (lambda: bar.__exit__(None, None, None))


# ----------------------------------------------------------------------------- init


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(directory: str, force: bool) -> None:
    """Write a runnable, commented example (experiment.yml + estimate.py) into DIRECTORY.

    The example estimates pi by sampling, on SQLite: a grid of 2 methods x 3 sample sizes
    x 5 seeds that runs in seconds. Read experiment.yml: its comments explain the format.
    """
    from .scaffold import write_example

    written = write_example(directory, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    cd = f"cd {directory}\n  " if Path(directory).resolve() != Path.cwd().resolve() else ""
    click.echo(
        f"\nnext:\n  {cd}pyexp fill experiment.yml\n  pyexp run experiment.yml --jobs 2\n"
        "  pyexp status experiment.yml\n  pyexp results experiment.yml --group-by method --group-by samples --agg mean"
    )


# ----------------------------------------------------------------------------- fill


@main.command()
@_config_arg
@_db_option
def fill(config: str, db: str | None) -> None:
    """Create the tables and insert the grid rows not present yet (safe to re-run)."""
    exp = _open(config, db)
    total = len(exp.config.grid)
    advance, stop = _progress(total if total >= 5000 else 0, "filling")  # small grids fill in a blink
    try:
        added = exp.fill_table_from_config(progress=advance)
    finally:
        stop()
    counts = exp.counts()
    rows = sum(v for k, v in counts.items() if k != "stale")
    click.echo(
        f"{exp.config.name}: added {added} of {total} grid rows ({total - added} already present); "
        f"the table has {rows} rows in {exp.config.database.url}"
    )


# ----------------------------------------------------------------------------- run


@main.command()
@_config_arg
@_db_option
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Local worker processes [config n_jobs or 1].")
@click.option("--max-experiments", type=int, default=-1, show_default=True, help="Stop each worker after K experiments (-1: no limit).")
@click.option("--random-order", is_flag=True, help="Claim open rows in random order.")
@click.option("--function", "function", metavar="MODULE:FN", help="Experiment function overriding experiment.function.")
@_max_attempts_option
def run(config: str, db: str | None, jobs: int | None, max_experiments: int, random_order: bool, function: str | None,
        max_attempts: int | None) -> None:
    """Run local workers until no open rows are left (or each ran K experiments)."""
    from .render import ProgressBar

    exp = _open(config, db, max_attempts)
    fn = exp._function(function)
    before = exp.counts()
    n_jobs = jobs or exp.config.n_jobs
    todo = before["created"] + before["stale"]
    if max_experiments >= 0:
        todo = min(todo, max_experiments * n_jobs)
    started = time.monotonic()
    bar = ProgressBar(todo, "running", enabled=_interactive())

    def progress(now: dict[str, int]) -> None:
        failed = now["error"] - before["error"]
        bar.update((now["done"] + now["error"]) - (before["done"] + before["error"]),
                   extra=f"[red]{failed} failed[/]" if failed > 0 else "")

    _log_warnings(click.get_current_context())  # workers report requeued and refused rows
    with bar:
        codes = exp.execute(fn, max_experiments=max_experiments, random_order=random_order, n_jobs=n_jobs,
                            on_progress=progress if bar.enabled else None)
    after = exp.counts()
    done, failed = after["done"] - before["done"], after["error"] - before["error"]
    elapsed = time.monotonic() - started
    from .report import format_duration

    click.echo(
        f"{exp.config.name}: {done + failed} experiment(s) finished in {format_duration(elapsed)} "
        f"({done} done, {failed} failed); the table has done {after['done']}, error {after['error']}, "
        f"created {after['created']}, running {after['running']}"
    )
    if failed > 0:
        click.echo(f"errors grouped by message: pyexp status {config}", err=True)
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
@click.option("--sbatch", "sbatch", multiple=True, metavar="KEY=VALUE", help="Extra #SBATCH option, e.g. gres=gpu:1 or exclusive (repeatable).")
def launch(config: str, db: str | None, workers: int, dry_run: bool, local: bool, wait: bool, function: str | None,
           sbatch: tuple[str, ...], **overrides: Any) -> None:
    """Submit N identical workers as SLURM array job(s) that drain the table.

    Returns once the jobs are accepted; worker logs go to pyexp_logs/<table>/ next to CONFIG.
    --local runs the N workers on this machine and returns when they are done."""
    from .launch import parse_sbatch_options
    from .render import launch_text

    exp = _open(config, db)
    extra = parse_sbatch_options(sbatch)
    slurm = {k: v for k, v in overrides.items() if v is not None}
    if extra:
        slurm["sbatch"] = extra
    result = exp.launch(fn=function, workers=workers, dry_run=dry_run, local=local, wait=False, **slurm)
    click.echo(launch_text(result))
    left = _wait_until_drained(exp, result) if wait and not dry_run and not local else 0
    if result.failed or left:
        sys.exit(1)


def _wait_until_drained(exp: Experimenter, result: LaunchResult) -> int:
    """A progress bar of the table until nothing is open or running (or no job is left);
    returns how many rows were left open or running."""
    from .launch import wait_for_jobs

    counts = exp.counts()
    advance, stop = _progress(counts["created"] + counts["running"], "draining")
    state = {"finished": counts["done"] + counts["error"]}

    def tick(now: dict[str, int]) -> None:
        finished = now["done"] + now["error"]
        advance(finished - state["finished"])
        state["finished"] = finished

    try:
        counts = wait_for_jobs(result, exp.counts, on_progress=tick)
    finally:
        stop()
    left = counts["created"] + counts["running"]
    tail = f"; {left} row(s) still open or running: no worker is left, launch again" if left else ""
    click.echo(f"drained: done {counts['done']}, error {counts['error']}{tail}")
    return left


# ----------------------------------------------------------------------------- status


@main.command()
@_config_arg
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (one per refresh with --watch).")
@click.option("--watch", type=click.FloatRange(min=0.5), default=None, metavar="S", help="Refresh every S seconds until Ctrl-C.")
def status(config: str, db: str | None, as_json: bool, watch: float | None) -> None:
    """Counts per status, running and lost rows, errors by message, throughput and ETA."""
    from .report import status_report

    exp = _open(config, db)
    if as_json:
        try:
            while True:
                click.echo(json.dumps(status_report(exp), default=str))
                if watch is None:
                    return
                sys.stdout.flush()
                time.sleep(watch)
        except KeyboardInterrupt:
            return
    from rich.console import Console
    from rich.live import Live

    from .render import status_view

    console = Console()
    if watch is None:
        console.print(status_view(status_report(exp), config))
        return
    try:
        if not console.is_terminal:  # a log file gets one full view per refresh
            while True:
                console.print(status_view(status_report(exp), config))
                console.print()
                sys.stdout.flush()
                time.sleep(watch)
        with Live(status_view(status_report(exp), config), console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(watch)
                live.update(status_view(status_report(exp), config), refresh=True)
    except KeyboardInterrupt:
        return


# ----------------------------------------------------------------------------- reset / recover / delete


@main.command()
@_config_arg
@_db_option
@click.option("--status", "statuses", multiple=True, type=click.Choice([*STATUSES, "all"]), metavar="S",
              help="Reset rows of this status (repeatable): created, running, done, error, paused or all.")
@click.option("--id", "ids", multiple=True, type=click.IntRange(min=1), metavar="N", help="Reset this row id (repeatable).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (asked above 10 rows).")
def reset(config: str, db: str | None, statuses: tuple[str, ...], ids: tuple[int, ...], yes: bool) -> None:
    """Put rows back to `created`: results, errors, logs and attempts cleared, ids kept.

    \b
    Examples:
      pyexp reset experiment.yml --status error        # retry everything that failed
      pyexp reset experiment.yml --id 17 --id 18
      pyexp reset experiment.yml --status all --yes    # start over
    """
    from .report import format_ids, reset_selection

    if not statuses and not ids:
        raise InputError("nothing to reset: give --status S (e.g. --status error) and/or --id N")
    exp = _open(config, db)
    selected = reset_selection(exp, statuses, ids)
    affected = sum(len(v) for v in selected.values())
    if affected == 0:
        click.echo(f"{exp.config.name}: no rows match; nothing reset")
        return
    if affected > 10 and not yes:
        summary = ", ".join(f"{s} {len(v)}" for s, v in selected.items())
        if not _stdin_interactive():
            raise InputError(f"this would reset {affected} rows ({summary}); add --yes to confirm")
        click.confirm(f"Reset {affected} rows of {exp.config.name} ({summary}) to created?", abort=True)
    n = exp.reset_experiments(*(statuses or ("all",)), ids=list(ids) if ids else None)
    click.echo(f"{exp.config.name}: reset {n} row(s) to created")
    for s, row_ids in selected.items():
        click.echo(f"  {s:<8} {len(row_ids):>6}  ids {format_ids(row_ids)}")


@main.command()
@_config_arg
@_db_option
@_max_attempts_option
def recover(config: str, db: str | None, max_attempts: int | None) -> None:
    """Requeue lost runs (stale heartbeat) now; workers also do this on their own.

    A lost run goes back to `created` while it has attempts left (experiment.max_attempts),
    otherwise to `error`.
    """
    exp = _open(config, db, max_attempts)
    n = exp.recover()
    click.echo(
        f"{exp.config.name}: recovered {n} lost run(s) "
        f"(running with no heartbeat for more than {exp.config.stale_after_seconds:g}s)"
    )


@main.command()
@_config_arg
@_db_option
@click.option("--yes", "-y", is_flag=True, help="Really drop the tables (required).")
def delete(config: str, db: str | None, yes: bool) -> None:
    """Drop the experiment's tables (experiments, attempt history, logs)."""
    exp = _open(config, db)
    if not yes:
        raise InputError(f"this drops table {exp.config.name} and its attempt and log tables; add --yes to confirm")
    exp.delete_table()
    click.echo(f"dropped {exp.config.name} and its attempt and log tables from {exp.config.database.url}")


# ----------------------------------------------------------------------------- results


@main.command()
@_config_arg
@_db_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default=None,
              help="Output format [table; with --output, from the file's extension].")
@click.option("--status", "statuses", multiple=True, type=_status_choice, metavar="S",
              help="Only rows of this status (repeatable).")
@click.option("--where", multiple=True, metavar="COL=VALUE",
              help="Only rows where COL equals VALUE (repeatable; also !=, <, <=, >, >=; VALUE null for missing).")
@click.option("--columns", metavar="A,B,...", shell_complete=_complete_columns,
              help="Only these columns, comma-separated ('all': every column in a table).")
@click.option("--group-by", "group_by", multiple=True, metavar="COL", shell_complete=_complete_columns,
              help="Aggregate results over the other parameters (repeatable); only done rows count.")
@click.option("--agg", "aggs", multiple=True, metavar="F", help=f"Aggregation with --group-by: {', '.join(AGGREGATIONS)} "
              "[mean]; repeat or comma-separate for several (columns then named COL_F).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of printing.")
def results(config: str, db: str | None, fmt: str | None, statuses: tuple[str, ...], where: tuple[str, ...],
            columns: str | None, group_by: tuple[str, ...], aggs: tuple[str, ...], output: str | None) -> None:
    """Export results; with --group-by, aggregate over the other parameters (e.g. seeds).

    \b
    Examples:
      pyexp results experiment.yml                          # a compact table
      pyexp results experiment.yml --status error --columns ID,error
      pyexp results experiment.yml --where dataset=iris --where 'seed<3'
      pyexp results experiment.yml --group-by dataset --group-by model --agg mean --agg std
      pyexp results experiment.yml -o results.csv           # every column, as CSV

    The table format shows ID, parameters, status, results, attempts (and the last line of
    errors); CSV and JSON carry every column. Aggregates have the group size in column n.
    """
    from .results import aggregations, display_columns, last_line

    if aggs and not group_by:
        raise InputError("--agg needs --group-by COL (the columns to keep; the others are aggregated over)")
    fmt = fmt or _format_from_path(output)
    exp = _open(config, db)
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else []
    everything = cols == ["all"]
    frame = exp.results(status=statuses, where=where, columns=[] if everything else cols, group_by=group_by,
                        agg=aggregations(aggs or ("mean",)))
    if fmt == "table" and not cols and not group_by:
        frame = frame[display_columns(frame, list(exp.config.parameters), list(exp.config.results))]
        if "error" in frame.columns:
            frame = frame.assign(error=frame["error"].map(last_line))
    text = _format_frame(frame, fmt)
    if output:
        Path(output).write_text(text)
        click.echo(f"wrote {len(frame)} row(s) to {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


def _format_from_path(output: str | None) -> str:
    suffix = Path(output).suffix.lower() if output else ""
    return {".csv": "csv", ".json": "json"}.get(suffix, "table")


def _format_frame(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "json":
        return frame.to_json(orient="records", date_format="iso", double_precision=15) + "\n"
    if fmt == "csv":
        return str(frame.to_csv(index=False))
    if frame.empty:
        return "(no rows)\n"
    return str(frame.to_string(index=False, na_rep="-")) + "\n"


# ----------------------------------------------------------------------------- completion


@main.command()
@click.argument("shell", required=False, type=click.Choice(SHELLS))
def completion(shell: str | None) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish; default: $SHELL).

    \b
    bash:  eval "$(pyexp completion bash)"                  # in ~/.bashrc
    zsh:   eval "$(pyexp completion zsh)"                   # in ~/.zshrc
    fish:  pyexp completion fish > ~/.config/fish/completions/pyexp.fish

    The same scripts come from click directly: _PYEXP_COMPLETE=bash_source pyexp
    """
    from click.shell_completion import get_completion_class

    if shell is None:
        shell = Path(os.environ.get("SHELL", "")).name
        if shell not in SHELLS:
            raise InputError(f"cannot tell the shell from $SHELL ({shell or 'unset'}); give one of {', '.join(SHELLS)}")
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(main, {}, "pyexp", "_PYEXP_COMPLETE").source())


if __name__ == "__main__":  # pragma: no cover
    main()
