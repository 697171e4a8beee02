"""`pyexp status` as data: counts, running rows, lost runs, grouped errors, throughput, ETA.

Built here rather than in the CLI so `--json`, the rich view and Python callers agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..errors import InputError
from ..experiment import Experimenter
from ..store.schema import error_summary

THROUGHPUT_WINDOW_SECONDS = 300.0
# Shorter windows tried when everything recent finished inside one of them: a run that
# started 20 s ago is measured over ~20 s, not diluted over the full window.
_PROBE_WINDOWS = (10.0, 30.0, 60.0, 120.0)
SPARK_MINUTES = 60
_ALL_MINUTES = 10 * 366 * 24 * 60  # "since the first row finished", without a query to find when


def status_report(exp: Experimenter, window_seconds: float = THROUGHPUT_WINDOW_SECONDS,
                  where: Sequence[str] = ()) -> dict[str, Any]:
    """Everything `pyexp status` shows, as JSON-ready data (the `--json` fields in docs/cli.md).
    With `where`, counts, running rows and errors are those of the matching rows (the
    throughput stays the table's: the workers share it)."""
    store, cfg = exp.store, exp.config
    selected = store.filter(where)
    # One transaction: the counts (off the counters kept with the table, store/counters.py,
    # or counted in it), the error groups, the finished rows per minute (the sparkline and the
    # throughput) and the lost runs (store/reports.py).
    summary = store.status_groups(stale_after_seconds=cfg.stale_after_seconds, where=selected,
                                  minutes=SPARK_MINUTES)
    counts, errors, minutes = summary["counts"], summary["errors"], summary["minutes"]
    stale = counts.pop("stale", 0)
    total = sum(counts.values())
    ids = set(store.ids(selected)) if selected else None
    found = store.running(stale_after_seconds=cfg.stale_after_seconds)
    running = [_running_entry(r) for r in found if ids is None or int(r["ID"]) in ids]
    running.sort(key=lambda r: (not r["lost"], r["id"]))  # lost ones first: they need attention
    outcomes = summary["outcomes"] if "outcomes" in summary else \
        {str(r["outcome"]): int(r["n"]) for r in store.attempt_outcomes()}
    rate_now = throughput(exp, window_seconds, minutes, summary.get("second"))
    remaining = counts["created"] + counts["running"]
    rate = rate_now["per_minute"] / 60.0
    eta = remaining / rate if rate > 0 and remaining else None
    return {
        "table": cfg.name,
        "database": cfg.database.url,
        "where": list(where),
        "total": total,
        "counts": counts,
        "percent": {k: (100.0 * v / total if total else 0.0) for k, v in counts.items()},
        "stale": stale,
        "finished": counts["done"] + counts["error"],
        "open": remaining,
        "running": running,
        "lost_ids": [r["id"] for r in running if r["lost"]],
        "errors": errors,
        "outcomes": outcomes,
        "peak_rss_mb": peak_memory(exp, outcomes),
        "memory_limit_mb": cfg.memory_limit_mb,
        "quarantined": [_quarantined_entry(r) for r in store.quarantined_workers()],
        "throughput": rate_now,
        "throughput_per_minute": rate_now["per_minute"],
        "throughput_window_seconds": rate_now["window_seconds"],
        "finished_last_hour": [minutes.get(ago, 0) for ago in range(SPARK_MINUTES - 1, -1, -1)],
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "stale_after_seconds": cfg.stale_after_seconds,
        "heartbeat_seconds": cfg.heartbeat_seconds,
        "max_attempts": cfg.max_attempts,
    }


def _number(value: Any, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def peak_memory(exp: Experimenter, outcomes: dict[str, int]) -> dict[str, float]:
    """The highest peak memory of the ended attempts of each outcome (worker/usage.py): the
    peak of OOM-killed attempts beside the limit is the first question after such a failure.
    One index seek per outcome, not a read of the attempts: status stays within its
    million-row budget (docs/performance.md); means and totals are the report's."""
    ended = [o for o, n in sorted(outcomes.items()) if n and o != "running"]
    return {o: round(v, 1) for o, v in exp.store.peak_memory(ended).items()} if ended else {}


def usage_by_outcome(exp: Experimenter) -> dict[str, dict[str, Any]]:
    """What ended attempts used, per outcome (worker/usage.py measures it), for the report:
    a GROUP BY that reads every attempt, which `pyexp status` leaves out (peak_memory)."""
    found: dict[str, dict[str, Any]] = {}
    for r in exp.store.attempt_usage():
        found[str(r["outcome"])] = {
            "attempts": int(r["n"]), "measured": int(r["measured"] or 0),
            "peak_rss_mb_max": _number(r["peak_rss_mb_max"]), "peak_rss_mb_mean": _number(r["peak_rss_mb_mean"]),
            "wall_seconds_mean": _number(r["wall_seconds_mean"], 3),
            "cpu_seconds_total": _number(r["cpu_seconds_total"], 3),
            "gpu_peak_mb_max": _number(r["gpu_peak_mb_max"]),
        }
    return found


def throughput(exp: Experimenter, window_seconds: float, minutes: dict[int, int] | None = None,
               second: float | None = None) -> dict[str, Any]:
    """Rows finished (done or error) per minute over the last `window_seconds`, measured
    over the part of the window in which work actually finished. Server clock only. With
    `minutes` (the per-minute counts status read already), whole-minute windows are summed
    from it, not counted again: at 10,000 workers the last five minutes hold 50,000 rows.
    With `second` those minutes are the clock's (the counters'), minute 0 `second` seconds
    old: the window is whole minutes plus the current one's part, and nothing is counted."""
    if minutes is not None and second is not None:
        return _throughput_of_minutes(exp, window_seconds, minutes, second)
    finished = _finished_since(exp, window_seconds, minutes)
    span = window_seconds
    if finished:
        span = _since_first_end(exp, span)
        for probe in _PROBE_WINDOWS:
            if probe < span and _finished_since(exp, probe, minutes) == finished:
                span = probe
                break
        span = max(span, 1.0)
    return _rate(finished, span, window_seconds)


def _throughput_of_minutes(exp: Experimenter, window_seconds: float, minutes: dict[int, int],
                           second: float) -> dict[str, Any]:
    whole = max(math.ceil(window_seconds / 60.0) - 1, 0)  # 300 s: this minute and the 4 before
    recent = [ago for ago in range(whole + 1) if minutes.get(ago)]
    finished = sum(minutes[ago] for ago in recent)
    span = 60.0 * whole + second
    if finished:  # from the start of the oldest minute in which something finished
        span = max(_since_first_end(exp, 60.0 * max(recent) + second), 1.0)
    return _rate(finished, span, window_seconds)


def _since_first_end(exp: Experimenter, span: float) -> float:
    """`span`, or less if the first row finished more recently (a run that just started)."""
    first = exp.store.first_end()
    return span if first["age_seconds"] is None else min(span, float(first["age_seconds"]))


def _rate(finished: int, span: float, window_seconds: float) -> dict[str, Any]:
    per_minute = 60.0 * finished / span if finished else 0.0
    return {
        "finished": finished,
        "window_seconds": round(span, 1),
        "max_window_seconds": window_seconds,
        "per_minute": round(per_minute, 2),
    }


def finished_per_minute(exp: Experimenter, minutes: int | None) -> list[dict[str, Any]]:
    """Rows done and failed per minute, oldest first, as minutes ago (the server's clock), every
    minute present; over the last `minutes`, or since the first row finished."""
    found: dict[int, dict[str, int]] = {}
    for row in exp.store.finished_per_minute(60.0 * (minutes or _ALL_MINUTES)):
        ago = int(row["minutes_ago"] or 0)
        found.setdefault(ago, {})[str(row["status"])] = int(row["n"])
    if minutes is None and not found:
        return []
    span = max([(minutes or 1) - 1, *found])
    return [{"minutes_ago": -ago, "done": found.get(ago, {}).get("done", 0), "error": found.get(ago, {}).get("error", 0)}
            for ago in range(span, -1, -1)]


def _finished_since(exp: Experimenter, seconds: float, minutes: dict[int, int] | None = None) -> int:
    whole = int(seconds // 60)
    if minutes is not None and seconds == 60 * whole and 0 < whole <= SPARK_MINUTES:
        return sum(n for ago, n in minutes.items() if ago < whole)
    return exp.store.finished_since(seconds)


def _quarantined_entry(row: dict[str, Any]) -> dict[str, Any]:
    since = row["since"]
    return {
        "host": row["machine"],
        "worker": row["worker"],
        "attempts": int(row["attempts"]),
        "since": since.isoformat(sep=" ") if isinstance(since, datetime) else since,
        "last_error": error_summary(row["error"]) or "(no message)",
    }


def _running_entry(row: dict[str, Any]) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        return v.isoformat(sep=" ") if isinstance(v, datetime) else (str(v) if v is not None else None)

    return {
        "id": int(row["ID"]),
        "worker": row["worker"],
        "host": row["machine"],
        "slurm_job_id": row["slurm_job_id"],  # the batch job, whatever the scheduler (the key predates SGE)
        "job_id": row["slurm_job_id"],
        "attempt": int(row["attempts"]),
        "start_date": iso(row["start_date"]),
        "runtime_seconds": round(float(row["runtime_seconds"] or 0), 1),
        "heartbeat_age_seconds": round(float(row["heartbeat_age_seconds"] or 0), 1),
        "lost": bool(row["stale"]),
    }


def reset_selection(exp: Experimenter, statuses: Sequence[str], ids: Sequence[int],
                    where: Sequence[str] = ()) -> dict[str, list[int]]:
    """The ids `reset` would touch, by status, to confirm and to report what was reset.

    Statuses, ids and `where` combine like `Experimenter.reset_experiments`: a row must
    match all that are given; `all` (or no status) matches every status."""
    from ..status import ALL_STATUSES

    for s in statuses:
        if s != "all" and s not in ALL_STATUSES:
            raise InputError(f"unknown status {s!r}; expected one of {', '.join(ALL_STATUSES)}, all")
    wanted = set(ALL_STATUSES) if not statuses or "all" in statuses else set(statuses)
    id_set = set(ids)
    matching = set(exp.store.ids(exp.store.filter(where))) if where else None
    selected: dict[str, list[int]] = {}
    for row in exp.store.rows():
        if matching is not None and int(row["ID"]) not in matching:
            continue
        if row["status"] in wanted and (not id_set or int(row["ID"]) in id_set):
            selected.setdefault(str(row["status"]), []).append(int(row["ID"]))
    return {s: selected[s] for s in ALL_STATUSES if s in selected}
