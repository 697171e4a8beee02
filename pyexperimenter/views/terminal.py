"""Rich renderings for the terminal: the status view, and the summary lines that
`pyexp fill`, `run` and `launch` print when they are done (their progress bars are
results/progress.py's).

The data comes from status_data.py; nothing here queries a database or decides anything.
Every value that comes from the database reaches Rich as `rich_text` (pyexperimenter/escaping.py):
printed as it is, never read as markup, with control characters shown instead of sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..escaping import rich_text
from ..status import HANDED_BACK
from .formatting import format_duration
from .sparkline import sparkline

_COLORS = {"created": "blue", "running": "yellow", "done": "green", "error": "red", "paused": "magenta"}
BAR_WIDTH = 30
MAX_RUNNING_ROWS = 20
MAX_ERROR_GROUPS = 15


def whole(text: Text) -> Text:
    """A line that must never wrap: a command to copy, a path, the sparkline. Rich wraps at
    the console's width, 80 columns when the output is not a terminal (a pipe, a log, `su
    -c`), and a command broken in two no longer pastes. Print the view with `crop=False`
    so the line also reaches past the edge instead of being cut."""
    text.no_wrap = True
    text.overflow = "ignore"
    return text


def status_view(report: dict[str, Any], config: str = "CONFIG") -> Group:
    """`pyexp status`: header, counts with bars, throughput/ETA, running rows, errors.
    `config` is the path as the user typed it, for the commands suggested in notes."""
    parts: list[Any] = [_header(report, config), _counts_table(report), _throughput_line(report)]
    if any(report.get("finished_last_hour", ())):
        parts.append(_sparkline_line(report["finished_last_hour"]))
    if report["running"]:
        parts += ["", *_running_table(report, config)]
    if report["errors"]:
        parts += ["", *_errors_table(report, config)]
    if report.get("outcomes"):
        parts += ["", _outcomes_line(report)]
    if report.get("peak_rss_mb"):
        parts.append(_usage_line(report))
    if report.get("quarantined"):
        parts += ["", _quarantined_table(report)]
    return Group(*parts)


def _outcomes_line(report: dict[str, Any]) -> Text:
    """Attempts by how they ended (docs/recovery.md has the table of outcomes)."""
    line = Text("attempts: ", style="bold")
    for i, (outcome, n) in enumerate(sorted(report["outcomes"].items(), key=lambda kv: -kv[1])):
        line.append(", " if i else "")
        line.append(f"{outcome} {n}", style=_COLORS.get(outcome, "blue" if outcome in HANDED_BACK else "red"))
    return line


def _usage_line(report: dict[str, Any]) -> Text:
    """The highest peak memory per outcome, the isolation limit beside an out-of-memory one."""
    line = Text("peak memory: ", style="bold")
    for i, (outcome, peak) in enumerate(sorted(report["peak_rss_mb"].items())):
        line.append(", " if i else "")
        text = f"{outcome} max {peak:g} MB"
        if outcome == "oom" and report.get("memory_limit_mb") is not None:
            text += f" of memory_limit_mb={report['memory_limit_mb']}"
        line.append(text, style=_COLORS.get(outcome, "blue" if outcome in HANDED_BACK else "red"))
    return line


def _quarantined_table(report: dict[str, Any]) -> Table:
    table = Table(title="quarantined hosts and workers (they stopped claiming)", title_justify="left",
                  title_style="bold red", header_style="bold")
    for column in ("host", "worker", "attempts", "since", "last error"):
        table.add_column(column)
    for q in report["quarantined"]:
        table.add_row(rich_text(q["host"]), rich_text(q["worker"]), str(q["attempts"]), rich_text(q["since"]),
                      rich_text(q["last_error"], one_line=True))
    return table


def _header(report: dict[str, Any], config: str) -> Text:
    total = report["total"]
    head = Text.assemble(rich_text(report["table"], "bold"), "  ", rich_text(report["database"], "dim"), "  ")
    if not total and report.get("where"):
        head.append("no row matches --where " + " ".join(report["where"]), style="yellow")
    elif not total:
        head.append(f"the table is empty: run `pyexp fill {config}`", style="yellow")
    else:
        finished = report["finished"]
        head.append(f"{finished}/{total} finished ({100.0 * finished / total:.1f}%)", style="bold")
    return whole(head)


def _counts_table(report: dict[str, Any]) -> Table:
    total = report["total"]
    table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True, min_width=BAR_WIDTH)
    table.add_column()
    for status, n in report["counts"].items():
        color = _COLORS.get(status, "white")
        style = color if n else "dim"
        width = round(BAR_WIDTH * n / total) if total else 0
        if n and not width:
            width = 1  # a single error among 100 000 rows still shows
        bar = Text("█" * width, style=color)
        bar.append("·" * (BAR_WIDTH - width), style="dim")
        note = ""
        if status == "running" and report["stale"]:
            note = f"{report['stale']} LOST"
        table.add_row(
            Text(f"  {status}", style=style),
            Text(str(n), style=style),
            Text(f"{report['percent'][status]:.1f}%", style=style),
            bar,
            Text(note, style="bold red"),
        )
    return table


def _rate(per_minute: float) -> str:
    if per_minute >= 10:
        return f"{per_minute:.0f}/min"
    if per_minute >= 1:
        return f"{per_minute:.1f}/min"
    return f"{per_minute * 60:.1f}/h"


def _sparkline_line(counts: list[int]) -> Text:
    line = Text("last hour  ", style="bold")
    line.append(f"|{sparkline(counts)}|", style="green")
    return whole(line.append(f"  {sum(counts)} finished, at most {max(counts)}/min", style="dim"))


def _throughput_line(report: dict[str, Any]) -> Text:
    t = report["throughput"]
    line = Text("throughput ", style="bold")
    if t["finished"]:
        line.append(f"{_rate(t['per_minute'])} ({t['finished']} finished in the last {format_duration(t['window_seconds'])})")
    else:
        line.append(f"- (nothing finished in the last {format_duration(t['max_window_seconds'])})")
    line.append("   ETA ", style="bold")
    if not report["open"]:
        line.append("- (nothing open)")
    elif report["eta_seconds"] is None:
        line.append(f"unknown ({report['open']} open)")
    else:
        line.append(f"{format_duration(report['eta_seconds'])} ({report['open']} open)")
    return line


def _running_table(report: dict[str, Any], config: str) -> list[Any]:
    rows = report["running"]
    lost = len(report["lost_ids"])
    title = f"running: {len(rows)}" + (f", {lost} LOST" if lost else "")
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold")
    columns = [("id", "right"), ("worker", "left"), ("host", "left"), ("slurm job", "left"),
               ("try", "right"), ("runtime", "right"), ("heartbeat", "right")]
    for col, justify in columns + ([("", "left")] if lost else []):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows[:MAX_RUNNING_ROWS]:
        cells: list[Any] = [
            str(r["id"]),
            rich_text(r["worker"] or "-"),
            rich_text(r["host"] or "-"),
            rich_text(r["slurm_job_id"] or "-"),
            str(r["attempt"]),
            format_duration(r["runtime_seconds"]),
            format_duration(r["heartbeat_age_seconds"]) + " ago",
        ]
        if lost:
            cells.append(Text("LOST", style="bold red") if r["lost"] else "")
        table.add_row(*cells, style="red" if r["lost"] else None)
    out: list[Any] = [table]
    if len(rows) > MAX_RUNNING_ROWS:
        out.append(whole(Text(f"... and {len(rows) - MAX_RUNNING_ROWS} more (all of them: pyexp status {config} --json)",
                              style="dim")))
    if lost:
        out.append(whole(Text(
            f"LOST: no heartbeat for more than {format_duration(report['stale_after_seconds'])} (the worker died or hangs); "
            f"running workers requeue lost runs on their own, or now: pyexp recover {config}",
            style="red",
        )))
    return out


def _errors_table(report: dict[str, Any], config: str) -> list[Any]:
    groups = report["errors"]
    n = sum(g["count"] for g in groups)
    table = Table(
        title=f"errors: {n} row(s), by last traceback line", title_justify="left", title_style="bold", header_style="bold"
    )
    table.add_column("rows", justify="right", style="red")
    table.add_column("error")
    table.add_column("example ids")
    for g in groups[:MAX_ERROR_GROUPS]:
        more = ", ..." if g["count"] > len(g["example_ids"]) else ""
        table.add_row(str(g["count"]), rich_text(g["message"], one_line=True), ", ".join(map(str, g["example_ids"])) + more)
    out: list[Any] = [table]
    if len(groups) > MAX_ERROR_GROUPS:
        out.append(whole(Text(f"... and {len(groups) - MAX_ERROR_GROUPS} more kinds of error (pyexp status {config} --json)",
                              style="dim")))
    out.append(whole(Text(f"full tracebacks: pyexp results {config} --status error --columns ID,error --format json",
                          style="dim")))
    out.append(whole(Text(f"retry them: pyexp reset {config} --status error", style="dim")))
    return out


# ----------------------------------------------------------------------------- summaries


def fill_summary(table: str, added: int, total: int, counts: Mapping[str, int], database: str) -> str:
    """What `pyexp fill` prints: how much of the grid was new, and the table's size now."""
    rows = sum(v for k, v in counts.items() if k != "stale")
    return (
        f"{table}: added {added} of {total} grid rows ({total - added} already present); "
        f"the table has {rows} rows in {database}"
    )


def run_summary(table: str, before: Mapping[str, int], after: Mapping[str, int], seconds: float) -> str:
    """What `pyexp run` prints: what this run finished, then where the whole table stands."""
    done, failed = after["done"] - before["done"], after["error"] - before["error"]
    return (
        f"{table}: {done + failed} experiment(s) finished in {format_duration(seconds)} "
        f"({done} done, {failed} failed); the table has done {after['done']}, error {after['error']}, "
        f"created {after['created']}, running {after['running']}"
    )


def workers_note(codes: list[int]) -> str | None:
    """A line for stderr when some local workers did not exit cleanly, else None."""
    bad = [c for c in codes if c != 0]
    if not bad:
        return None
    return f"pyexp: {len(bad)} of {len(codes)} worker(s) exited abnormally (exit codes {sorted(set(bad))})"


def drained_summary(counts: Mapping[str, int]) -> str:
    """What `pyexp launch --wait` prints once nothing is open or running, or no job is left."""
    left = counts["created"] + counts["running"]
    tail = f"; {left} row(s) still open or running: no worker is left, launch again" if left else ""
    return f"drained: done {counts['done']}, error {counts['error']}{tail}"
