"""The report's text parts as HTML: the summary line, errors, hosts and workers, what
attempts used, best rows.

Everything that comes from the database (tracebacks, host names, parameter values) is
escaped here, once, by pyexperimenter/escaping.py's rule: a traceback may hold any text at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...escaping import html as escape  # the one HTML rule (pyexperimenter/escaping.py)
from ..formatting import format_duration, format_ids


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] = ()) -> str:
    cells = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape("" if value is None else str(value))


def summary(d: dict[str, Any]) -> str:
    total = d["total"] or 1
    counts = " ".join(
        f'<span class="count {s}">{escape(s)} <b id="count-{s}">{n}</b> ({100.0 * n / total:.1f}%)</span>'
        for s, n in d["counts"].items())
    finished = d["counts"]["done"] + d["counts"]["error"]
    lost = f' · <span class="error">{d["lost"]} lost</span>' if d["lost"] else ""
    return (f'<p class="counts">{counts}</p><p><b id="finished">{finished}</b>/<b id="total">{d["total"]}</b> '
            f'finished · {d["per_minute"]:.4g}/min · ETA <b id="eta">{escape(format_duration(d["eta_seconds"]))}</b>'
            f'{lost} · as of {escape(d["generated"])}</p>')


def errors(d: dict[str, Any]) -> str:
    if not d["errors"]:
        return "<p>No errors.</p>"
    rows = [[g["count"], g["message"], format_ids(g["example_ids"])] for g in d["errors"]]
    tails = "".join(f"<details><summary>{escape(g['message'])}</summary><pre>{escape(chr(10).join(g['tail']))}</pre>"
                    "</details>" for g in d["errors"])
    return _table(["rows", "error (last line)", "example ids"], rows) + tails


def hosts(d: dict[str, Any]) -> str:
    kinds = d["outcome_kinds"]
    if not d["hosts"]:
        return "<p>No attempts yet.</p>"

    def part(entries: list[dict[str, Any]], label: str) -> str:
        rows = [[e["name"], *[e["counts"].get(k, 0) for k in kinds], e["total"]] for e in entries]
        return _table([label, *kinds, "attempts"], rows, ["suspect" if e["suspect"] else "" for e in entries])

    note = ('<p class="error">Hosts in red failed most of their attempts: look at them before sending more work.</p>'
            if any(h["suspect"] for h in d["hosts"]) else "")
    return note + part(d["hosts"], "host") + "<h3>Workers</h3>" + part(d["workers"], "worker")


def usage(d: dict[str, Any]) -> str:
    """What ended attempts used, per outcome (status_data.usage_by_outcome); the isolation's
    memory limit beside the out-of-memory ones, the first question after such a failure."""
    found = {o: u for o, u in sorted(d.get("usage", {}).items()) if u["measured"] or u["wall_seconds_mean"] is not None}
    if not found:
        return "<p>No attempt measured yet.</p>"
    limit = d.get("memory_limit_mb")
    rows = [[o, u["attempts"], u["peak_rss_mb_max"], u["peak_rss_mb_mean"], u["wall_seconds_mean"],
             u["cpu_seconds_total"], u["gpu_peak_mb_max"], limit if o == "oom" else None] for o, u in found.items()]
    return _table(["outcome", "attempts", "peak MB (max)", "peak MB (mean)", "wall s (mean)", "CPU s (total)",
                   "GPU MB (max)", "memory_limit_mb"], rows)


def best(d: dict[str, Any]) -> str:
    b = d["best"]
    if not b:
        return "<p>No numeric result to rank by.</p>"
    if not b["rows"]:
        return "<p>No done rows yet.</p>"
    order = "lowest" if b["minimize"] else "highest"
    return f"<p>By {escape(b['by'])}, {order} first.</p>" + _table(b["columns"], b["rows"])


def sections(d: dict[str, Any]) -> dict[str, str]:
    return {"summary": summary(d), "errors": errors(d), "hosts-table": hosts(d), "usage": usage(d), "best": best(d)}
