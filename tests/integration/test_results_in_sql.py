"""Results read in the database (filters, --group-by aggregates, streamed exports, status error
groups) give pandas' answers on the same data, on SQLite and MariaDB."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import ConfigMaker
from support.tables import without_counters

from pyexperimenter import Experimenter
from pyexperimenter.cli import main
from pyexperimenter.results import AGGREGATIONS, format_frame, select_results
from pyexperimenter.results.streaming import export
from pyexperimenter.results.writers import TEXT_FORMATS
from pyexperimenter.store.schema import is_date_column
from pyexperimenter.views.status_data import status_report

RESULTS = ["acc", "loss", "k", "note", "tag", "ok"]
# text no number reads in, made to be quoted in CSV (commas, quotes, line breaks, non-ASCII)
TAGS = ['café, "ü"', 'say "hi"', "two\nlines\r\n", None]


def messy(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Missing values, DECIMALs, integers, text with and without numbers in it; some rows fail."""
    seed, dataset = parameters["seed"], parameters["dataset"]
    if seed % 5 == 4:
        raise ValueError(f"bad seed {seed % 2}")
    return {
        "acc": None if seed % 3 == 0 else 1e6 + seed / 7,  # large mean, small spread: std precision
        "loss": None if seed == 1 else f"{seed * 1.25 + (dataset == 'b'):.4f}",
        "k": seed * (2 if dataset == "a" else 3),
        "note": "oops" if seed % 2 else str(seed / 4),
        "tag": "" if seed == 7 else TAGS[seed % 4],
        "ok": [None, True, False][seed % 3],
    }


@pytest.fixture
def messy_exp(make_config: ConfigMaker) -> Experimenter:
    path = make_config(
        experiment={"max_attempts": 1},
        parameters={"dataset": ["a", "b"], "seed": {"start": 0, "stop": 12}},
        results={"acc": "DOUBLE", "loss": "DECIMAL(10,4)", "k": "INT", "note": "VARCHAR(32)", "tag": "TEXT",
                 "ok": "BOOLEAN"},
    )
    exp = Experimenter(path)
    exp.fill_table_from_config()
    # a missing key, and keys that differ from `a` only in case or a trailing space: own groups
    exp.fill_table_with_rows([{"dataset": None, "seed": 100}, {"dataset": "A", "seed": 101},
                              {"dataset": "a ", "seed": 102}])
    assert exp.execute(messy) == [0]
    return exp


