"""Reading results back without a database: --where conditions, filters, aggregates, and the
choice of output format. The DataFrames stand in for what `Experimenter.get_table` returns."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pyexperimenter.errors import InputError
from pyexperimenter.results import (
    AGGREGATIONS,
    aggregate,
    aggregations,
    choose_format,
    compact_frame,
    filter_frame,
    format_frame,
    last_line,
    parse_condition,
    select_results,
    size_column,
)


def table() -> pd.DataFrame:
    """Six rows: two datasets x three seeds, one failed, one still running."""
    return pd.DataFrame({
        "ID": [1, 2, 3, 4, 5, 6],
        "dataset": ["a", "a", "a", "b", "b", "b"],
        "seed": [0, 1, 2, 0, 1, 2],
        "lr": [0.1, 0.1, 0.01, 0.1, 0.1, 0.01],
        "status": ["done", "done", "error", "done", "done", "running"],
        "acc": [0.5, 0.7, None, 0.9, 0.8, None],
        "note": ["x", None, "z", "x", None, "z"],
        "pyexp_attempts": [1, 1, 2, 1, 1, 1],
        "error": [None, None, "Traceback ...\n  File 'f.py'\nValueError: bad\n", None, None, None],
    })


def ids(frame: pd.DataFrame) -> list[int]:
    return [int(i) for i in frame["ID"]]


# ----------------------------------------------------------------------------- parse_condition


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed=1", ("seed", "=", "1")),
        ("seed==1", ("seed", "==", "1")),
        ("seed!=1", ("seed", "!=", "1")),
        ("seed<1", ("seed", "<", "1")),
        ("seed<=1", ("seed", "<=", "1")),
        ("seed>1", ("seed", ">", "1")),
        ("seed>=1", ("seed", ">=", "1")),
        ("  seed  >=  1 ", ("seed", ">=", "1")),
        ("note=", ("note", "=", "")),
        ("note=a=b", ("note", "=", "a=b")),  # only the first operator splits
        ("note=two\nlines", ("note", "=", "two\nlines")),
    ],
)
def test_parse_condition(text: str, expected: tuple[str, str, str]) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize("text", ["seed", "=1", "1seed=1", "se ed=1", ""])
def test_parse_condition_rejects_what_is_not_col_op_value(text: str) -> None:
    with pytest.raises(InputError, match="--where: expected COL=VALUE"):
        parse_condition(text)


# ----------------------------------------------------------------------------- filter_frame


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("seed=1", [2, 5]),
        ("seed==1", [2, 5]),
        ("seed=1.0", [2, 5]),  # numbers compare as numbers
        ("seed!=1", [1, 3, 4, 6]),
        ("seed<1", [1, 4]),
        ("seed<=1", [1, 2, 4, 5]),
        ("seed>1", [3, 6]),
        ("seed>=1", [2, 3, 5, 6]),
        ("lr<0.05", [3, 6]),
        ("acc>=0.8", [4, 5]),  # a missing value is never greater or smaller
        ("acc<0.8", [1, 2]),
        ("dataset=b", [4, 5, 6]),
        ("dataset!=b", [1, 2, 3]),
        ("seed=abc", []),  # text against numbers: compared as text, matches nothing
    ],
)
def test_where_each_operator(where: str, expected: list[int]) -> None:
    assert ids(filter_frame(table(), where=[where])) == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("acc=null", [3, 6]),
        ("acc=NULL", [3, 6]),
        ("acc=none", [3, 6]),
        ("acc=nan", [3, 6]),
        ("acc=", [3, 6]),
        ("acc!=null", [1, 2, 4, 5]),
        ("note=null", [2, 5]),
        ("note!=null", [1, 3, 4, 6]),
        ("note=x", [1, 4]),
        ("note!=x", [2, 3, 5, 6]),  # pandas semantics: a missing value differs from x
    ],
)
def test_where_null_matches_missing_values(where: str, expected: list[int]) -> None:
    assert ids(filter_frame(table(), where=[where])) == expected


def test_where_numbers_in_an_object_column_compare_as_numbers() -> None:
    frame = pd.DataFrame({"ID": [1, 2, 3], "v": pd.Series([1, 2.5, None], dtype=object)})
    assert ids(filter_frame(frame, where=["v<2"])) == [1]
    assert ids(filter_frame(frame, where=["v>=2.5"])) == [2]
    assert ids(filter_frame(frame, where=["v=1.0"])) == [1]


def test_where_digits_in_a_text_column_compare_as_text() -> None:
    frame = pd.DataFrame({"ID": [1, 2, 3], "v": ["1", "x", "01"]})
    assert ids(filter_frame(frame, where=["v=1"])) == [1]
    with pytest.raises(InputError, match="--where: < needs a numeric column, got '1'"):
        filter_frame(frame, where=["v<1"])


def test_where_booleans() -> None:
    frame = pd.DataFrame({"ID": [1, 2, 3], "ok": [True, False, True]})
    for yes in ("true", "True", "1", "yes"):
        assert ids(filter_frame(frame, where=[f"ok={yes}"])) == [1, 3]
    for no in ("false", "0", "no"):
        assert ids(filter_frame(frame, where=[f"ok={no}"])) == [2]
    assert ids(filter_frame(frame, where=["ok!=true"])) == [2]
    with pytest.raises(InputError, match="expected true or false for a boolean column, got 'maybe'"):
        filter_frame(frame, where=["ok=maybe"])


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("dataset<b", "--where: < needs a numeric column, got 'b'"),
        ("seed<abc", "--where: expected a number to compare with, got 'abc'"),
        ("colour=red", "--where: unknown column 'colour'; expected one of ID, dataset, seed"),
        ("nonsense", "--where: expected COL=VALUE"),
    ],
)
def test_where_errors_say_what_was_expected(where: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        filter_frame(table(), where=[where])


def test_conditions_add_up() -> None:
    assert ids(filter_frame(table(), where=["dataset=a", "seed>=1"])) == [2, 3]


def test_status_then_where_then_columns() -> None:
    frame = filter_frame(table(), statuses=["done", "error"], where=["seed>=1"], columns=["seed", "ID", "seed"])
    assert list(frame.columns) == ["seed", "ID"]  # in the order asked, each once
    assert ids(frame) == [2, 3, 5]


def test_filter_errors_for_unknown_status_and_column() -> None:
    with pytest.raises(InputError, match="--status: unknown status 'finished'; expected one of created, running"):
        filter_frame(table(), statuses=["finished"])
    with pytest.raises(InputError, match="--columns: unknown column 'colour'"):
        filter_frame(table(), columns=["ID", "colour"])
    with pytest.raises(InputError, match=r"expected one of \(the table is empty\)"):
        filter_frame(pd.DataFrame(), where=["seed=1"])


# ----------------------------------------------------------------------------- aggregations


def test_aggregations_accept_a_name_a_list_or_commas() -> None:
    assert aggregations("std") == ["std"]
    assert aggregations(["mean", "std"]) == ["mean", "std"]
    assert aggregations("mean, std,mean") == ["mean", "std"]
    assert aggregations(["mean,max", "min"]) == ["mean", "max", "min"]
    assert aggregations("") == ["mean"]
    assert aggregations([]) == ["mean"]
    assert set(aggregations(",".join(AGGREGATIONS))) == set(AGGREGATIONS)
    with pytest.raises(InputError, match="--agg: expected one of mean, median, std, min, max, count, got 'avg'"):
        aggregations("mean,avg")


def test_aggregate_over_seeds_counts_only_done_rows_in_n() -> None:
    out = aggregate(table(), ["dataset"], ["acc"], "mean")
    assert list(out.columns) == ["dataset", "n", "acc"]
    assert out["dataset"].tolist() == ["a", "b"]
    assert out["n"].tolist() == [2, 2]  # the error row and the running row do not count
    assert out["acc"].tolist() == pytest.approx([0.6, 0.85])


def test_several_aggregations_name_columns_col_agg() -> None:
    out = aggregate(table(), ["dataset", "lr"], ["acc", "seed"], ["mean", "max"])
    assert list(out.columns) == ["dataset", "lr", "n", "acc_mean", "acc_max", "seed_mean", "seed_max"]
    assert out[["dataset", "lr"]].values.tolist() == [["a", 0.1], ["b", 0.1]]
    assert out["acc_max"].tolist() == pytest.approx([0.7, 0.9])
    assert out["seed_mean"].tolist() == pytest.approx([0.5, 0.5])


def test_aggregate_takes_text_results_as_missing_and_keeps_group_columns_out() -> None:
    frame = table().assign(acc=["0.5", "oops", None, "0.9", "0.8", None])
    out = aggregate(frame, ["dataset"], ["acc", "dataset"], "count")
    assert list(out.columns) == ["dataset", "n", "acc"]
    assert out["acc"].tolist() == [1, 2]  # 'oops' is not a number


def test_aggregate_of_nothing_done_has_the_columns_and_no_rows() -> None:
    frame = table().assign(status="created")
    out = aggregate(frame, ["dataset"], ["acc"], ["mean", "std"])
    assert out.empty and list(out.columns) == ["dataset", "n", "acc_mean", "acc_std"]


def test_size_column_avoids_a_column_named_n() -> None:
    assert size_column(["seed", "acc"]) == "n"
    assert size_column(["n"]) == "n_rows"
    assert size_column(["n", "n_rows"]) == "_n_rows"
    frame = table().rename(columns={"seed": "n"})
    out = aggregate(frame, ["dataset"], ["acc"])
    assert list(out.columns) == ["dataset", "n_rows", "acc"]


def test_aggregate_unknown_group_column() -> None:
    with pytest.raises(InputError, match="--group-by: unknown column 'model'"):
        aggregate(table(), ["model"], ["acc"])


def test_select_results_columns_after_aggregation_keep_every_aggregate() -> None:
    out = select_results(table(), ["acc"], group_by="dataset", agg="mean,std", columns=["acc"])
    assert list(out.columns) == ["dataset", "n", "acc_mean", "acc_std"]
    out = select_results(table(), ["acc"], group_by=["dataset"], agg=["mean", "std"], columns=["acc_std"])
    assert list(out.columns) == ["dataset", "n", "acc_std"]
    out = select_results(table(), ["acc"], status="done", where="seed=0", columns="ID")
    assert list(out.columns) == ["ID"] and ids(out) == [1, 4]
    with pytest.raises(InputError, match="--columns: unknown column 'loss'"):
        select_results(table(), ["acc"], group_by=["dataset"], columns=["loss"])


# ----------------------------------------------------------------------------- export


@pytest.mark.parametrize(
    ("fmt", "output", "expected"),
    [
        (None, None, "table"),
        (None, "out.csv", "csv"),
        (None, "OUT.CSV", "csv"),
        (None, "dir/out.json", "json"),
        (None, "out.txt", "table"),
        (None, "out", "table"),
        ("json", "out.csv", "json"),  # --format wins over the extension
        ("csv", None, "csv"),
    ],
)
def test_choose_format(fmt: str | None, output: str | None, expected: str) -> None:
    assert choose_format(fmt, output) == expected


def test_format_frame_in_each_format() -> None:
    frame = table()[["ID", "acc"]].head(3)
    assert format_frame(frame, "csv").splitlines() == ["ID,acc", "1,0.5", "2,0.7", '3,""']
    records = json.loads(format_frame(frame, "json"))
    assert records[0] == {"ID": 1, "acc": 0.5} and records[2]["acc"] is None
    text = format_frame(frame, "table")
    assert text.endswith("\n") and text.splitlines()[-1].split() == ["3", "-"]  # missing shows as -
    assert format_frame(frame.iloc[0:0], "table") == "(no rows)\n"


def test_json_keeps_every_digit_and_iso_dates() -> None:
    frame = pd.DataFrame({"x": [1 / 3, 123456.789012345], "t": pd.to_datetime(["2024-05-01 12:30:00", None])})
    records = json.loads(format_frame(frame, "json"))
    assert [r["x"] for r in records] == [1 / 3, 123456.789012345]
    assert records[0]["t"] == "2024-05-01 12:30:00" and records[1]["t"] is None


def test_compact_frame_shows_what_a_researcher_reads() -> None:
    out = compact_frame(table(), ["dataset", "seed", "lr"], ["acc"])
    assert list(out.columns) == ["ID", "dataset", "seed", "lr", "status", "acc", "pyexp_attempts", "error"]
    assert out["error"].tolist()[2] == "ValueError: bad"
    no_errors = compact_frame(table().assign(error=None), ["dataset"], ["acc"])
    assert list(no_errors.columns) == ["ID", "dataset", "status", "acc", "pyexp_attempts"]


def test_last_line() -> None:
    assert last_line("Traceback\n  x\nKeyError: 'k'\n\n") == "KeyError: 'k'"
    assert last_line("   ") == "   "
    assert last_line(None) is None
