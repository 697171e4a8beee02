"""pyexperimenter/where.py: `--where` parsed and typed once, its SQL rendered by one function
(store/sql/conditions.py) and its Python predicate agreeing with it.

The databases themselves are compared in tests/integration/test_where_contract.py."""

from __future__ import annotations

import math
import sqlite3
from typing import Any

import pytest

from pyexperimenter.errors import InputError
from pyexperimenter.store.sql.conditions import render_filter
from pyexperimenter.store.sql.dialect import MYSQL, SQLITE
from pyexperimenter.where import Filter, compile_where, parse

KINDS = {"ds": "str", "x": "int", "w": "float", "flag": "bool"}
ROWS: list[dict[str, Any]] = [
    {"ID": 1, "ds": "iris", "x": 1, "w": 1.0, "flag": 1},
    {"ID": 2, "ds": "Iris", "x": 2, "w": 2.5, "flag": 0},
    {"ID": 3, "ds": "iris ", "x": 0, "w": None, "flag": None},
    {"ID": 4, "ds": None, "x": None, "w": 1.0, "flag": 1},
    {"ID": 5, "ds": "1", "x": 1, "w": 0.5, "flag": 0},
    {"ID": 6, "ds": "1.0", "x": 3, "w": 3.0, "flag": None},
]
CASES = [
    ("ds=iris", [1]), ("ds==Iris", [2]), ("ds!=iris", [2, 3, 4, 5, 6]), ("ds=null", [4]), ("ds!=NULL", [1, 2, 3, 5, 6]),
    ("ds=", [4]), ("ds=none", [4]), ("ds=1", [5]), ("x=1", [1, 5]), ("x=1.0", [1, 5]), ("x!=1", [2, 3, 4, 6]),
    ("x<1", [3]), ("x>=2", [2, 6]), ("x<=1", [1, 3, 5]), ("x>2.5", [6]), ("w=1", [1, 4]), ("w!=1", [2, 3, 5, 6]),
    ("flag=true", [1, 4]), ("flag=No", [2, 5]), ("flag!=true", [2, 3, 5, 6]), ("flag=0", [2, 5]),
    ("x=abc", []), ("x!=abc", [1, 2, 3, 4, 5, 6]), ("x=nan", [4]),
]


def _sqlite_ids(where: Filter) -> list[int]:
    db = sqlite3.connect(":memory:")
    db.execute('CREATE TABLE t ("ID" INTEGER PRIMARY KEY, "ds" VARCHAR(255), "x" INTEGER, "w" DOUBLE, "flag" BOOLEAN)')
    db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [tuple(r.values()) for r in ROWS])
    sql = f"SELECT ID FROM t{render_filter(SQLITE, where.shape, ' WHERE ')} ORDER BY ID"
    return [r[0] for r in db.execute(sql, where.args)]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_sql_and_python_select_the_same_rows(text: str, expected: list[int]) -> None:
    where = compile_where([text], KINDS)
    assert [r["ID"] for r in ROWS if where.matches(r)] == expected
    assert _sqlite_ids(where) == expected


def test_missing_values_read_back_as_nan_are_missing() -> None:
    where = compile_where(["w!=1", "x<5"], KINDS)
    assert where.matches({"w": math.nan, "x": 1}) and not where.matches({"w": 1.0, "x": math.nan})


def test_mysql_text_equality_keeps_the_index_and_checks_the_bytes() -> None:
    where = compile_where(["ds=iris", "x>=2"], KINDS)
    sql = render_filter(MYSQL, where.shape, " AND ")
    assert sql == (" AND `ds` = ? AND CONVERT(`ds` USING utf8mb4) COLLATE utf8mb4_nopad_bin"
                   " = CONVERT(? USING utf8mb4) COLLATE utf8mb4_nopad_bin AND `x` >= ?")
    assert where.args == ("iris", "iris", 2)
    assert render_filter(MYSQL, compile_where(["ds!=iris"], KINDS).shape, " WHERE ") == (
        " WHERE (`ds` IS NULL OR CONVERT(`ds` USING utf8mb4) COLLATE utf8mb4_nopad_bin"
        " <> CONVERT(? USING utf8mb4) COLLATE utf8mb4_nopad_bin)")
    assert render_filter(MYSQL, (), " WHERE ") == ""


def test_the_shape_holds_no_values() -> None:
    assert compile_where(["ds=a"], KINDS).shape == compile_where(["ds=b"], KINDS).shape


@pytest.mark.parametrize(("text", "message"), [
    ("ds<b", "--where: < needs a numeric column, got 'b'"),
    ("x<abc", "--where: expected a number to compare with, got 'abc'"),
    ("x>inf", "--where: expected a number to compare with, got 'inf'"),
    ("flag=maybe", "--where: expected true or false for a boolean column, got 'maybe'"),
    ("colour=red", "--where: unknown column 'colour'; expected one of ds, x, w, flag"),
    ("nonsense", "--where: expected COL=VALUE"),
])
def test_bad_conditions_are_one_input_error(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        compile_where([text], KINDS)


def test_parse_strips_the_spaces_around() -> None:
    assert parse("  seed  >=  1 ") == ("seed", ">=", "1")
    assert parse("note=") == ("note", "=", "")
