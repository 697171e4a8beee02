"""What several commands share: the CONFIG argument, --db, --max-attempts, --status choices,
column completion, opening the experiment, and whether we talk to a terminal.

The status, aggregation and format choices come from status.py and results/, never re-listed here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..results import AGGREGATIONS, FORMATS
from ..status import ALL_STATUSES

if TYPE_CHECKING:
    from ..experiment import Experimenter

__all__ = ["AGGREGATIONS", "ALL_STATUSES", "FORMATS", "complete_columns", "config_arg", "db_option", "interactive",
           "max_attempts_option", "open_experiment", "status_choice", "stdin_interactive", "where_option"]


def complete_columns(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Column names from the config already on the command line (no database needed)."""
    from ..config import load_config
    from ..store.schema import VISIBLE_COLUMNS

    # While an option still waits for its value, click leaves CONFIG in ctx.args.
    paths = [p for p in (ctx.params.get("config"), *ctx.args) if isinstance(p, str) and Path(p).is_file()]
    try:
        cfg = load_config(paths[0])
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []
    names = ["ID", *cfg.parameters, "status", *cfg.results, *VISIBLE_COLUMNS, "n"]
    return [n for n in dict.fromkeys(names) if n.startswith(incomplete)]


config_arg = click.argument("config", type=click.Path(dir_okay=False))
db_option = click.option(
    "--db", "db", metavar="URL", envvar="PYEXP_DB_URL", show_envvar=True,
    help="Database URL overriding database.url of the config.",
)
max_attempts_option = click.option(
    "--max-attempts", type=click.IntRange(min=1), default=None, metavar="N",
    help="Requeue a failed or lost run until it had N attempts, then mark it error [config experiment.max_attempts].",
)
status_choice = click.Choice(ALL_STATUSES)
where_option = click.option(
    "--where", "where", multiple=True, metavar="COL=VALUE", shell_complete=complete_columns,
    help="Only rows where COL equals VALUE (repeatable; also !=, <, <=, >, >=; VALUE null for missing).",
)


def open_experiment(config: str, db: str | None, max_attempts: int | None = None) -> Experimenter:
    """The experiment of CONFIG (on --db if given), with --max-attempts applied for this command."""
    from dataclasses import replace

    from ..experiment import Experimenter

    exp = Experimenter(config, db=db)
    if max_attempts is not None:
        exp.config = replace(exp.config, max_attempts=max_attempts)
    return exp


def interactive() -> bool:
    """Progress bars only on a terminal: pipes and log files get the summary line alone."""
    return sys.stderr.isatty()


def stdin_interactive() -> bool:
    """Whether a question can be answered; otherwise a command needing --yes says so."""
    return sys.stdin.isatty()
