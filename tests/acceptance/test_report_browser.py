"""`pyexp report` and `pyexp dashboard` as a person sees them: opened in headless Chromium.

Each page is loaded with background networking off and a fresh profile; the page's first
script collects script errors into the DOM, which `--dump-dom` hands back together with the
number of rendered plotly charts and their axis titles. Screenshots go to $PYEXP_ARTIFACTS
(default tests/artifacts/, git-ignored) for CI to keep.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import ConfigMaker, service_missing
from support.configs import config_maker

from pyexperimenter import Experimenter
from pyexperimenter.cli import main
from pyexperimenter.store.types import WorkerIdentity

pytest.importorskip("plotly")

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ARTIFACTS = Path(os.environ.get("PYEXP_ARTIFACTS") or ROOT / "tests" / "artifacts")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        service_missing("chromium", "not on PATH (apt-get install -y chromium; scripts/test.sh does)")
    return str(found)


def browse(url: str, *extra: str, budget_ms: int = 5000) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="pyexp-chromium-") as profile:
        args = [chromium(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                "--window-size=1400,2400", f"--virtual-time-budget={budget_ms}", *extra, url]
        return subprocess.run(args, capture_output=True, text=True, timeout=120)


def load(url: str, budget_ms: int = 5000) -> str:
    """The DOM after the page's scripts ran; fails on any script error, however reported."""
    done = browse(url, "--dump-dom", budget_ms=budget_ms)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [ln for ln in done.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    errors = re.search(r'<pre id="script-errors"[^>]*>(.*?)</pre>', done.stdout, re.S)
    assert errors is not None and errors.group(1).strip() == "", errors and errors.group(1)
    return done.stdout


def screenshot(url: str, name: str, budget_ms: int = 5000) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = ARTIFACTS / name
    done = browse(url, f"--screenshot={out}", budget_ms=budget_ms)
    assert done.returncode == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", done.stderr[-2000:]
    return out


def charts(dom: str) -> int:
    found = re.search(r'<body[^>]*data-charts="(\d+)"', dom)
    assert found, "the page's script did not finish"
    assert int(found.group(1)) == dom.count('class="plot-container plotly"')
    return int(found.group(1))


def axis_titles(dom: str, axis: str) -> list[str]:
    """Texts of plotly's rendered axis titles (SVG text in class g-xtitle or g-ytitle)."""
    return [html.unescape(t) for t in re.findall(rf'class="g-{axis}title"[^>]*>.*?<text[^>]*>([^<]*)</text>', dom)]


def count(dom: str, status: str) -> int:
    found = re.search(rf'id="count-{status}">(\d+)<', dom)
    assert found, status
    return int(found.group(1))


def report(*args: str) -> Any:
    result = CliRunner().invoke(main, ["report", *args], prog_name="pyexp")
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.slow
def test_report_of_the_finished_sklearn_grid(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    folder = tmp_path / "sklearn_grid"
    shutil.copytree(ROOT / "examples" / "sklearn_grid", folder, ignore=shutil.ignore_patterns("*.db*", "*.png"))
    for step in (["fill", "experiment.yml"], ["run", "experiment.yml", "--jobs", "2"]):
        done = subprocess.run([str(BIN / "pyexp"), *step], cwd=folder, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
    config = str(folder / "experiment.yml")

    out = folder / "report.html"
    assert "opens without a network" in report(config, "-o", str(out), "--over", "seed").output
    text = out.read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', text)  # nothing to fetch: self-contained
    dom = load(out.as_uri())
    # progress, per minute, hosts, then 4 results x (dataset, model): seed is what bars span
    assert charts(dom) == 3 + 4 * 2
    xs = axis_titles(dom, "x")
    assert xs.count("dataset") == 4 and xs.count("model") == 4 and "seed" not in xs
    assert "accuracy (mean ± std)" in axis_titles(dom, "y")
    assert count(dom, "done") == 60 and "No errors." in dom
    assert "accuracy by dataset (mean ± std over seed)" in dom
    screenshot(out.as_uri(), "report_sklearn_grid.png")

    averaged = folder / "averaged.html"
    report(config, "-o", str(averaged), "--error-bars", "ci95", "--best", "3", "--best-by", "fit_seconds",
           "--minimize")
    dom = load(averaged.as_uri())
    assert charts(dom) == 3 + 4 * 3 and axis_titles(dom, "x").count("seed") == 4
    assert "By fit_seconds, lowest first." in dom and "95% CI" in dom


def flaky(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    x, seed = parameters["x"], parameters["seed"]
    if x == 3:
        raise ValueError(f"bad x {x}")
    if x == 7 and parameters["y"] == "b":
        raise RuntimeError("diverged")
    for step in range(5):
        result_processor.process_logs({"steps": {"step": step, "loss": 1.0 / (step + 1) + 0.01 * seed}})
    return {"value": x * 0.5 + seed * 0.1, "label": "ok"}


def mid_run(make_config: ConfigMaker) -> Experimenter:
    """A sweep half done, with two kinds of errors and two rows still running."""
    path = make_config(
        experiment={"max_attempts": 1},
        parameters={"x": {"start": 0, "stop": 10}, "y": ["a", "b"], "seed": {"start": 0, "stop": 3}},
        logtables={"steps": {"step": "INT", "loss": "DOUBLE"}},
    )
    exp = Experimenter(path)
    exp.fill_table_from_config()
    exp.execute(flaky, max_experiments=50)
    exp.store.claim(WorkerIdentity("node7:99", "node7", 99), limit=2)
    return exp


def test_report_of_a_sweep_mid_run_with_errors(make_config: ConfigMaker, tmp_path: Path, backend: str) -> None:
    exp = mid_run(make_config)
    counts = exp.counts()
    assert counts["running"] == 2 and counts["error"] > 0 and counts["created"] > 0
    out = tmp_path / "report.html"
    report(str(exp.config.path), "-o", str(out), "--logtable", "steps", "--over", "seed")
    dom = load(out.as_uri())
    # progress, per minute, hosts; value by x and by y (bars over seed); logtable step and loss
    assert charts(dom) == 3 + 2 + 2
    assert axis_titles(dom, "x").count("x") == 1 and axis_titles(dom, "x").count("y") == 1
    assert axis_titles(dom, "x").count("step") == 2 and "loss" in axis_titles(dom, "y")
    assert count(dom, "error") == counts["error"] and count(dom, "running") == 2
    assert "ValueError: bad x 3" in dom and "RuntimeError: diverged" in dom
    assert ", in flaky" in dom  # an example's last traceback lines, where it was raised
    assert "node7" in dom  # the running attempts' host
    screenshot(out.as_uri(), f"report_mid_run_{backend}.png")

    status = CliRunner().invoke(main, ["status", str(exp.config.path)], prog_name="pyexp")
    assert status.exit_code == 0 and "last hour" in status.output


@pytest.fixture
def sqlite_config(tmp_path: Path) -> ConfigMaker:
    """For the tests whose subject is not the database (the page, the server): SQLite only,
    not parametrised over the databases (test_report_of_a_sweep_mid_run_with_errors is)."""
    return config_maker(tmp_path, f"sqlite:///{tmp_path / 'experiments.db'}")


def test_report_without_the_extra_says_what_to_install(sqlite_config: ConfigMaker,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    result = CliRunner().invoke(main, ["report", str(sqlite_config())], prog_name="pyexp")
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install 'pyexperimenter[report]'" in lines[0]


def test_dashboard_updates_counts_without_a_reload(sqlite_config: ConfigMaker) -> None:
    from pyexperimenter.views.html.dashboard import Dashboard
    from pyexperimenter.views.report_data import ReportOptions

    exp = mid_run(sqlite_config)
    done_before = exp.counts()["done"]
    server = Dashboard(Experimenter(exp.config.path), ReportOptions(logtable="steps"), port=0, interval_seconds=1.0)
    assert server.server_address[0] == "127.0.0.1"
    original = server.data_json
    fed = threading.Event()

    def data_json() -> bytes:  # after the page was served, more rows finish
        if not fed.is_set():
            fed.set()
            Experimenter(exp.config.path).execute(flaky, max_experiments=6)
        return original()

    server.data_json = data_json  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        url = server.url
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url + "data", data=b"x", method="POST"), timeout=10)
        assert refused.value.code == 405
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url + "nothing", timeout=10)
        assert missing.value.code == 404

        dom = load(url, budget_ms=8000)
        seen = [int(v) for v in re.search(r'id="history">([\d,]*)<', dom).group(1).split(",")]  # type: ignore[union-attr]
        assert seen[0] == done_before and seen[-1] > done_before, seen
        assert int(re.search(r'id="refreshes">(\d+)<', dom).group(1)) >= 2  # type: ignore[union-attr]
        assert count(dom, "done") == seen[-1] == Experimenter(exp.config.path).counts()["done"]
        assert charts(dom) == 3 + 3 + 2 and "live" in dom
        screenshot(url, "dashboard.png", budget_ms=3000)
    finally:
        server.shutdown()
        server.server_close()
