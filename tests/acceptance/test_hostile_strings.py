"""Property-style: random hostile strings (markup, escape sequences, `{{...}}`, `<!--`,
`</script>`, NUL, 100,000 characters, right-to-left marks, emoji, SQL and format
characters) as parameter values, text results, errors and logtable values, through every
command, on SQLite and MariaDB (issue 23's acceptance).

What must hold for every string: nothing crashes and no row is left running; a parameter
value is stored exactly, or the fill is refused with exit 2 and one line; a result (and a log
row) is stored exactly, or that attempt failed with the refusal naming its column while the
worker went on; status, results, logs, report and dashboard all answer, and both pages draw
in Chromium without a script error. A fixed seed keeps it reproducible, and small.
"""

from __future__ import annotations

import json
import random
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from test_report_browser import charts, load

from pyexperimenter import Experimenter
from pyexperimenter.cli import main

pytest.importorskip("plotly")

PIECES = ["<script>alert(1)</script>", "</script>", "<!--", "<!--<script>", "-->", "{{plotly}}", "{{payload}}",
          "{{title}}", "[/]", "[bold]", "[link=http://evil.example]x[/link]", "\x1b]0;title\x07", "\x1b[31m",
          "\x1b[2J", "\x00", "\u202e", "\u200f", "\u2028", "😀", "👩‍🔬", "'; DROP TABLE exp; --", "%s", "%(x)s", "?",
          "\\", '"', "&amp;", "&lt;", "=HYPERLINK(\"http://x\")", "+1", "\r\n", "\t", "é", "ß", "中文", " ", "null"]
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # the text a DOUBLE takes, as MariaDB does
SEED = 23
COUNT = 14  # strings per run, one of them 100,000 characters long

FUNCTIONS = '''
def hostile(parameters, result_processor, custom):
    s = parameters["s"]
    print("printing", s)
    result_processor.process_logs({"steps": {"step": 1, "note": s}})
    if parameters["i"] % 4 == 3:
        raise ValueError(s)
    return {"r": s, "t": s, "n": s if parameters["i"] % 4 == 2 else 1.5}
'''


def hostile_strings(rng: random.Random) -> list[str]:
    found = {"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6))) for _ in range(COUNT - 1)}
    found.add("".join(rng.choice(PIECES) for _ in range(40)) + "x" * 100_000)
    return sorted(found, key=len)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})


def config(folder: Path, db_url: str, strings: list[str], s_type: str | None) -> Path:
    s_spec: Any = {"values": strings, **({"type": s_type} if s_type else {})}
    data = {
        "experiment": {"name": "hostile", "function": "hostile_fns:hostile", "max_attempts": 1,
                       "heartbeat_seconds": 1, "stale_after_seconds": 30},
        "database": {"url": db_url},
        "parameters": {"zip": {"s": s_spec, "i": list(range(len(strings)))}},
        "results": {"r": "VARCHAR(64)", "t": "TEXT", "n": "DOUBLE"},
        "logtables": {"steps": {"step": "INT", "note": "TEXT"}},
    }
    path = folder / f"hostile_{s_type or 'inferred'}.yml".replace("(", "").replace(")", "")
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=False))
    return path


def storable(strings: list[str], db_url: str) -> list[str]:
    """PostgreSQL cannot store NUL in text: there it is refused at fill (checked in
    tests/integration/test_hostile_values.py), so the rest of each string goes through."""
    return [s.replace("\x00", "\\0") for s in strings] if db_url.startswith("postgres") else strings


def test_hostile_strings_through_every_command(db_url: str, tmp_path: Path) -> None:
    strings = storable(hostile_strings(random.Random(SEED)), db_url)
    (tmp_path / "hostile_fns.py").write_text(FUNCTIONS)

    # A declared column too short for some values: refused at fill, one line, nothing written.
    short = config(tmp_path, db_url, strings, "VARCHAR(64)")
    refused = invoke("fill", str(short))
    assert refused.exit_code == 2, refused.output
    assert len(refused.stderr.strip().splitlines()) == 1 and "VARCHAR(64)" in refused.stderr
    assert len(refused.stderr) < 500

    # Types inferred to hold every value: stored exactly, and the experiment gets them whole.
    path = config(tmp_path, db_url, strings, None)
    assert invoke("fill", str(path)).exit_code == 0
    ran = invoke("run", str(path))
    assert ran.exit_code == 0, ran.output
    exp = Experimenter(path)
    rows = {r["i"]: r for r in exp.get_table().to_dict("records")}
    assert [rows[i]["s"] for i in range(len(strings))] == strings  # stored exactly
    assert {r["status"] for r in rows.values()} <= {"done", "error"}  # nothing left running or open
    notes = {}
    for log in exp.get_logtable("steps").to_dict("records"):
        notes[log["experiment_id"]] = log["note"]
    for i, s in enumerate(strings):
        row = rows[i]
        if len(s.encode()) > 65_535:  # the log row's TEXT refuses it: the attempt failed, naming the column
            assert row["status"] == "error" and "steps.note" in row["error"] and "TEXT" in row["error"], row
        elif i % 4 == 3:
            assert row["status"] == "error" and s in row["error"]  # the error text kept whole
        elif len(s) > 64:
            assert row["status"] == "error" and "'r'" in row["error"] and "VARCHAR(64)" in row["error"], row
        elif i % 4 == 2 and not NUMBER.fullmatch(s):
            assert row["status"] == "error" and "'n'" in row["error"] and "takes a number" in row["error"], row
        else:
            assert row["status"] == "done", row
            assert row["r"] == s and row["t"] == s  # stored exactly
        if len(s.encode()) <= 65_535:
            assert notes[row["ID"]] == s  # the log row too

    status = invoke("status", str(path))
    assert status.exit_code == 0, status.output
    assert "\x1b" not in status.output and "\x07" not in status.output and "\u202e" not in status.output
    as_json = json.loads(invoke("status", str(path), "--json").output)
    assert as_json["counts"]["running"] == 0 and as_json["total"] == len(strings)
    for fmt in ("table", "csv", "json", "jsonl"):
        out = invoke("results", str(path), "--format", fmt)
        assert out.exit_code == 0, (fmt, out.output[-500:])
        if fmt == "table":
            assert "\x1b" not in out.output and "\u202e" not in out.output
    assert json.loads(invoke("results", str(path), "--format", "json").output)[0]["s"] in strings
    for row_id in sorted(r["ID"] for r in rows.values()):
        logs = invoke("logs", str(path), str(row_id))
        assert logs.exit_code == 0, logs.output[-500:]

    report = tmp_path / "report.html"
    made = invoke("report", str(path), "-o", str(report), "--logtable", "steps")
    assert made.exit_code == 0, made.output
    assert report.stat().st_size < 20_000_000  # plotly.js once, not once per `{{plotly}}`
    assert charts(load(report.as_uri(), budget_ms=4000)) >= 3
    if db_url.startswith("sqlite"):  # the same page and data path on either database: drawn once
        _dashboard_draws(path)


def _dashboard_draws(path: Path) -> None:
    from pyexperimenter.views.html.dashboard import Dashboard
    from pyexperimenter.views.report_data import ReportOptions

    server = Dashboard(Experimenter(path), ReportOptions(logtable="steps"), port=0, interval_seconds=1.0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        assert charts(load(server.url, budget_ms=4000)) >= 3
    finally:
        server.shutdown()
        server.server_close()
