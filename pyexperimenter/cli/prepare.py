"""`pyexp init` (write the example) and `pyexp fill` (one row per grid point)."""

from __future__ import annotations

from pathlib import Path

import click

from .group import main
from .options import config_arg, db_option, interactive, open_experiment

FILL_BAR_ROWS = 5000
"""Grids smaller than this fill in a blink: no progress bar."""


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(directory: str, force: bool) -> None:
    """Write a runnable, commented example (experiment.yml + estimate.py) into DIRECTORY.

    The example estimates pi by sampling, on SQLite: a grid of 2 methods x 3 sample sizes
    x 5 seeds that runs in seconds. Read experiment.yml: its comments explain the format.
    """
    from ..config.scaffold import write_example

    written = write_example(directory, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    cd = f"cd {directory}\n  " if Path(directory).resolve() != Path.cwd().resolve() else ""
    click.echo(
        f"\nnext:\n  {cd}pyexp fill experiment.yml\n  pyexp run experiment.yml --jobs 2\n"
        "  pyexp status experiment.yml\n  pyexp results experiment.yml --group-by method --group-by samples --agg mean"
    )


@main.command()
@config_arg
@db_option
@click.option("--priority", type=click.IntRange(-2**31, 2**31 - 1), default=None, metavar="N",
              help="Priority of the rows this fill adds, overriding experiment.priority [default: it, or 0]; "
                   "workers claim higher priorities first.")
def fill(config: str, db: str | None, priority: int | None) -> None:
    """Create the tables and insert the grid rows not present yet (safe to re-run).

    Rows already in the table keep their priority: `pyexp fill --priority 10` after adding
    a sub-grid puts only the new rows first in line."""
    from ..results.progress import ProgressBar
    from ..views.terminal import fill_summary

    exp = open_experiment(config, db)
    total = len(exp.config.grid)
    with ProgressBar(total if total >= FILL_BAR_ROWS else 0, "filling", enabled=interactive()) as bar:
        added = exp.fill_table_from_config(progress=bar.advance, priority=priority)
    click.echo(fill_summary(exp.config.name, added, total, exp.counts(), exp.config.database.url))
