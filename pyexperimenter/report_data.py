"""What `pyexp report` and `pyexp dashboard` show, as JSON-ready data built from aggregates.

Every number comes from a named GROUP BY query (store/reports.py), never from the rows, so a
table of a million rows reports as fast as one of sixty: counts per status, rows finished per
minute, identical tracebacks, attempts per host and worker, per parameter value the count,
mean and mean square of each numeric result, the best rows, and logtable steps. Means and
spreads are combined here from those moments. Kept narrow on purpose: when the results
package pushes its own filtering into SQL, this module can read through that instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .errors import InputError
from .experiment import Experimenter
from .report import finished_per_minute

NUMERIC_KINDS = frozenset({"int", "float", "decimal"})
ERROR_BARS = ("std", "ci95")
RATE_MINUTES = 5
MAX_GROUPS = 200_000  # values of one parameter (times those of --over) drawn; more are cut
_TAIL_LINES = 3


@dataclass(frozen=True)
class ReportOptions:
    """What the user chose: the parameter error bars run over, their kind, the logtable and
    how the best rows are picked."""

    over: str | None = None
    error_bars: str = "std"
    logtable: str | None = None
    best: int = 10
    best_by: str | None = None
    minimize: bool = False


def check_options(exp: Experimenter, opts: ReportOptions) -> None:
    """Bad choices fail before any query, with the names the user could have given."""
    cfg = exp.config
    if opts.over is not None and opts.over not in cfg.parameters:
        raise InputError(f"--over {opts.over}: not a parameter; expected one of {', '.join(cfg.parameters)}")
    if opts.error_bars not in ERROR_BARS:
        raise InputError(f"--error-bars {opts.error_bars}: expected one of {', '.join(ERROR_BARS)}")
    if opts.logtable is not None and opts.logtable not in cfg.logtables:
        known = ", ".join(cfg.logtables) or "(the config has no logtables)"
        raise InputError(f"--logtable {opts.logtable}: not a logtable; expected one of {known}")
    if opts.best_by is not None and opts.best_by not in numeric_results(exp):
        raise InputError(f"--best-by {opts.best_by}: not a numeric result; expected one of "
                         f"{', '.join(numeric_results(exp)) or '(none)'}")


def numeric_results(exp: Experimenter) -> list[str]:
    return [name for name, t in exp.config.results.items() if t.kind in NUMERIC_KINDS]


def report_data(exp: Experimenter, opts: ReportOptions) -> dict[str, Any]:
    """Everything the report page draws, as plain data (the dashboard sends it as JSON)."""
    check_options(exp, opts)
    store, cfg = exp.store, exp.config
    counts = store.counts(cfg.stale_after_seconds)
    lost = counts.pop("stale", 0)
    total = sum(counts.values())
    minutes = finished_per_minute(exp, None)
    per_minute = recent_rate(minutes)
    remaining = counts["created"] + counts["running"]
    per_second = per_minute / 60.0
    return {
        "table": cfg.name,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "total": total,
        "counts": counts,
        "lost": lost,
        "per_minute": round(per_minute, 2),
        "eta_seconds": round(remaining / per_second, 1) if per_second > 0 and remaining else None,
        "minutes": minutes,
        "errors": error_groups(exp),
        **outcomes(exp),
        "error_bars": opts.error_bars,
        "over": opts.over,
        "effects": effects(exp, opts),
        "best": best_rows(exp, opts),
        "logtable": log_curves(exp, opts.logtable) if opts.logtable else None,
    }


def recent_rate(minutes: Sequence[Mapping[str, int]], window: int = RATE_MINUTES) -> float:
    """Rows finished per minute over the last few minutes, read off the per-minute counts
    (one query fewer than `pyexp status`'s finer measure, which scans the table per window)."""
    recent = minutes[-window:]
    return sum(m["done"] + m["error"] for m in recent) / len(recent) if recent else 0.0


def _lines(text: str | None) -> list[str]:
    return [ln.rstrip() for ln in (text or "").strip().splitlines() if ln.strip()]


def error_groups(exp: Experimenter, examples: int = 5) -> list[dict[str, Any]]:
    """Failed rows by the last line of their traceback, with example ids and the last lines."""
    groups: dict[str, dict[str, Any]] = {}
    for row in exp.store.query("error_texts", limit=200):
        lines = _lines(row["error"])
        key = lines[-1].strip() if lines else "(no message)"
        group = groups.setdefault(key, {"message": key, "count": 0, "example_ids": [], "tail": lines[-_TAIL_LINES:]})
        group["count"] += int(row["n"])
        for i in (int(row["first_id"]), int(row["last_id"])):
            if i not in group["example_ids"] and len(group["example_ids"]) < examples:
                group["example_ids"].append(i)
    return sorted(groups.values(), key=lambda g: -g["count"])


def outcomes(exp: Experimenter) -> dict[str, Any]:
    """Attempts per host and per worker by outcome; a host where most finished attempts did
    not end `done` is flagged, since a broken node fails every run sent to it."""
    hosts: dict[str, dict[str, int]] = {}
    workers: dict[str, dict[str, int]] = {}
    kinds: set[str] = set()
    for row in exp.store.query("host_outcomes"):
        outcome, n = str(row["outcome"]), int(row["n"])
        kinds.add(outcome)
        for table, key in ((hosts, row["machine"]), (workers, row["worker"])):
            entry = table.setdefault(str(key or "?"), {})
            entry[outcome] = entry.get(outcome, 0) + n
    order = sorted(kinds, key=lambda k: (k not in ("done", "error", "running"), k))

    def listed(table: dict[str, dict[str, int]], limit: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, seen in table.items():
            ended = sum(v for k, v in seen.items() if k != "running")
            bad = ended - seen.get("done", 0)
            out.append({"name": name, "counts": seen, "total": sum(seen.values()),
                        "suspect": ended >= 3 and bad * 2 > ended})
        out.sort(key=lambda e: (not e["suspect"], -e["total"], e["name"]))
        return out[:limit]

    return {"outcome_kinds": order, "hosts": listed(hosts, 200), "workers": listed(workers, 50)}


def _spread(n: int, mean: float, sq: float) -> float:
    """Sample standard deviation from a count, a mean and a mean square."""
    if n < 2:
        return 0.0
    return math.sqrt(max(sq - mean * mean, 0.0) * n / (n - 1))


def _bar(std: float, n: int, kind: str) -> float:
    return 1.96 * std / math.sqrt(n) if kind == "ci95" and n > 0 else std


def effects(exp: Experimenter, opts: ReportOptions) -> list[dict[str, Any]]:
    """Per parameter (but --over's) and numeric result: mean and error bar per value.

    Without --over the bar spans the done rows of each value (averaged over the other
    parameters); with --over P, each value of P first gives one mean, and the bar spans those
    means, so that (say) seeds are what the bar measures."""
    results = numeric_results(exp)
    if not results:
        return []
    out = []
    for param in exp.config.parameters:
        if param == opts.over:
            continue
        group = [param] if opts.over is None else [param, opts.over]
        rows = exp.store.query("moments", group=group, columns=results, limit=MAX_GROUPS)
        for result in results:
            out.append({"parameter": param, "result": result,
                        "points": _points(rows, param, result, opts.over is not None, opts.error_bars)})
    return out


def _points(rows: Sequence[Mapping[str, Any]], param: str, result: str, nested: bool, kind: str) -> list[dict[str, Any]]:
    by_value: dict[Any, list[tuple[int, float, float]]] = {}
    for row in rows:
        n = int(row[f"{result}__n"] or 0)
        if n:
            entry = (n, float(row[f"{result}__mean"]), float(row[f"{result}__sq"]))
            by_value.setdefault(row[param], []).append(entry)
    points = []
    for value, entries in by_value.items():
        if nested:  # one mean per value of --over; the bar spans them
            means = [m for _, m, _ in entries]
            n = len(means)
            mean = sum(means) / n
            std = _spread(n, mean, sum(m * m for m in means) / n)
        else:
            n, mean, sq = entries[0]
            std = _spread(n, mean, sq)
        points.append({"value": value, "mean": mean, "error": _bar(std, n, kind), "n": n})
    return points


def best_rows(exp: Experimenter, opts: ReportOptions) -> dict[str, Any] | None:
    results = numeric_results(exp)
    by = opts.best_by or (results[0] if results else None)
    if by is None or opts.best <= 0:
        return None
    columns = [*exp.config.parameters, *exp.config.results]
    rows = exp.store.query("best", columns=columns, by=by, descending=not opts.minimize, limit=opts.best)
    return {"by": by, "minimize": opts.minimize, "columns": ["ID", *columns],
            "rows": [[_plain(r[c]) for c in ["ID", *columns]] for r in rows]}


def log_curves(exp: Experimenter, name: str) -> dict[str, Any]:
    """Per numeric column of the logtable: mean and std band per step over all runs."""
    columns = [c for c, t in exp.config.logtables[name].items() if t.kind in NUMERIC_KINDS]
    curves: dict[str, list[dict[str, Any]]] = {c: [] for c in columns}
    if columns:
        table = exp.store.schema.logtable(name)
        for row in exp.store.query("log_curve", table=table, columns=columns):
            for c in columns:
                n = int(row[f"{c}__n"] or 0)
                if n:
                    mean = float(row[f"{c}__mean"])
                    curves[c].append({"step": int(row["run_step"]), "mean": mean, "n": n,
                                      "std": _spread(n, mean, float(row[f"{c}__sq"]))})
    return {"name": name, "curves": curves}


def _plain(value: Any) -> Any:
    """JSON-ready: numbers and text stay, anything else (dates, decimals) becomes text."""
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)
