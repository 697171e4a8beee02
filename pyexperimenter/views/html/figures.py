"""The report's charts as plotly figures (plain JSON), from report_data's aggregates.

Each chart has an id that stays the same from one refresh to the next, so the dashboard
updates a chart in place (Plotly.react) instead of redrawing the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ...escaping import plotly_text as _t  # plotly reads HTML in its labels: every stored text through it

COLORS = {"created": "#4c78a8", "running": "#f2b701", "done": "#54a24b", "error": "#e45756", "paused": "#b279a2"}
_OUTCOME_COLORS = {**COLORS, "failed": "#e45756", "lost": "#9d755d", "reset": "#bab0ac", "released": "#72b7b2",
                   "time_limit": "#eeca3b", "preempted": "#ff9da6"}


def _layout(title: str, x: str, y: str, **more: Any) -> dict[str, Any]:
    return {"title": {"text": _t(title)}, "xaxis": {"title": {"text": _t(x)}}, "yaxis": {"title": {"text": _t(y)}},
            "height": 300, "margin": {"l": 60, "r": 20, "t": 45, "b": 55}, "legend": {"orientation": "h"}, **more}


def _figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    return {"data": data, "layout": layout}


def progress(d: dict[str, Any]) -> dict[str, Any]:
    traces = [{"type": "bar", "orientation": "h", "name": _t(status), "x": [n], "y": ["rows"],
               "marker": {"color": COLORS.get(status)}} for status, n in d["counts"].items()]
    return _figure(traces, _layout("Progress by status", "rows", "", barmode="stack", height=200))


def per_minute(d: dict[str, Any]) -> dict[str, Any]:
    x = [m["minutes_ago"] for m in d["minutes"]]
    traces = [{"type": "bar", "name": s, "x": x, "y": [m[s] for m in d["minutes"]], "marker": {"color": COLORS[s]}}
              for s in ("done", "error")]
    return _figure(traces, _layout("Finished per minute", "minutes ago", "rows finished", barmode="stack"))


def hosts(d: dict[str, Any]) -> dict[str, Any]:
    names = [_t(str(h["name"]) + (" (suspect)" if h["suspect"] else "")) for h in d["hosts"]]
    traces = [{"type": "bar", "name": _t(kind), "x": names, "y": [h["counts"].get(kind, 0) for h in d["hosts"]],
               "marker": {"color": _OUTCOME_COLORS.get(kind)}} for kind in d["outcome_kinds"]]
    return _figure(traces, _layout("Attempts per host by outcome", "host", "attempts", barmode="stack"))


def _unevenness(xs: Sequence[float]) -> float:
    gaps = [b - a for a, b in zip(xs, xs[1:])]
    return max(gaps) / min(gaps)


def log_axis(values: Sequence[float]) -> bool:
    """Whether a numeric parameter reads better on a log axis: positive values spanning at
    least a decade, at least three of them, and more evenly spaced as logarithms than as
    numbers (0.1, 1, 10, 100 are; 10, 50, 100, 150 are not). On a linear axis a grid like
    C = 0.1, 1, 10, 100 puts its first points on top of each other."""
    xs = sorted({float(v) for v in values})
    if len(xs) < 3 or xs[0] <= 0 or xs[-1] / xs[0] < 10:
        return False
    return _unevenness([math.log(x) for x in xs]) < _unevenness(xs)


def effect(e: dict[str, Any], bars: str, over: str | None) -> dict[str, Any]:
    points = e["points"]
    spread = "95% CI" if bars == "ci95" else "std"
    across = f"over {over}" if over else "over the other parameters"
    numeric = all(isinstance(p["value"], (int, float)) and not isinstance(p["value"], bool) for p in points)
    x = [p["value"] if numeric else _t(p["value"]) for p in points]
    trace = {"type": "scatter", "mode": "lines+markers" if numeric else "markers", "name": _t(e["result"]), "x": x,
             "y": [p["mean"] for p in points], "text": [f"n={p['n']}" for p in points],
             "error_y": {"type": "data", "array": [p["error"] for p in points], "visible": True}}
    layout = _layout(f"{e['result']} by {e['parameter']} (mean ± {spread} {across})", e["parameter"],
                     f"{e['result']} (mean ± {spread})", showlegend=False)
    if not numeric:
        layout["xaxis"]["type"] = "category"
    elif log_axis([p["value"] for p in points]):
        layout["xaxis"]["type"] = "log"
    return _figure([trace], layout)


def log_curve(name: str, column: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    steps = [p["step"] for p in points]
    upper = [p["mean"] + p["std"] for p in points]
    lower = [p["mean"] - p["std"] for p in points]
    band = {"type": "scatter", "x": steps + steps[::-1], "y": upper + lower[::-1], "fill": "toself", "name": "± std",
            "line": {"width": 0}, "fillcolor": "rgba(76,120,168,0.25)", "hoverinfo": "skip"}
    mean = {"type": "scatter", "mode": "lines", "name": "mean", "x": steps, "y": [p["mean"] for p in points],
            "line": {"color": "#4c78a8"}}
    return _figure([band, mean], _layout(f"{name}.{column}: mean ± std over runs", "step", column))


def figures(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Every chart of the page as {id, section, figure}, in page order."""
    out = [{"id": "chart-progress", "section": "progress", "figure": progress(d)}]
    if d["minutes"]:
        out.append({"id": "chart-minutes", "section": "progress", "figure": per_minute(d)})
    if d["hosts"]:
        out.append({"id": "chart-hosts", "section": "hosts", "figure": hosts(d)})
    for e in d["effects"]:
        if e["points"]:
            out.append({"id": f"chart-effect-{e['result']}-{e['parameter']}", "section": "effects",
                        "figure": effect(e, d["error_bars"], d["over"])})
    if d["logtable"]:
        for column, points in d["logtable"]["curves"].items():
            if points:
                out.append({"id": f"chart-log-{column}", "section": "logtable",
                            "figure": log_curve(d["logtable"]["name"], column, points)})
    return out
