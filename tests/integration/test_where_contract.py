"""One `--where`, one meaning: the same conditions select the same rows in `run`, `status`,
`reset`, `results`, `launch --dry-run` and the Python API, on SQLite and on MariaDB.

The table holds what the copies of `--where` used to disagree on: text differing only in
case or a trailing space (MariaDB's default collation ignores both), NULLs from a sub-grid,
booleans, numbers stored in a text column, and a float column. Each condition's rows are
also written out by hand below (`expected`), from the values as read back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.cli import main

Row = dict[str, Any]

CONDITIONS: list[tuple[list[str], Callable[[Row], bool]]] = [
    (["ds=iris"], lambda r: r["ds"] == "iris"),  # not Iris, not "iris "
    (["ds=Iris"], lambda r: r["ds"] == "Iris"),
    (["ds!=iris"], lambda r: r["ds"] != "iris"),  # NULL differs from iris
    (["ds=null"], lambda r: r["ds"] is None),
    (["ds!=null"], lambda r: r["ds"] is not None),
    (["ds=1"], lambda r: r["ds"] == "1"),  # a text column: "1.0" is other text
    (["ds=1.0"], lambda r: r["ds"] == "1.0"),
    (["flag=true"], lambda r: r["flag"] is not None and bool(r["flag"])),
    (["flag=false"], lambda r: r["flag"] is not None and not r["flag"]),
    (["flag!=true"], lambda r: r["flag"] is None or not r["flag"]),
    (["x=1"], lambda r: r["x"] == 1),
    (["x!=1"], lambda r: r["x"] != 1),
    (["x<1"], lambda r: r["x"] < 1),
    (["x>=2"], lambda r: r["x"] >= 2),
    (["w=1"], lambda r: r["w"] is not None and r["w"] == 1.0),  # 1 matches 1.0
    (["w>=2.5"], lambda r: r["w"] is not None and r["w"] >= 2.5),
    (["w!=1"], lambda r: r["w"] is None or r["w"] != 1.0),
    (["ds=iris", "x>=1"], lambda r: r["ds"] == "iris" and r["x"] >= 1),
]


def _ids(text: str) -> list[int]:
    return sorted(int(r["ID"]) for r in json.loads(text))


def _where(conditions: list[str]) -> list[str]:
    return [a for c in conditions for a in ("--where", c)]


@pytest.fixture
def table(make_config: ConfigMaker, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Row]]:
    path = make_config(
        parameters={"x": [0, 1, 2]},
        grids=[{"ds": ["Iris", "iris", "iris ", "1", "1.0"], "w": [1.0, 2.5]}, {"flag": [True, False]}],
        experiment={"function": "experiments:noop"},
    )
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 36
    rows = exp.get_table()[["ID", "ds", "x", "w", "flag"]].astype(object).to_dict("records")
    exp.close()
    clean = [{k: (None if v != v else v) for k, v in r.items()} for r in rows]  # NaN -> None
    assert {r["ds"] for r in clean} == {"Iris", "iris", "iris ", "1", "1.0", None}
    return path, clean


@pytest.mark.parametrize(("conditions", "wanted"), CONDITIONS, ids=[" ".join(c) for c, _ in CONDITIONS])
def test_where_selects_the_same_rows_everywhere(table: tuple[Path, list[Row]], conditions: list[str],
                                                wanted: Callable[[Row], bool]) -> None:
    path, rows = table
    expected = sorted(int(r["ID"]) for r in rows if wanted(r))
    runner = CliRunner()
    where = _where(conditions)

    def cli(*args: str) -> str:
        result = runner.invoke(main, [args[0], str(path), *args[1:], *where])
        assert result.exit_code == 0, result.output
        return result.output

    # reading: results (in SQL, and through pandas with provenance), status, launch's count
    assert _ids(cli("results", "--format", "json", "--columns", "ID")) == expected
    assert _ids(cli("results", "--format", "json", "--with-provenance")) == expected
    assert json.loads(cli("status", "--json"))["total"] == len(expected)
    if expected:
        planned = re.search(r"open rows\s+(\d+)", cli("launch", "--dry-run", "--workers", "1000"))
        assert planned and int(planned.group(1)) == len(expected)
    # the Python API
    exp = Experimenter(path)
    assert sorted(int(i) for i in exp.get_table(where=conditions)["ID"]) == expected
    assert sorted(int(i) for i in exp.results(where=conditions)["ID"]) == expected
    assert sorted(int(i) for i in exp.results(where=conditions, with_provenance=True)["ID"]) == expected
    counts = exp.counts(conditions)
    assert sum(n for s, n in counts.items() if s != "stale") == len(expected)
    exp.close()
    # running: the workers claim exactly these rows; reset puts exactly these back
    cli("run", "--jobs", "1")
    done = _ids(runner.invoke(main, ["results", str(path), "--format", "json", "--status", "done"]).output)
    assert done == expected
    reset = cli("reset", "--status", "done", "--yes")
    assert f"reset {len(expected)} row(s)" in reset
    assert json.loads(runner.invoke(main, ["status", str(path), "--json"]).output)["counts"]["created"] == 36


@pytest.mark.parametrize("bad", ["ds<iris", "x<abc", "flag=maybe", "nope=1", "x"])
def test_a_bad_condition_is_one_line_everywhere(table: tuple[Path, list[Row]], bad: str) -> None:
    path, _ = table
    runner = CliRunner()
    for command in (["run"], ["status", "--json"], ["results"], ["reset", "--status", "created", "--yes"],
                    ["launch", "--dry-run", "--workers", "2"]):
        result = runner.invoke(main, [command[0], str(path), *command[1:], "--where", bad])
        assert result.exit_code == 2, (command, result.output)
        assert "--where:" in result.output and "Traceback" not in result.output
