"""`pyexp snapshot`: which code the attempts ran, and that code written out again."""

from __future__ import annotations

import click

from .group import main
from .options import config_arg, db_option, open_experiment


@main.command()
@config_arg
@click.argument("id", metavar="[ID]", type=click.IntRange(0, 2**63 - 1), required=False)  # a row id the database can hold
@db_option
@click.option("--restore", "restore", metavar="DIR", type=click.Path(file_okay=False),
              help="Write the snapshot's files into DIR (new or empty): the row's latest attempt's, or the table's only one.")
def snapshot(config: str, id: int | None, db: str | None, restore: str | None) -> None:  # noqa: A002 - ID as documented
    """The code snapshots the attempts ran (of row ID, if given): hash, where, files.

    `pyexp launch` and `pyexp run` take one unless --no-snapshot; --restore DIR writes it out."""
    exp = open_experiment(config, db)
    if restore is not None:
        chosen = exp.restore_snapshot(restore, id)
        click.echo(f"snapshot {chosen.hash} written to {restore}")
        return
    found = exp.snapshots(id)
    if not found:
        click.echo(f"no attempts yet{f' of row {id}' if id is not None else ''}")
    for use in found:
        click.echo("\n".join(use.lines(id)))
