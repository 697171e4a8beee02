"""`pyexp status` as data: counts, running rows, lost runs, grouped errors, throughput, ETA.

Built here rather than in the CLI so `--json`, the rich view and Python callers agree.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from .experiment import Experimenter

THROUGHPUT_WINDOW_SECONDS = 300.0


def _last_line(error: str | None) -> str:
    lines = [ln.strip() for ln in (error or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no message)"


def status_report(exp: Experimenter, window_seconds: float = THROUGHPUT_WINDOW_SECONDS) -> dict[str, Any]:
    store, cfg = exp.store, exp.config
    counts = store.counts(cfg.stale_after_seconds)
    stale = counts.pop("stale", 0)
    total = sum(counts.values())
    running = store.query("running", stale_after_seconds=cfg.stale_after_seconds)
    groups: OrderedDict[str, dict[str, Any]] = OrderedDict()
    for row in store.query("errors"):
        key = _last_line(row["error"])
        group = groups.setdefault(key, {"message": key, "count": 0, "example_ids": []})
        group["count"] += 1
        if len(group["example_ids"]) < 5:
            group["example_ids"].append(int(row["ID"]))
    errors = sorted(groups.values(), key=lambda g: -g["count"])

    finished_recently = int(store.query("finished_since", seconds=window_seconds)[0]["n"] or 0)
    first = store.query("first_end")[0]
    age = float(first["age_seconds"]) if first["age_seconds"] is not None else 0.0
    span = min(window_seconds, max(age, 1.0))
    throughput = finished_recently / span if finished_recently else 0.0
    remaining = counts["created"] + counts["running"]
    eta = remaining / throughput if throughput > 0 and remaining else None

    return {
        "table": cfg.name,
        "database": cfg.database.url,
        "total": total,
        "counts": counts,
        "percent": {k: (100.0 * v / total if total else 0.0) for k, v in counts.items()},
        "stale": stale,
        "running": [_running_entry(r) for r in running],
        "errors": errors,
        "throughput_per_minute": round(throughput * 60, 2),
        "throughput_window_seconds": window_seconds,
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "stale_after_seconds": cfg.stale_after_seconds,
    }


def _running_entry(row: dict[str, Any]) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        return v.isoformat(sep=" ") if isinstance(v, datetime) else (str(v) if v is not None else None)

    return {
        "id": int(row["ID"]),
        "worker": row["worker"],
        "host": row["machine"],
        "slurm_job_id": row["slurm_job_id"],
        "attempt": int(row["attempts"]),
        "start_date": iso(row["start_date"]),
        "runtime_seconds": round(float(row["runtime_seconds"] or 0), 1),
        "heartbeat_age_seconds": round(float(row["heartbeat_age_seconds"] or 0), 1),
        "lost": bool(row["stale"]),
    }


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{m:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"
