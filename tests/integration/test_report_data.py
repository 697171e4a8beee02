"""`pyexp report`'s numbers (pyexperimenter/views/report_data.py) give pandas' answers on the same
rows, on SQLite and MariaDB: means and sample standard deviations per parameter value of the
done rows only, NULL results left out, DECIMAL results as numbers, and with --over the spread
of the per-value means. Both ways the effects are read are checked: all parameters in one
joint GROUP BY combined here, and one GROUP BY per parameter (MAX_CELLS forced down)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from conftest import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.views import report_data as rd
from pyexperimenter.views.report_data import ReportOptions, report_data

PARAMETERS = {"x": {"start": 0, "stop": 6}, "y": ["a", "b", "B"], "seed": {"start": 0, "stop": 4}}


def work(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Some rows fail, some leave `value` missing; `big` has a large mean and a small spread."""
    x, y, seed = parameters["x"], parameters["y"], parameters["seed"]
    if x == 3 and seed != 1:
        raise ValueError(f"bad x {x}")
    return {
        "value": None if (x == 5 and seed == 0) or (x == 1 and y == "a") else 100 + x * 0.5 + seed * 0.37 + (y == "b"),
        "loss": f"{x / 7 + seed:.4f}",  # into a DECIMAL column
        "big": 1e6 + seed / 7 + x / 3,
        "label": "ok",
    }


@pytest.fixture
def finished(make_config: ConfigMaker) -> Experimenter:
    path = make_config(parameters=PARAMETERS, experiment={"max_attempts": 1},
                       results={"value": "DOUBLE", "loss": "DECIMAL(10,4)", "big": "DOUBLE", "label": "VARCHAR(20)"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    exp.execute(work, max_experiments=60)  # 72 rows: 12 stay open
    return Experimenter(path)


def expected(exp: Experimenter, over: str | None) -> dict[tuple[str, str], dict[Any, tuple[int, float, float]]]:
    """(parameter, result) -> value -> (n, mean, std) by pandas, from get_table()."""
    table = exp.get_table()
    done = table[table["status"] == "done"].copy()
    out = {}
    for p in [p for p in PARAMETERS if p != over]:
        for r in ("value", "loss", "big"):
            done[r] = pd.to_numeric(done[r])
            if over is None:
                g = done.groupby(p)[r]
            else:
                g = done.groupby([p, over])[r].mean().dropna().groupby(level=0)
            n, mean, std = g.count(), g.mean(), g.std(ddof=1)
            out[(p, r)] = {v: (int(n[v]), float(mean[v]), 0.0 if math.isnan(std[v]) else float(std[v]))
                           for v in n.index if n[v]}
    return out


@pytest.mark.parametrize("max_cells", [1, 50_000], ids=["per-parameter", "joint"])
@pytest.mark.parametrize("over", [None, "seed"])
def test_effects_match_pandas(finished: Experimenter, monkeypatch: pytest.MonkeyPatch, max_cells: int,
                              over: str | None) -> None:
    monkeypatch.setattr(rd, "MAX_CELLS", max_cells)
    counts = finished.counts()
    assert counts["error"] > 0 and counts["created"] > 0  # errors and open rows are left out below
    want = expected(finished, over)
    found = report_data(finished, ReportOptions(over=over))["effects"]
    assert [(e["parameter"], e["result"]) for e in found] == list(want)
    for effect in found:
        key = (effect["parameter"], effect["result"])
        points = {p["value"]: p for p in effect["points"]}
        assert list(points) == sorted(want[key]), key  # every value, in order; y's "B" apart from "b"
        for value, (n, mean, std) in want[key].items():
            p = points[value]
            assert p["n"] == n, (key, value)
            assert p["mean"] == pytest.approx(mean, rel=1e-12), (key, value)
            # `big`: a mean 1e6 times its spread keeps its spread's digits (SQLite: shifted mean squares)
            assert p["error"] == pytest.approx(std, rel=1e-9, abs=1e-9), (key, value)


def test_ci95_bars_and_the_batches(finished: Experimenter) -> None:
    """The bar kinds relate as 1.96/sqrt(n); batches keep joint groups under MAX_CELLS."""
    std = report_data(finished, ReportOptions(over="seed"))["effects"][0]["points"]
    ci = report_data(finished, ReportOptions(over="seed", error_bars="ci95"))["effects"][0]["points"]
    for a, b in zip(std, ci):
        assert b["error"] == pytest.approx(1.96 * a["error"] / math.sqrt(a["n"]))
    sizes = rd.domain_sizes(finished.config.grid)
    assert sizes == {"x": 6, "y": 3, "seed": 4}
    assert rd.batches(["x", "y", "seed"], sizes, None) == [["y", "seed", "x"]]
    assert rd.batches(["x", "y"], {"x": 60_000, "y": 3}, "seed") == [["y"], ["x"]]
    assert rd.batches(["x", "y", "z"], {"x": 100, "y": 10}, None) == [["y", "x"], ["z"]]  # z: size unknown


def test_a_log_spaced_parameter_is_drawn_on_a_log_axis(make_config: ConfigMaker) -> None:
    """C in 0.1, 1, 10, 100: on a linear axis its first two points overlap."""
    from pyexperimenter.views.html.figures import figures

    path = make_config(parameters={"C": [0.1, 1.0, 10.0, 100.0], "n": [1, 2, 3, 4], "seed": [0, 1]},
                       results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    exp.execute(lambda p, rp, c: {"value": p["n"] + p["seed"] / 10})
    charts = {f["id"]: f["figure"] for f in figures(report_data(exp, ReportOptions(over="seed")))}
    assert charts["chart-effect-value-C"]["layout"]["xaxis"]["type"] == "log"
    assert charts["chart-effect-value-n"]["layout"]["xaxis"].get("type") is None  # evenly spaced: linear
    exp.close()
