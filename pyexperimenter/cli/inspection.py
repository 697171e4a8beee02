"""`pyexp status` (counts, lost runs, errors, ETA) and `pyexp results` (export, aggregate)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from .group import main
from .options import (
    AGGREGATIONS,
    FORMATS,
    complete_columns,
    config_arg,
    db_option,
    open_experiment,
    status_choice,
    where_option,
)

if TYPE_CHECKING:
    from ..experiment import Experimenter


@main.command()
@config_arg
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (one per refresh with --watch).")
@click.option("--watch", type=click.FloatRange(min=0.5), default=None, metavar="S", help="Refresh every S seconds until Ctrl-C.")
@where_option
def status(config: str, db: str | None, as_json: bool, watch: float | None, where: tuple[str, ...]) -> None:
    """Counts per status, running and lost rows, errors by message, throughput and ETA
    (of the rows matching --where, if given)."""
    from functools import partial

    from ..views.status_data import status_report as report_of

    exp = open_experiment(config, db)
    status_report = partial(report_of, where=where)
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

    from ..views.terminal import status_view

    console = Console()
    if watch is None:
        console.print(status_view(status_report(exp), config), crop=False)
        return
    try:
        if not console.is_terminal:  # a log file gets one full view per refresh
            while True:
                console.print(status_view(status_report(exp), config), crop=False)
                console.print()
                sys.stdout.flush()
                time.sleep(watch)
        with Live(status_view(status_report(exp), config), console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(watch)
                live.update(status_view(status_report(exp), config), refresh=True)
    except KeyboardInterrupt:
        return


@main.command()
@config_arg
@db_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format [table; with --output, from the file's extension].")
@click.option("--status", "statuses", multiple=True, type=status_choice, metavar="S",
              help="Only rows of this status (repeatable).")
@click.option("--where", multiple=True, metavar="COL=VALUE",
              help="Only rows where COL equals VALUE (repeatable; also !=, <, <=, >, >=; VALUE null for missing).")
@click.option("--columns", metavar="A,B,...", shell_complete=complete_columns,
              help="Only these columns, comma-separated ('all': every column in a table).")
@click.option("--group-by", "group_by", multiple=True, metavar="COL", shell_complete=complete_columns,
              help="Aggregate results over the other parameters (repeatable); only done rows count.")
@click.option("--agg", "aggs", multiple=True, metavar="F", help=f"Aggregation with --group-by: {', '.join(AGGREGATIONS)} "
              "[mean]; repeat or comma-separate for several (columns then named COL_F).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of printing.")
@click.option("--csv-formulas", is_flag=True,
              help="CSV: put ' before text that starts with = + - @ (spreadsheets would run it as a formula).")
@click.option("--with-provenance", is_flag=True,
              help="Add each row's latest done attempt's git commit, dirty flag, Python, packages hash, CUDA devices.")
def results(config: str, db: str | None, fmt: str | None, statuses: tuple[str, ...], where: tuple[str, ...],
            columns: str | None, group_by: tuple[str, ...], aggs: tuple[str, ...], output: str | None,
            csv_formulas: bool, with_provenance: bool) -> None:
    """Export results; with --group-by, aggregate over the other parameters (e.g. seeds).

    \b
    Examples:
      pyexp results experiment.yml                          # a compact table
      pyexp results experiment.yml --status error --columns ID,error
      pyexp results experiment.yml --where dataset=iris --where 'seed<3'
      pyexp results experiment.yml --group-by dataset --group-by model --agg mean --agg std
      pyexp results experiment.yml -o results.csv           # every column, as CSV
      pyexp results experiment.yml --with-provenance        # which code and packages made each row

    The table format shows ID, parameters, status, results, attempts (and the last line of
    errors); CSV, JSON, JSON lines and Parquet carry every column. CSV, JSON lines and Parquet
    stream in constant memory (Parquet needs pyexperimenter[parquet]). Aggregates have the
    group size in column n.
    """
    from ..errors import InputError
    from ..results import choose_format
    from ..results.streaming import STREAMED_FORMATS, export

    if aggs and not group_by:
        raise InputError("--agg needs --group-by COL (the columns to keep; the others are aggregated over)")
    fmt = choose_format(fmt, output)
    if csv_formulas:
        if fmt != "csv":
            raise InputError(f"--csv-formulas: only for CSV, not --format {fmt}")
        fmt = "safe-csv"
    exp = open_experiment(config, db)
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else []
    cols = [] if cols == ["all"] else cols
    if fmt in STREAMED_FORMATS and not group_by and not with_provenance:  # any number of rows, in constant memory
        written = export(exp.store, fmt, output, statuses, where, cols)
        if output:
            click.echo(f"wrote {written} row(s) to {output}", err=True)
        return
    text, written = results_text(exp, fmt, output, statuses, where, cols, group_by, aggs, with_provenance)
    if text is None:
        click.echo(f"wrote {written} row(s) to {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


def results_text(exp: Experimenter, fmt: str, output: str | None, statuses: Sequence[str], where: Sequence[str],
                 columns: Sequence[str], group_by: Sequence[str], aggs: Sequence[str],
                 with_provenance: bool) -> tuple[str | None, int]:
    """`pyexp results` that is not streamed: (the text to print or None when written to
    `output`, the rows). Aggregates, a few rows, are written without pandas (its import
    alone took a third of a million-row group-by); the compact table and provenance go
    through a DataFrame. Either way the rows reach results/writers.py, one writer a format."""
    from ..results import aggregations, compact_frame, write_frame

    agg = aggregations(aggs or ("mean",))
    if group_by and not with_provenance:
        records = exp.results_records(group_by, statuses, where, columns, agg)
        return records.write(fmt, output), len(records)
    frame = exp.results(status=statuses, where=where, columns=columns, group_by=group_by, agg=agg,
                        with_provenance=with_provenance)
    if fmt == "table" and not columns and not group_by:
        from ..worker.provenance import PROVENANCE_COLUMNS

        frame = compact_frame(frame, list(exp.config.parameters), list(exp.config.results),
                              PROVENANCE_COLUMNS if with_provenance else ())
    return write_frame(frame, fmt, output), len(frame)


@main.command()
@config_arg
@click.argument("id", metavar="ID", type=click.IntRange(0, 2**63 - 1))  # a row id the database can hold
@db_option
@click.option("--attempt", type=click.IntRange(1, 2**31 - 1), default=None, metavar="K",
              help="The K-th attempt (claim) of the experiment, 1 the first [default: the latest].")
@click.option("--follow", is_flag=True, help="Keep printing what it prints until the attempt ends (or Ctrl-C).")
def logs(config: str, id: int, db: str | None, attempt: int | None, follow: bool) -> None:  # noqa: A002 - ID as documented
    """What an experiment printed (stdout and stderr, interleaved as written), per attempt;
    also while it runs."""
    from ..results.logs import show

    exp = open_experiment(config, db)
    show(exp.store, exp.config.log_folder(), id, attempt, follow, lambda text: click.echo(text, nl=False),
         lambda line: click.echo(line, err=True))
