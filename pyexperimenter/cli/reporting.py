"""`pyexp report` (one self-contained HTML file) and `pyexp dashboard` (the same, live)."""

from __future__ import annotations

from typing import Any

import click

from .group import main
from .options import complete_columns, config_arg, db_option, open_experiment


def report_options(f: Any) -> Any:
    """The choices both commands share: what the plots average over and what they show."""
    for option in reversed([
        click.option("--over", metavar="PARAM", shell_complete=complete_columns,
                     help="Error bars over this parameter's values (e.g. seed) [over all other parameters]."),
        click.option("--error-bars", type=click.Choice(["std", "ci95"]), default="std", show_default=True,
                     help="Standard deviation or 95% confidence interval of the mean."),
        click.option("--logtable", metavar="NAME", help="Plot this logtable's columns per step (mean and band)."),
        click.option("--best", type=click.IntRange(min=0), default=10, show_default=True, metavar="N",
                     help="How many best rows to list."),
        click.option("--best-by", metavar="COL", shell_complete=complete_columns,
                     help="Rank the best rows by this result [the first numeric result]."),
        click.option("--minimize", is_flag=True, help="Lower is better for --best-by."),
    ]):
        f = option(f)
    return f


def _options(kw: dict[str, Any]) -> Any:
    from ..views.report_data import ReportOptions

    return ReportOptions(over=kw["over"], error_bars=kw["error_bars"], logtable=kw["logtable"], best=kw["best"],
                         best_by=kw["best_by"], minimize=kw["minimize"])


@main.command()
@config_arg
@db_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default="report.html",
              show_default=True, help="The HTML file to write.")
@report_options
def report(config: str, db: str | None, output: str, **kw: Any) -> None:
    """One self-contained HTML file: progress, errors, hosts, results by parameter, best rows.

    \b
    Examples:
      pyexp report experiment.yml -o report.html
      pyexp report experiment.yml --over seed --error-bars ci95 --logtable losses
    """
    from ..views.html.report import write_report

    done = write_report(open_experiment(config, db), output, _options(kw))
    click.echo(f"wrote {done['path']}: {done['charts']} chart(s) for {done['total']} row(s), "
               f"{done['bytes'] / 1e6:.1f} MB, opens without a network")


@main.command()
@config_arg
@db_option
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8050, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (keep the default on shared machines).")
@click.option("--interval", type=click.FloatRange(min=0.5), default=3.0, show_default=True, metavar="S",
              help="Seconds between refreshes of the page's data.")
@report_options
def dashboard(config: str, db: str | None, port: int, host: str, interval: float, **kw: Any) -> None:
    """The report's views served live and read-only; prints the URL and the ssh forward line."""
    from ..views.html.dashboard import serve, tunnel_hint

    def ready(server: Any) -> None:
        bound = int(server.server_address[1])
        click.echo(f"dashboard of {server.exp.config.name} at {server.url} (Ctrl-C stops it)")
        click.echo(f"from a laptop: {tunnel_hint(bound)}  then open http://127.0.0.1:{bound}/")

    serve(open_experiment(config, db), _options(kw), host, port, interval, ready)
