"""Sampled domains, sub-grids, `--where` and priorities, on SQLite and on a real MariaDB.

A sampled fill is deterministic for its seed, idempotent, and grows by exactly the new
values' rows; sub-grids give one table with NULLs where a sub-grid lacks a parameter, and a
refill finds every row again (the unique parameter hash hashes NULL too); workers with
`--where` claim only matching rows and workers claim higher priorities first, each row once.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import experiments
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.cli import main
from pyexperimenter.errors import InputError


def lr(samples: int) -> dict[str, Any]:
    return {"distribution": "loguniform", "low": 1e-5, "high": 1e-1, "samples": samples, "seed": 7}


def executions(path: Path) -> Counter[int]:
    return Counter(int(line.split()[0]) for line in path.read_text().splitlines() if line.strip())


def test_sampled_fill_is_deterministic_idempotent_and_extends_exactly(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": [1, 2], "lr": lr(5)})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 10
    assert exp.fill_table_from_config() == 0
    first = sorted(exp.get_table()["lr"].unique())
    assert len(first) == 5 and all(1e-5 <= v <= 1e-1 for v in first)
    exp.close()

    grown = Experimenter(make_config(parameters={"x": [1, 2], "lr": lr(10)}))
    assert grown.fill_table_from_config() == 10  # exactly the 5 new values x 2
    table = grown.get_table()
    assert len(table) == 20 and not table.duplicated(["x", "lr"]).any()
    assert set(first) < set(table["lr"])
    assert sorted(table[table["ID"] <= 10]["lr"].unique()) == first  # the first rows never moved
    grown.close()

    again = Experimenter(make_config(parameters={"x": [1, 2], "lr": lr(5)}))
    assert again.fill_table_from_config() == 0  # the same seed draws the same five values


def test_sub_grids_union_into_one_table_with_nulls(make_config: ConfigMaker) -> None:
    path = make_config(
        parameters={"dataset": ["iris", "wine"]},
        grids=[
            {"model": "svm", "C": [0.1, 1.0], "zip": {"kernel": ["linear", "rbf"], "gamma": [None, 0.1]}},
            {"model": "forest", "n_estimators": {"start": 10, "stop": 30, "step": 10}, "lr": lr(2)},
        ],
    )
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 2 * 2 * 2 + 2 * 2 * 2
    assert exp.fill_table_from_config() == 0  # rows with NULLs are found again
    table = exp.get_table()
    svm, forest = table[table["model"] == "svm"], table[table["model"] == "forest"]
    assert len(svm) == 8 and len(forest) == 8
    assert svm["n_estimators"].isna().all() and svm["lr"].isna().all()
    assert forest["C"].isna().all() and forest["kernel"].isna().all() and forest["gamma"].isna().all()
    assert svm[svm["kernel"] == "linear"]["gamma"].isna().all()
    assert set(zip(forest["dataset"], forest["n_estimators"])) == {(d, n) for d in ("iris", "wine") for n in (10, 20)}
    assert not table.duplicated(["dataset", "model", "C", "kernel", "n_estimators", "lr"]).any()
    seen: list[dict[str, Any]] = []
    exp.execute(lambda p, rp, c: seen.append(p) or {"value": 1.0})
    assert len(seen) == 16 and {"n_estimators": None, "lr": None}.items() <= seen[0].items()


def test_fill_priority_is_kept_for_existing_rows(make_config: ConfigMaker) -> None:
    exp = Experimenter(make_config(parameters={"x": [1, 2]}))
    assert exp.fill_table_from_config(priority=5) == 2
    exp.close()
    exp = Experimenter(make_config(parameters={"x": [1, 2, 3]}))
    assert exp.fill_table_from_config(priority=-1) == 1
    table = exp.get_table().set_index("x")
    assert list(table.loc[[1, 2, 3], "pyexp_priority"]) == [5, 5, -1]


def test_where_workers_claim_only_matching_rows_each_once(make_config: ConfigMaker, tmp_path: Path) -> None:
    record = tmp_path / "executions.txt"
    path = make_config(parameters={"y": ["iris", "wine", "digits"], "x": {"start": 0, "stop": 60}},
                       custom={"record": str(record), "sleep": 0.05})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    codes = exp.execute(experiments.recording, n_jobs=8, where=["y=iris", "x<40"])
    assert codes == [0] * 8
    table = exp.get_table()
    chosen = (table["y"] == "iris") & (table["x"] < 40)
    runs = executions(record)
    assert set(runs) == set(table[chosen]["ID"]) and set(runs.values()) == {1}
    assert (table[chosen]["status"] == "done").all() and (table[~chosen]["status"] == "created").all()
    assert table[chosen]["pyexp_worker"].nunique() > 1
    assert exp.counts(["y=iris"])["done"] == 40 and exp.counts(["y!=iris"])["created"] == 120
    assert exp.reset_experiments("done", where=["x>=30"]) == 10
    assert exp.counts()["done"] == 30


def test_higher_priority_is_claimed_first_by_eight_workers(make_config: ConfigMaker, tmp_path: Path) -> None:
    record = tmp_path / "executions.txt"
    custom = {"record": str(record), "sleep": 0.005}
    low = make_config(parameters={"x": {"start": 0, "stop": 60}, "y": ["low"]}, custom=custom)
    Experimenter(low).fill_table_from_config()
    high = make_config(file="more.yml", parameters={"x": {"start": 0, "stop": 60}, "y": ["low", "high"]},
                       custom=custom)
    exp = Experimenter(high)
    assert exp.fill_table_from_config(priority=10) == 60  # added after, with ids above the low rows
    assert exp.execute(experiments.recording, n_jobs=8) == [0] * 8
    runs = executions(record)
    assert len(runs) == 120 and set(runs.values()) == {1}
    table = exp.get_table()
    assert (table["status"] == "done").all()
    starts = pd.to_datetime(table["start_date"])
    high_starts = starts[table["y"] == "high"]
    # when a low row was claimed, every high row was taken (or being taken by the other 7)
    assert max(int((high_starts > t).sum()) for t in starts[table["y"] == "low"]) <= 7


def test_bad_where_is_one_clear_line(make_config: ConfigMaker) -> None:
    exp = Experimenter(make_config())
    exp.fill_table_from_config()
    for where, message in [
        ("nope=1", "--where: unknown column 'nope'"),
        ("x<abc", "--where: expected a number to compare with, got 'abc'"),
        ("y<b", "--where: < needs a numeric column"),
        ("x", "--where: expected COL=VALUE"),
    ]:
        with pytest.raises(InputError, match=message.replace("(", r"\(")):
            exp.execute(experiments.noop, where=[where])
    assert exp.counts()["created"] == 20  # nothing ran
    # text that is no number, against a number column: `=` matches nothing, `!=` everything
    assert exp.counts(["x=abc"])["created"] == 0 and exp.counts(["x!=abc"])["created"] == 20


def test_cli_where_and_priority(make_config: ConfigMaker, tmp_path: Path) -> None:
    record = tmp_path / "executions.txt"
    path = make_config(parameters={"x": {"start": 0, "stop": 6}, "y": ["a", "b"]},
                       experiment={"function": "experiments:recording"}, custom={"record": str(record)})
    runner = CliRunner()
    assert runner.invoke(main, ["fill", str(path), "--priority", "3"]).exit_code == 0
    result = runner.invoke(main, ["run", str(path), "--where", "y=a", "--where", "x>=2", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    status = runner.invoke(main, ["status", str(path), "--json", "--where", "y=a"])
    assert json.loads(status.output)["counts"]["done"] == 4 and json.loads(status.output)["total"] == 6
    reset = runner.invoke(main, ["reset", str(path), "--status", "done", "--where", "x=5", "--yes"])
    assert reset.exit_code == 0 and "reset 1 row(s)" in reset.output
    bad = runner.invoke(main, ["run", str(path), "--where", "zz=1"])
    assert bad.exit_code == 2 and "--where: unknown column 'zz'" in bad.output
    dry = runner.invoke(main, ["launch", str(path), "--workers", "2", "--dry-run", "--where", "y=b"])
    assert dry.exit_code == 0 and "--where y=b" in dry.output
    assert yaml.safe_load(path.read_text())["experiment"]["function"] == "experiments:recording"
