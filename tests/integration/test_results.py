"""`pyexp results` and `Experimenter.results()`: filters, columns, formats, and aggregation
over seeds checked against values computed by hand."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.cli import main

# accuracy per (dataset, model) for seeds 0, 1, 2; None: the run returned no accuracy;
# "fail": the run raised (max_attempts 1, so the row ends in `error`).
ACCURACY: dict[tuple[str, str], list[Any]] = {
    ("a", "m1"): [0.50, 0.70, 0.90],
    ("a", "m2"): [0.60, 0.60, 0.90],
    ("b", "m1"): [0.20, None, 0.40],
    ("b", "m2"): [0.10, 0.30, "fail"],
}

# Worked out on paper from ACCURACY (std is the sample standard deviation, ddof=1):
#   a/m1: .5 .7 .9  mean .7   median .7  std .2                    min .5 max .9
#   a/m2: .6 .6 .9  mean .7   median .6  std sqrt(.06/2)=.173205   min .6 max .9
#   b/m1: .2 -  .4  mean .3   median .3  std sqrt(.02/1)=.141421   min .2 max .4  (n 3, count 2)
#   b/m2: .1 .3 X   mean .2   median .2  std .141421               min .1 max .3  (n 2: the error is out)
# loss = 10 * seed for every done row: b/m2 has seeds 0 and 1 only, so its mean loss is 5.
BY_HAND = {
    "mean": {("a", "m1"): 0.7, ("a", "m2"): 0.7, ("b", "m1"): 0.3, ("b", "m2"): 0.2},
    "median": {("a", "m1"): 0.7, ("a", "m2"): 0.6, ("b", "m1"): 0.3, ("b", "m2"): 0.2},
    "std": {("a", "m1"): 0.2, ("a", "m2"): 0.173205081, ("b", "m1"): 0.141421356, ("b", "m2"): 0.141421356},
    "min": {("a", "m1"): 0.5, ("a", "m2"): 0.6, ("b", "m1"): 0.2, ("b", "m2"): 0.1},
    "max": {("a", "m1"): 0.9, ("a", "m2"): 0.9, ("b", "m1"): 0.4, ("b", "m2"): 0.3},
    "count": {("a", "m1"): 3, ("a", "m2"): 3, ("b", "m1"): 2, ("b", "m2"): 2},
}
GROUP_SIZE = {("a", "m1"): 3, ("a", "m2"): 3, ("b", "m1"): 3, ("b", "m2"): 2}
MEAN_LOSS = {("a", "m1"): 10.0, ("a", "m2"): 10.0, ("b", "m1"): 10.0, ("b", "m2"): 5.0}


def evaluate(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    acc = ACCURACY[(parameters["dataset"], parameters["model"])][parameters["seed"]]
    if acc == "fail":
        raise RuntimeError(f"diverged on {parameters['dataset']}")
    return {"acc": acc, "loss": 10.0 * parameters["seed"]}


@pytest.fixture
def finished(make_config: ConfigMaker) -> Path:
    path = make_config(
        experiment={"max_attempts": 1},
        parameters={"dataset": ["a", "b"], "model": ["m1", "m2"], "seed": {"start": 0, "stop": 3}},
        results={"acc": "DOUBLE", "loss": "DOUBLE"},
    )
    with Experimenter(path) as exp:
        assert exp.fill_table_from_config() == 12
        assert exp.execute(evaluate) == [0]
        assert exp.counts()["done"] == 11 and exp.counts()["error"] == 1
    return path


def cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    return result


def by_group(frame: pd.DataFrame, column: str) -> dict[tuple[str, str], Any]:
    return {(r["dataset"], r["model"]): r[column] for _, r in frame.iterrows()}


@pytest.mark.parametrize("agg", ["mean", "median", "std", "min", "max", "count"])
def test_aggregation_over_seeds_matches_hand_computed_values(finished: Path, agg: str) -> None:
    frame = Experimenter(finished).results(group_by=["dataset", "model"], agg=agg)
    assert list(frame.columns) == ["dataset", "model", "n", "acc", "loss"]
    assert by_group(frame, "n") == GROUP_SIZE
    assert by_group(frame, "acc") == pytest.approx(BY_HAND[agg], abs=1e-6)

    result = cli("results", str(finished), "--group-by", "dataset", "--group-by", "model", "--agg", agg, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {(r["dataset"], r["model"]): r["acc"] for r in rows} == pytest.approx(BY_HAND[agg], abs=1e-6)
    assert {(r["dataset"], r["model"]): r["n"] for r in rows} == GROUP_SIZE


def test_several_aggregations_and_coarser_groups(finished: Path) -> None:
    exp = Experimenter(finished)
    frame = exp.results(group_by=["dataset", "model"], agg=["mean", "std"])
    assert list(frame.columns) == ["dataset", "model", "n", "acc_mean", "acc_std", "loss_mean", "loss_std"]
    assert by_group(frame, "acc_mean") == pytest.approx(BY_HAND["mean"])
    assert by_group(frame, "acc_std") == pytest.approx(BY_HAND["std"])
    assert by_group(frame, "loss_mean") == pytest.approx(MEAN_LOSS)

    # over models and seeds: a = (.5+.7+.9+.6+.6+.9)/6 = .7 ; b = (.2+.4+.1+.3)/4 = .25 (n 5)
    coarse = exp.results(group_by="dataset", agg="mean", columns=["acc"])
    assert list(coarse.columns) == ["dataset", "n", "acc"]
    assert dict(zip(coarse["dataset"], coarse["acc"])) == pytest.approx({"a": 0.7, "b": 0.25})
    assert dict(zip(coarse["dataset"], coarse["n"])) == {"a": 6, "b": 5}

    result = cli("results", str(finished), "--group-by", "model", "--agg", "mean,max", "--columns", "acc", "--format", "csv")
    assert result.exit_code == 0, result.output
    csv = pd.read_csv(io.StringIO(result.stdout))
    assert list(csv.columns) == ["model", "n", "acc_mean", "acc_max"]
    # m1: (.5+.7+.9+.2+.4)/5 = .54 ; m2: (.6+.6+.9+.1+.3)/5 = .5
    assert dict(zip(csv["model"], csv["acc_mean"])) == pytest.approx({"m1": 0.54, "m2": 0.5})
    assert dict(zip(csv["model"], csv["acc_max"])) == pytest.approx({"m1": 0.9, "m2": 0.9})


def test_the_table_format_reads_well(finished: Path) -> None:
    result = cli("results", str(finished), "--group-by", "dataset", "--group-by", "model")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["dataset", "model", "n", "acc", "loss"]
    assert lines[1].split()[:3] == ["a", "m1", "3"]
    assert len(lines) == 5

    table = cli("results", str(finished)).stdout.splitlines()
    header = table[0].split()
    assert header == ["ID", "dataset", "model", "seed", "status", "acc", "loss", "pyexp_attempts", "error"]
    assert len(table) == 13
    error_line = next(ln for ln in table if " error " in ln)
    assert error_line.rstrip().endswith("RuntimeError: diverged on b")  # the last traceback line only
    assert "Traceback" not in "\n".join(table)


def test_filters_and_columns(finished: Path) -> None:
    exp = Experimenter(finished)
    assert len(exp.results(status=["error"])) == 1
    assert len(exp.results(status="done")) == 11
    assert len(exp.results(where=["dataset=a", "seed>=1"])) == 4
    assert len(exp.results(where=["model!=m1", "dataset=b"])) == 3
    assert len(exp.results(where=["seed=1.0"])) == 4  # numbers compare as numbers
    assert sorted(exp.results(where=["acc=null"])["status"]) == ["done", "error"]
    assert list(exp.results(columns=["ID", "acc"]).columns) == ["ID", "acc"]

    result = cli("results", str(finished), "--status", "error", "--columns", "ID,dataset,error", "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["dataset"] == "b" and "Traceback" in row["error"] and "RuntimeError: diverged on b" in row["error"]

    result = cli("results", str(finished), "--where", "dataset=a", "--where", "seed<1", "--format", "csv")
    csv = pd.read_csv(io.StringIO(result.stdout))
    assert len(csv) == 2 and set(csv["seed"]) == {0}
    assert {"ID", "status", "acc", "pyexp_worker", "end_date", "pyexp_attempts"} <= set(csv.columns)  # csv: every column
    assert "pyexp_token" not in csv.columns


def test_output_file_and_format_from_its_extension(finished: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "agg.csv"
    target.parent.mkdir()
    result = cli("results", str(finished), "--group-by", "dataset", "--group-by", "model", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote 4 row(s)" in result.stderr
    frame = pd.read_csv(target)
    assert by_group(frame, "acc") == pytest.approx(BY_HAND["mean"])

    target = tmp_path / "all.json"
    assert cli("results", str(finished), "--output", str(target)).exit_code == 0
    assert len(json.loads(target.read_text())) == 12


@pytest.mark.parametrize(
    "args, message",
    [
        (["--group-by", "colour"], "--group-by: unknown column 'colour'"),
        (["--where", "colour=red"], "--where: unknown column 'colour'"),
        (["--where", "nonsense"], "--where: expected COL=VALUE"),
        (["--where", "dataset<3"], "--where: < needs a numeric column"),
        (["--columns", "ID,colour"], "--columns: unknown column 'colour'"),
        (["--agg", "mean"], "--agg needs --group-by"),
        (["--group-by", "model", "--agg", "average"], "--agg: expected one of mean, median, std, min, max, count"),
        (["--status", "finished"], "Invalid value for '--status'"),
    ],
)
def test_bad_results_options_are_one_line_exit_2(finished: Path, args: list[str], message: str) -> None:
    result = cli("results", str(finished), *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_get_table_is_a_dataframe_of_every_row(finished: Path) -> None:
    table = Experimenter(finished).get_table()
    assert isinstance(table, pd.DataFrame) and len(table) == 12
    assert list(table["ID"]) == list(range(1, 13))
    assert {"dataset", "model", "seed", "status", "acc", "loss", "pyexp_attempts", "error", "pyexp_worker"} <= set(table.columns)
    assert not {"pyexp_token", "pyexp_hash", "pyexp_rank", "pyexp_available_at"} & set(table.columns)


def test_a_parameter_called_n_keeps_its_name_and_the_group_size_moves(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"n": [10, 20], "seed": [0, 1, 2]}, results={"value": "DOUBLE"})
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        exp.execute(lambda p, rp, c: {"value": p["n"] + p["seed"]})
        frame = exp.results(group_by="n", agg="mean", columns=["value"])
    assert list(frame.columns) == ["n", "n_rows", "value"]
    assert dict(zip(frame["n"], frame["value"])) == {10: 11.0, 20: 21.0}  # (10+11+12)/3, (20+21+22)/3
    assert set(frame["n_rows"]) == {3}