def numeric(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        converted = pd.to_numeric(out[c], errors="coerce")
        if converted.notna().sum() == out[c].notna().sum():
            out[c] = converted.astype(float)
    return out.reset_index(drop=True)


def assert_same(sql: pd.DataFrame, pandas: pd.DataFrame) -> None:
    assert list(sql.columns) == list(pandas.columns)
    assert len(sql) == len(pandas)
    pd.testing.assert_frame_equal(numeric(sql), numeric(pandas), check_dtype=False, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("agg", [*AGGREGATIONS, ["mean", "std", "count", "median"]])
@pytest.mark.parametrize("filters", [{}, {"status": ["done", "error"]}, {"where": ["seed<9", "k!=6"]},
                                     {"status": ["error"]}])
def test_aggregates_equal_pandas(messy_exp: Experimenter, agg: Any, filters: dict[str, Any]) -> None:
    table = messy_exp.get_table()
    for group_by in (["dataset"], ["dataset", "seed"]):
        sql = messy_exp.results(group_by=group_by, agg=agg, **filters)
        expected = select_results(table, RESULTS, group_by=group_by, agg=agg, **filters)
        assert_same(sql, expected)
    if "status" not in filters:
        sizes = messy_exp.results(group_by="dataset", agg="count", **filters)
        assert sizes["n"].sum() == sum(messy_exp.results(status="done", **filters)["status"] == "done")


def test_filters_and_columns_equal_pandas(messy_exp: Experimenter) -> None:
    table = messy_exp.get_table()
    cases = [{"where": ["dataset=a"]}, {"where": ["dataset!=a"]}, {"where": ["dataset=null"]},
             {"where": ["acc>1000000.5", "k<=10"]}, {"where": ["note=oops"], "columns": ["ID", "note"]},
             {"where": ["k=6.0"]}, {"where": ["k=abc"]}, {"where": ["k!=abc"]}, {"status": ["error"]}]
    for case in cases:
        sql = messy_exp.results(**case)
        expected = select_results(table, RESULTS, **case)
        assert list(sql["ID"] if "ID" in sql else []) == list(expected["ID"] if "ID" in expected else []), case
        assert list(sql.columns) == list(expected.columns), case
    # DECIMALs compare as numbers (the pandas filter cannot: its values are Decimal objects)
    assert sorted(messy_exp.results(where=["loss<=2.5"])["seed"]) == [0, 0, 2]
    # exact text, as pandas compares: `A` is not `a` (MariaDB's collation would say it is)
    assert set(messy_exp.results(where=["dataset=a"])["dataset"]) == {"a"}
    assert list(messy_exp.get_table(where=["seed=3"], columns=["seed", "dataset"]).columns) == ["seed", "dataset"]


def test_a_large_mean_keeps_the_standard_deviation_exact(messy_exp: Experimenter) -> None:
    std = messy_exp.results(group_by="dataset", agg="std", columns=["acc"]).set_index("dataset")["acc"]
    done = messy_exp.get_table()
    done = done[(done["status"] == "done") & (done["dataset"] == "a")]["acc"].dropna()
    assert std["a"] == pytest.approx(float(done.std()), rel=1e-7)


def read_back(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        frame = pd.read_csv(path)
    elif fmt == "jsonl":
        frame = pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])
    else:
        frame = pd.read_parquet(path)
    return frame


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if is_date_column(c):
            out[c] = pd.to_datetime(out[c]).dt.floor("ms")
        elif out[c].dtype == object:
            out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return numeric(out)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("filters", [{}, {"status": ["done"], "where": ["seed>=2"], "columns": ["ID", "loss", "note"]}])
def test_streamed_exports_equal_the_frame(messy_exp: Experimenter, tmp_path: Path, fmt: str,
                                          filters: dict[str, Any]) -> None:
    frame = messy_exp.results(**filters)
    path = tmp_path / f"out.{fmt}"
    assert export(messy_exp.store, fmt, str(path), progress=False, **filters) == len(frame)
    streamed = read_back(path, fmt)
    if fmt == "parquet":
        whole = frame
    else:  # the non-streamed text pandas writes, read back the same way
        whole = read_back(_written(tmp_path, frame, fmt), fmt)
    assert list(streamed.columns) == list(whole.columns)
    pd.testing.assert_frame_equal(comparable(streamed), comparable(whole), check_dtype=False, rtol=1e-12)


def test_csv_export_keeps_every_value(messy_exp: Experimenter, tmp_path: Path) -> None:
    """Field by field against get_table(): floats to the last bit, DECIMALs exact, quoted text
    intact, missing values empty (on MariaDB the server writes these lines itself)."""
    path = tmp_path / "all.csv"
    export(messy_exp.store, "csv", str(path), progress=False)
    with path.open(newline="", encoding="utf-8") as f:
        written = list(csv.DictReader(f))
    table = messy_exp.get_table()
    assert [int(r["ID"]) for r in written] == list(table["ID"])
    checked = 0
    for row, expected in zip(written, table.to_dict("records")):
        for column, value in expected.items():
            text = row[column]
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
                assert text == "", (column, text)
            elif isinstance(value, bool):
                assert text == str(value), (column, text)
            elif isinstance(value, (float, int, Decimal)):
                assert type(value)(text) == value, (column, text, value)
            elif isinstance(value, datetime):
                assert datetime.fromisoformat(text) == value, (column, text)
            else:
                assert text == str(value), (column, text)
            checked += 1
    assert checked and {"two\nlines\r\n", 'say "hi"', 'café, "ü"'} <= {r["tag"] for r in written}


def _written(tmp_path: Path, frame: pd.DataFrame, fmt: str) -> Path:
    path = tmp_path / f"whole.{fmt}"
    path.write_text(format_frame(frame, fmt))
    return path


def test_streamed_csv_through_the_cli(messy_exp: Experimenter, tmp_path: Path) -> None:
    config = str(messy_exp.config.path)
    result = CliRunner().invoke(main, ["results", config, "--format", "csv", "--where", "dataset=b"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(io.StringIO(result.stdout))) == 12
    out = tmp_path / "x.jsonl"
    result = CliRunner().invoke(main, ["results", config, "-o", str(out), "--status", "error"])
    assert result.exit_code == 0 and "wrote 4 row(s)" in result.stderr
    assert all(json.loads(line)["status"] == "error" for line in out.read_text().splitlines())


@pytest.mark.parametrize("args", [["--where", "colour=red"], ["--format", "csv", "--where", "colour=red"],
                                  ["--group-by", "dataset", "--where", "colour=red"],
                                  ["--format", "jsonl", "--columns", "ID,colour"]])
def test_unknown_column_is_one_line_exit_2(messy_exp: Experimenter, args: list[str]) -> None:
    result = CliRunner().invoke(main, ["results", str(messy_exp.config.path), *args])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown column 'colour'" in result.stderr


def _sql(exp: Experimenter, statement: str) -> None:
    store: Any = exp.store
    store.session.transaction(lambda cur: store.session.execute(cur, statement))


def test_status_groups_errors_by_the_summary_column(messy_exp: Experimenter) -> None:
    summaries = messy_exp.store.error_groups()
    assert sorted((g["message"], g["count"]) for g in summaries) == [("ValueError: bad seed 0", 2), ("ValueError: bad seed 1", 2)]
    groups = status_report(messy_exp)["errors"]
    assert [(g["message"], g["count"]) for g in groups] == [("ValueError: bad seed 0", 2), ("ValueError: bad seed 1", 2)]
    errors = messy_exp.get_table(where=["status=error"])
    first = int(errors[errors["error"].str.endswith("bad seed 0\n")]["ID"].min())
    assert groups[0]["example_ids"][0] == first

    # rows written before the column existed: summarised while read, same groups
    _sql(messy_exp, f"UPDATE {messy_exp.config.name} SET pyexp_error_summary = NULL WHERE ID = {first}")
    assert status_report(messy_exp)["errors"] == groups


def test_a_table_without_the_summary_column_gains_it(messy_exp: Experimenter) -> None:
    name = messy_exp.config.name
    mysql = messy_exp.config.database.kind == "mysql"  # SQLite's and PostgreSQL's index names are per database
    index = "ix_status_error" if mysql else f"{name}__ix_status_error"
    _sql(messy_exp, f"DROP INDEX {index}" + (f" ON {name}" if mysql else ""))
    without_counters(messy_exp)  # their triggers read the column; that version had neither
    _sql(messy_exp, f"ALTER TABLE {name} DROP COLUMN pyexp_error_summary")
    _sql(messy_exp, f"UPDATE pyexp_schema SET version = 1 WHERE table_name = '{name}'")  # as that version made it
    messy_exp.close()
    again = Experimenter(messy_exp.config)
    assert "pyexp_error_summary" in again.store.columns()
    assert [g["count"] for g in status_report(again)["errors"]] == [2, 2]



GROUPINGS: list[tuple[list[str], Any, dict[str, Any]]] = [
    (["dataset"], ["mean", "std", "count", "median", "min", "max"], {}),
    (["dataset", "seed"], "mean", {"status": ["done", "error"]}),
    (["ok"], ["min", "max"], {"where": ["seed<9"]}),
    (["dataset"], ["median", "std"], {"columns": ["acc", "loss", "tag"]}),
    (["tag"], "count", {}),
    (["loss"], "mean", {}),  # DECIMAL keys: written through pandas
]


def as_written(value: Any) -> Any:
    """A value as JSON reads it back (writers.py's rules): NaN null, DECIMAL and dates their text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, (bool, int, float, str)) else str(value)


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_group_by_text_without_pandas_reads_back_as_the_records(messy_exp: Experimenter, fmt: str) -> None:
    """NULLs, DECIMALs, text and booleans, several aggregates: the records are the DataFrame
    `results()` returns, and their text read back is their values (the table: one line each)."""
    for group_by, agg, filters in GROUPINGS:
        records = messy_exp.results_records(group_by, agg=agg, **filters)
        frame = messy_exp.results(group_by=group_by, agg=agg, **filters)
        pd.testing.assert_frame_equal(records.frame(), frame)
        text = records.write(fmt, None)
        assert text is not None
        want = [[as_written(v) for v in row] for row in records.rows]
        if fmt == "json":
            assert [list(o.values()) for o in json.loads(text)] == want
        elif fmt == "jsonl":
            assert [list(json.loads(line).values()) for line in text.split("\n")[:-1]] == want
        elif fmt == "csv":
            read = list(csv.reader(io.StringIO(text, newline="")))
            assert read[0] == records.columns
            assert read[1:] == [["" if v is None else repr(v) if isinstance(v, float) else str(v) for v in row]
                                for row in want]
        else:
            assert len(text.splitlines()) == len(records) + 1 or not records.rows


_NO_PANDAS = """
import sys
from pyexperimenter.cli import main
try:
    main(sys.argv[1:], prog_name="pyexp")
finally:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pandas", "numpy", "pyarrow"))
    print("LOADED", loaded, file=sys.stderr)
"""


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_group_by_on_the_command_line_imports_no_pandas(messy_exp: Experimenter, tmp_path: Path, fmt: str) -> None:
    config = str(messy_exp.config.path)
    aggs = ["--agg", "mean,std,count", "--agg", "median", "--agg", "min,max"]
    done = subprocess.run([sys.executable, "-c", _NO_PANDAS, "results", config, "--group-by", "dataset", *aggs,
                           "--format", fmt], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr
    records = messy_exp.results_records("dataset", agg=["mean", "std", "count", "median", "min", "max"])
    text = records.write(fmt, None) or ""
    assert done.stdout == text + ("" if text.endswith("\n") else "\n")
    out = tmp_path / f"groups.{fmt}"
    done = subprocess.run([sys.executable, "-c", _NO_PANDAS, "results", config, "--group-by", "dataset",
                           "--status", "done", "--format", fmt, "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0 and "LOADED []" in done.stderr, done.stderr
    assert f"wrote {len(records)} row(s)" in done.stderr
    assert out.read_text() == messy_exp.results_records("dataset", status="done").write(fmt, None)
