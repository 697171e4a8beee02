"""Rich renderings for the terminal; the data comes from report.py."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .report import format_duration

_COLORS = {"created": "blue", "running": "yellow", "done": "green", "error": "red", "paused": "magenta"}
BAR_WIDTH = 30


def status_view(report: dict[str, Any]) -> Group:
    total = report["total"]
    head = Text.assemble(
        (report["table"], "bold"), f"  {report['database']}  ", (f"{total} experiments", "bold")
    )
    counts = Table(box=None, show_header=False, padding=(0, 1))
    for status, n in report["counts"].items():
        width = round(BAR_WIDTH * n / total) if total else 0
        color = _COLORS.get(status, "white")
        counts.add_row(
            Text(status, style=color),
            Text(str(n), justify="right"),
            Text(f"{report['percent'][status]:5.1f}%"),
            Text("█" * width + "·" * (BAR_WIDTH - width), style=color),
        )
    parts: list[Any] = [head, counts]
    rate = report["throughput_per_minute"]
    parts.append(
        Text(
            f"throughput {rate:g}/min over the last {format_duration(report['throughput_window_seconds'])}"
            f"   ETA {format_duration(report['eta_seconds'])}"
        )
    )
    if report["running"]:
        running = Table(title=f"running ({len(report['running'])}, {report['stale']} lost)", title_justify="left")
        for col in ("id", "worker", "host", "slurm job", "attempt", "runtime", "heartbeat age", ""):
            running.add_column(col)
        for r in report["running"][:50]:
            running.add_row(
                str(r["id"]),
                r["worker"] or "-",
                r["host"] or "-",
                r["slurm_job_id"] or "-",
                str(r["attempt"]),
                format_duration(r["runtime_seconds"]),
                format_duration(r["heartbeat_age_seconds"]),
                Text("LOST", style="bold red") if r["lost"] else "",
            )
        if len(report["running"]) > 50:
            running.caption = f"... and {len(report['running']) - 50} more"
        parts.append(running)
    if report["stale"]:
        parts.append(
            Text(
                f"{report['stale']} lost run(s): no heartbeat for {report['stale_after_seconds']:g}s; "
                "workers requeue them on their own, or run `pyexp recover CONFIG`",
                style="red",
            )
        )
    if report["errors"]:
        errors = Table(title="errors by last traceback line", title_justify="left")
        errors.add_column("count", justify="right")
        errors.add_column("message")
        errors.add_column("example ids")
        for g in report["errors"][:20]:
            errors.add_row(str(g["count"]), g["message"], ", ".join(map(str, g["example_ids"])))
        parts.append(errors)
    return Group(*parts)
