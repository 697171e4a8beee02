"""`pyexp report`: one HTML file that opens anywhere, with nothing fetched from the network.

plotly.js (from the optional `[report]` extra) is written into the page itself, as are the
data and the small script that draws it: the file can be copied off a login node and opened
on a laptop without a connection. The dashboard serves the same page and refreshes its data.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from ... import escaping
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


PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _template(name: str) -> str:
    return resources.files(__package__).joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def page(data: dict[str, Any], data_url: str | None = None, interval_seconds: float = 3.0) -> str:
    """The whole page; with `data_url`, it fetches fresh data from there every few seconds."""
    js = plotly_js()
    title = f"{data['table']}: pyexp {'dashboard' if data_url else 'report'}"
    values = {
        "title": escaping.html(title),
        "mode": "dashboard" if data_url else "report",
        "live": "live" if data_url else "",
        "css": _template("page.css"),
        "data_url": escaping.script_json(data_url),
        "interval_ms": str(int(interval_seconds * 1000)),
        "payload": escaping.script_json(payload(data)),
        "plotly": js.replace("</script", "<\\/script"),
    }
    # One pass over the template: a value that looks like a placeholder (a parameter named
    # `{{plotly}}`, plotly.js's own text) is never filled in again.
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], _template("page.html"))


def write_report(exp: Experimenter, output: str | Path, opts: ReportOptions) -> dict[str, Any]:
    """Write the report of `exp` to `output`; returns what the summary line needs."""
    plotly_js()  # the missing extra is one line, before any query
    folder = Path(output).resolve().parent
    if not folder.is_dir():
        raise InputError(f"-o {output}: the folder {folder} does not exist")
    check_options(exp, opts)
    data = report_data(exp, opts)
    text = page(data)
    Path(output).write_text(text, encoding="utf-8")
    return {"path": str(output), "bytes": len(text.encode()), "charts": len(figures.figures(data)),
            "total": data["total"]}
