"""`pyexp db start|status|stop|url`: a PostgreSQL server of the user's own (server/embedded.py)."""

from __future__ import annotations

import click

from .group import main

DIR_HELP = "The server's folder on a shared file system [~/.pyexp/db]."


@main.group()
def db() -> None:
    """A PostgreSQL server of your own, for clusters without a database server.

    \b
    Examples:
      pyexp db start                  # on the login node; data in ~/.pyexp/db
      pyexp db start /shared/me/db --slurm   # as a SLURM job of its own
      pyexp db url                    # postgresql://pyexp@HOST:PORT/pyexp (no password)
    Then name it in the config:  database.url: pyexp-db://~/.pyexp/db
    """


def _show(state: object) -> None:
    from ..server.embedded import ServerState

    assert isinstance(state, ServerState)
    if state.state == "none":
        click.echo(f"no server in {state.folder}: start one with `pyexp db start {state.folder}`")
        return
    where = f"{state.host}:{state.port}" if state.host else "(no address yet)"
    answer = f"answering, PostgreSQL {state.version}, {state.connections} connection(s)" if state.answering \
        else "not answering"
    click.echo(f"{state.folder}: {state.state} at {where} on {state.node or '?'}: {answer}")
    if state.slurm_job:
        click.echo(f"  SLURM job {state.slurm_job}")
    click.echo(f"  config: database.url: pyexp-db://{state.folder}")


@db.command()
@click.argument("folder", required=False, metavar="[DIR]")
@click.option("--host", metavar="H", help="Listen on this address [the login node's; 0.0.0.0: all].")
@click.option("--port", type=click.IntRange(1, 65535), metavar="P", help="Listen on this port [a free one].")
@click.option("--slurm", is_flag=True, help="Run the server as a SLURM job of its own.")
@click.option("--time-minutes", type=click.IntRange(min=1), default=7 * 24 * 60, show_default=True,
              help="With --slurm: the job's time limit.")
@click.option("--partition", metavar="P", help="With --slurm: the job's partition.")
@click.option("--wait-seconds", type=click.FloatRange(min=0), default=600, show_default=True,
              help="With --slurm: how long to wait for the server to answer (0: do not wait).")
def start(folder: str | None, host: str | None, port: int | None, slurm: bool, time_minutes: int,
          partition: str | None, wait_seconds: float) -> None:
    """Initialise DIR (once) and start the server; its connection file (mode 0600) holds the password."""
    from ..server import embedded

    if slurm:
        state = embedded.start_slurm(folder, host, port, minutes=time_minutes, partition=partition,
                                     wait_seconds=wait_seconds)
    else:
        state = embedded.start(folder, host, port)
    _show(state)


@db.command()
@click.argument("folder", required=False, metavar="[DIR]")
def status(folder: str | None) -> None:
    """Where the server listens and whether it answers."""
    from ..server import embedded

    _show(embedded.status(folder))


@db.command()
@click.argument("folder", required=False, metavar="[DIR]")
def stop(folder: str | None) -> None:
    """Stop the server (the data stays in DIR)."""
    from ..server import embedded

    _show(embedded.stop(folder))


@db.command()
@click.argument("folder", required=False, metavar="[DIR]")
def url(folder: str | None) -> None:
    """Print the server's URL, without the password."""
    from ..errors import InputError
    from ..server import embedded

    state = embedded.status(folder)
    if state.url is None:
        raise InputError(f"no server address in {state.folder}: start one with `pyexp db start {state.folder}`")
    click.echo(state.url)
