"""`pyexp reset`, `pyexp recover` and `pyexp delete`: the commands that change rows back."""

from __future__ import annotations

import click

from ..errors import InputError
from . import options
from .group import main
from .options import ALL_STATUSES, config_arg, db_option, max_attempts_option, open_experiment, where_option

CONFIRM_ABOVE_ROWS = 10


@main.command()
@config_arg
@db_option
@click.option("--status", "statuses", multiple=True, type=click.Choice([*ALL_STATUSES, "all"]), metavar="S",
              help=f"Reset rows of this status (repeatable): {', '.join(ALL_STATUSES)} or all.")
@click.option("--id", "ids", multiple=True, type=click.IntRange(min=1), metavar="N", help="Reset this row id (repeatable).")
@click.option("--yes", "-y", is_flag=True, help=f"Do not ask for confirmation (asked above {CONFIRM_ABOVE_ROWS} rows).")
@where_option
def reset(config: str, db: str | None, statuses: tuple[str, ...], ids: tuple[int, ...], yes: bool,
          where: tuple[str, ...]) -> None:
    """Put rows back to `created`: results, errors, logs and attempts cleared, ids kept.

    \b
    Examples:
      pyexp reset experiment.yml --status error        # retry everything that failed
      pyexp reset experiment.yml --id 17 --id 18
      pyexp reset experiment.yml --status all --yes    # start over
      pyexp reset experiment.yml --status done --where dataset=iris
    """
    from ..views.formatting import format_ids
    from ..views.status_data import reset_selection

    if not statuses and not ids:
        raise InputError("nothing to reset: give --status S (e.g. --status error) and/or --id N")
    exp = open_experiment(config, db)
    selected = reset_selection(exp, statuses, ids, where)
    affected = sum(len(v) for v in selected.values())
    if affected == 0:
        click.echo(f"{exp.config.name}: no rows match; nothing reset")
        return
    if affected > CONFIRM_ABOVE_ROWS and not yes:
        summary = ", ".join(f"{s} {len(v)}" for s, v in selected.items())
        if not options.stdin_interactive():  # an attribute lookup at call time: tests swap it
            raise InputError(f"this would reset {affected} rows ({summary}); add --yes to confirm")
        click.confirm(f"Reset {affected} rows of {exp.config.name} ({summary}) to created?", abort=True)
    n = exp.reset_experiments(*(statuses or ("all",)), ids=list(ids) if ids else None, where=where)
    click.echo(f"{exp.config.name}: reset {n} row(s) to created")
    for s, row_ids in selected.items():
        click.echo(f"  {s:<8} {len(row_ids):>6}  ids {format_ids(row_ids)}")


@main.command()
@config_arg
@db_option
@max_attempts_option
def recover(config: str, db: str | None, max_attempts: int | None) -> None:
    """Requeue lost runs (stale heartbeat) now; workers also do this on their own.

    A lost run goes back to `created` while it has attempts left (experiment.max_attempts),
    otherwise to `error`.
    """
    exp = open_experiment(config, db, max_attempts)
    n = exp.recover()
    click.echo(
        f"{exp.config.name}: recovered {n} lost run(s) "
        f"(running with no heartbeat for more than {exp.config.stale_after_seconds:g}s)"
    )


@main.command()
@config_arg
@db_option
@click.option("--yes", "-y", is_flag=True, help="Really drop the tables (required).")
def delete(config: str, db: str | None, yes: bool) -> None:
    """Drop the experiment's tables (experiments, attempt history, logs) and its rows'
    checkpoint directories."""
    exp = open_experiment(config, db)
    if not yes:
        raise InputError(f"this drops table {exp.config.name} and its attempt and log tables; add --yes to confirm")
    exp.delete_table()
    click.echo(f"dropped {exp.config.name} and its attempt and log tables from {exp.config.database.url}, "
               "and its rows' checkpoint directories")


@main.command()
@config_arg
@db_option
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="S",
              help="Seconds workers get to hand their rows back before they are cancelled outright.")
def cancel(config: str, db: str | None, grace: float) -> None:
    """Stop the SLURM jobs (and `launch --local` workers) launched for this table.

    Running workers get the signal of a time limit first (SLURM: USR2; local: SIGTERM) and
    hand their rows back to `created` without spending an attempt; what still runs after
    --grace seconds is cancelled outright."""
    from ..launch.render import cancel_text

    exp = open_experiment(config, db)
    result = exp.cancel(grace_seconds=grace)
    click.echo(cancel_text(result, exp.counts()))
    if result.left:
        raise SystemExit(1)
