"""Pages and views that still draw whatever the rows hold (issue 23, cases 3, 4 and 5):
parameter values, results and errors with markup, placeholders, comment openers and escape
sequences; the dashboard answering only its own host names; `pyexp status` and `results`
printing stored text as text."""

from __future__ import annotations

import http.client
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.configs import ConfigMaker, config_maker
from test_report_browser import charts, load

from pyexperimenter import Experimenter
from pyexperimenter.cli import main

pytest.importorskip("plotly")

HOSTILE = ["{{plotly}}", "<!--<script>", '<a href="http://evil.example/">link</a>', "</script><b>x</b>",
           "plain"]


def hostile(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    if parameters["seed"] == 1:
        raise ValueError(f"bad {parameters['tag']} <!--<script> {{{{plotly}}}} [/] [link=http://x]y")
    return {"value": float(parameters["seed"]), "label": parameters["tag"][:60]}


@pytest.fixture
def sqlite_config(tmp_path: Path) -> ConfigMaker:
    return config_maker(tmp_path, f"sqlite:///{tmp_path / 'experiments.db'}")


def _sweep(make: ConfigMaker, tags: list[str]) -> Experimenter:
    exp = Experimenter(make(parameters={"tag": tags, "seed": {"start": 0, "stop": 3}},
                            experiment={"max_attempts": 1}))
    exp.fill_table_from_config()
    assert exp.execute(hostile) == [0]
    return Experimenter(exp.config.path)


def test_a_report_of_hostile_values_draws_and_stays_small(sqlite_config: ConfigMaker, tmp_path: Path) -> None:
    plain = _sweep(config_maker(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}"), ["p1", "p2", "p3", "p4", "p5"]) \
        if (tmp_path / "a").mkdir() is None else None
    exp = _sweep(sqlite_config, HOSTILE)
    out, base = tmp_path / "hostile.html", tmp_path / "plain.html"
    for e, path in ((exp, out), (plain, base)):
        assert e is not None
        result = CliRunner().invoke(main, ["report", str(e.config.path), "-o", str(path)])
        assert result.exit_code == 0, result.output
    # `{{plotly}}` in a value is not filled in: the page is the size of the plain one, give or take the values.
    assert out.stat().st_size < base.stat().st_size + 20_000, (out.stat().st_size, base.stat().st_size)
    dom = load(out.as_uri(), budget_ms=8000)
    assert charts(dom) >= 3  # progress, per minute, hosts, value by tag / seed: nothing swallowed the script
    effect = re.findall(r'class="xtick"[^>]*>.*?<text[^>]*>(.*?)</text>', dom, re.S)
    assert not re.search(r'<a[^>]+href="http://evil', dom)  # the tick label is text, not a live link
    assert any("evil.example" in t for t in effect) or "evil.example" in dom
    assert "{{plotly}}" in dom and "&lt;!--&lt;script&gt;" in dom  # shown as written


def test_the_dashboard_answers_only_its_own_host_names(sqlite_config: ConfigMaker) -> None:
    from pyexperimenter.views.html.dashboard import Dashboard
    from pyexperimenter.views.report_data import ReportOptions

    exp = _sweep(sqlite_config, ["a", "b"])
    server = Dashboard(exp, ReportOptions(), port=0, interval_seconds=1.0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    port = server.server_address[1]

    def status(host: str, path: str = "/data") -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            conn.putrequest("GET", path, skip_host=True)
            conn.putheader("Host", host)
            conn.endheaders()
            return conn.getresponse().status
        finally:
            conn.close()

    try:
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", f"attacker:{port}", ""):
            assert status(host) == 421, host
            assert status(host, "/") == 421, host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
            assert status(host) == 200, host
    finally:
        server.shutdown()
        server.server_close()


def test_the_dashboard_port_in_use_is_one_line(sqlite_config: ConfigMaker) -> None:
    import socket

    exp = _sweep(sqlite_config, ["a"])
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        result = CliRunner().invoke(main, ["dashboard", str(exp.config.path), "--port", str(taken.getsockname()[1])])
    finally:
        taken.close()
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "--port" in result.stderr


ESCAPES = "\x1b]0;pwned\x07\x1b[31mred\x1b[0m\u202eevil"


def _marked(make: ConfigMaker) -> Experimenter:
    exp = Experimenter(make(parameters={"x": [1, 2]}, experiment={"max_attempts": 1}))
    exp.fill_table_from_config()

    def fail(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
        if parameters["x"] == 1:
            raise ValueError("broken [/] [link=http://evil.example]click[/link] [bold]x " + ESCAPES)
        return {"value": 1.0, "label": ESCAPES + "[/]"}

    assert exp.execute(fail) == [0]
    return Experimenter(exp.config.path)


def test_status_and_results_print_stored_text_as_text(make_config: ConfigMaker) -> None:
    exp = _marked(make_config)
    result = CliRunner().invoke(main, ["status", str(exp.config.path)], env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    assert "[/] [link=http://evil.example]click[/link] [bold]x" in result.output  # markup shown, not applied
    assert "\x1b" not in result.output and "\x07" not in result.output and "\u202e" not in result.output
    assert "\\x1b]0;pwned\\x07" in result.output and "\\u202e" in result.output
    table = CliRunner().invoke(main, ["results", str(exp.config.path)])
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.output and "\\x1b[31mred" in table.output and "[/]" in table.output


def test_status_where_matching_nothing_says_so(make_config: ConfigMaker) -> None:
    exp = _marked(make_config)
    result = CliRunner().invoke(main, ["status", str(exp.config.path), "--where", "x=99"])
    assert result.exit_code == 0 and "no row matches --where x=99" in result.output
    assert "the table is empty" not in result.output


def test_csv_can_quote_formula_cells(make_config: ConfigMaker, tmp_path: Path) -> None:
    exp = Experimenter(make_config(parameters={"x": ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "plain"]}))
    exp.fill_table_from_config()
    out = tmp_path / "r.csv"
    result = CliRunner().invoke(main, ["results", str(exp.config.path), "-o", str(out), "--csv-formulas"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for cell in ("'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)"):
        assert f'"{cell}"' in text
    assert '"plain"' in text
    raw = tmp_path / "raw.csv"
    assert CliRunner().invoke(main, ["results", str(exp.config.path), "-o", str(raw)]).exit_code == 0
    assert '"=HYPERLINK(1)"' in raw.read_text()  # off by default: the stored text as it is
