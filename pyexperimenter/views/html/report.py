"""`pyexp report`: one HTML file that opens anywhere, with nothing fetched from the network.

plotly.js (from the optional `[report]` extra) is written into the page itself, as are the
data and the small script that draws it: the file can be copied off a login node and opened
on a laptop without a connection. The dashboard serves the same page and refreshes its data.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...experiment import Experimenter
from ..report_data import ReportOptions, check_options, report_data
from . import figures, sections

INSTALL_HINT = "pyexp report and dashboard need plotly: pip install 'pyexperimenter[report]'"


def plotly_js() -> str:
    """The plotly.js bundle shipped inside the plotly package (no CDN, no download)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return str(get_plotlyjs())


def payload(data: dict[str, Any]) -> dict[str, Any]:
    """What the page's script draws: the HTML parts, the figures and a few raw numbers."""
    return {"generated": data["generated"], "counts": data["counts"], "total": data["total"],
            "logtable": data["logtable"] is not None, "html": sections.sections(data),
            "figures": figures.figures(data)}


def _json(value: Any) -> str:
    """JSON that is safe inside <script>: no `</` can end the element early."""
    return json.dumps(value, default=str, allow_nan=False).replace("</", "<\\/")


def _template(name: str) -> str:
    return resources.files(__package__).joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def page(data: dict[str, Any], data_url: str | None = None, interval_seconds: float = 3.0) -> str:
    """The whole page; with `data_url`, it fetches fresh data from there every few seconds."""
    from html import escape

    js = plotly_js()
    title = f"{data['table']}: pyexp {'dashboard' if data_url else 'report'}"
    values = {
        "title": escape(title),
        "mode": "dashboard" if data_url else "report",
        "live": "live" if data_url else "",
        "css": _template("page.css"),
        "data_url": json.dumps(data_url),
        "interval_ms": str(int(interval_seconds * 1000)),
        "payload": _json(payload(data)),
    }
    text = _template("page.html")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    # plotly.js last: its own text may hold anything that looks like a placeholder.
    return text.replace("{{plotly}}", js.replace("</script", "<\\/script"))


def write_report(exp: Experimenter, output: str | Path, opts: ReportOptions) -> dict[str, Any]:
    """Write the report of `exp` to `output`; returns what the summary line needs."""
    plotly_js()  # the missing extra is one line, before any query
    check_options(exp, opts)
    data = report_data(exp, opts)
    text = page(data)
    Path(output).write_text(text, encoding="utf-8")
    return {"path": str(output), "bytes": len(text.encode()), "charts": len(figures.figures(data)),
            "total": data["total"]}
