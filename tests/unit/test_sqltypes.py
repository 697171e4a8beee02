"""Column types: the allow-list, the value round trip through the driver, and inference."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from pyexperimenter.sqltypes import SqlType, infer_type, is_identifier, parse_sql_type


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("INT", "INT", "int"),
        ("integer", "INTEGER", "int"),
        ("int(11)", "INT", "int"),
        ("BIGINT(20)", "BIGINT", "int"),
        ("float", "FLOAT", "float"),
        ("double precision", "DOUBLE", "float"),
        ("  Double   Precision ", "DOUBLE", "float"),
        ("REAL", "REAL", "float"),
        ("varchar(64)", "VARCHAR(64)", "str"),
        ("VARCHAR ( 0255 )", "VARCHAR(255)", "str"),
        ("char(32)", "CHAR(32)", "str"),
        ("string", "TEXT", "str"),
        ("LONGTEXT", "LONGTEXT", "str"),
        ("bool", "BOOLEAN", "bool"),
        ("DATETIME", "DATETIME", "datetime"),
        ("timestamp", "TIMESTAMP", "datetime"),
        ("date", "DATE", "date"),
        ("json", "JSON", "json"),
        ("DECIMAL", "DECIMAL(10,0)", "decimal"),
        ("numeric(8)", "DECIMAL(8,0)", "decimal"),
        ("decimal(8, 3)", "DECIMAL(8,3)", "decimal"),
    ],
)
def test_accepted_types(text: str, name: str, kind: str) -> None:
    assert parse_sql_type(text) == SqlType(name, kind)


@pytest.mark.parametrize(
    "text",
    ["BLOB", "VARCHAR", "VARCHAR(0)", "VARCHAR(70000)", "VARCHAR(10); DROP TABLE x", "INT UNSIGNED",
     "DECIMAL(100,2)", "ENUM('a')", "", 5, None, ["INT"]],
)
def test_rejected_types(text: Any) -> None:
    assert parse_sql_type(text) is None


def test_json_columns_are_text_in_sqlite_and_longtext_in_mysql() -> None:
    json_type = SqlType("JSON", "json")
    assert (json_type.sqlite_ddl(), json_type.mysql_ddl()) == ("TEXT", "LONGTEXT")
    assert (SqlType("INT", "int").sqlite_ddl(), SqlType("INT", "int").mysql_ddl()) == ("INT", "INT")


@pytest.mark.parametrize(
    ("sql_type", "value", "stored"),
    [
        (SqlType("JSON", "json"), {"b": [1, 2], "a": None}, '{"a": null, "b": [1, 2]}'),
        (SqlType("JSON", "json"), "5", '"5"'),
        (SqlType("BOOLEAN", "bool"), True, 1),
        (SqlType("BOOLEAN", "bool"), False, 0),
        (SqlType("INT", "int"), 7, 7),
        (SqlType("DOUBLE", "float"), 0.5, 0.5),
        (SqlType("VARCHAR(9)", "str"), "x", "x"),
        (SqlType("DATETIME", "datetime"), dt.datetime(2024, 5, 6, 7, 8, 9), "2024-05-06 07:08:09"),
        (SqlType("DATE", "date"), dt.date(2024, 5, 6), "2024-05-06"),
        (SqlType("DECIMAL(8,3)", "decimal"), Decimal("1.250"), "1.250"),  # sqlite3 binds no Decimal
        (SqlType("INT", "int"), None, None),
    ],
)
def test_to_db_from_db_round_trip(sql_type: SqlType, value: Any, stored: Any) -> None:
    assert sql_type.to_db(value) == stored
    back = sql_type.from_db(stored)
    if sql_type.kind in ("datetime", "date"):
        assert back == stored  # dates come back as the driver gives them; the store decodes them
    else:
        assert back == value and type(back) is type(value)


def test_numpy_scalars_bind_as_the_python_values_they_hold() -> None:
    import numpy as np

    assert SqlType("INT", "int").to_db(np.int64(7)) == 7 and type(SqlType("INT", "int").to_db(np.int64(7))) is int
    assert type(SqlType("FLOAT", "float").to_db(np.float32(0.5))) is float
    assert SqlType("BOOLEAN", "bool").to_db(np.bool_(True)) == 1
    assert SqlType("DECIMAL(6,2)", "decimal").to_db(np.float64(1.5)) == 1.5
    assert SqlType("JSON", "json").to_db(np.array(3)) == "3"
    assert SqlType("DOUBLE", "float").to_db(Decimal("0.25")) == 0.25


def test_from_db_undoes_what_drivers_hand_back() -> None:
    assert SqlType("INT", "int").from_db(Decimal("3")) == 3
    assert SqlType("DOUBLE", "float").from_db(2) == 2.0 and type(SqlType("DOUBLE", "float").from_db(2)) is float
    assert SqlType("BOOLEAN", "bool").from_db(0) is False
    assert SqlType("DECIMAL(4,1)", "decimal").from_db(1.5) == Decimal("1.5")
    assert SqlType("TEXT", "str").from_db(b"abc") == "abc"
    assert SqlType("JSON", "json").from_db(b"[1]") == [1]
    assert SqlType("JSON", "json").from_db([1]) == [1]


def test_lists_in_a_text_column_travel_as_json() -> None:
    assert SqlType("TEXT", "str").to_db([1, "a"]) == '[1, "a"]'


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3], SqlType("BIGINT", "int")),
        ([1, 2.5], SqlType("DOUBLE", "float")),
        ([None, 0.1], SqlType("DOUBLE", "float")),
        ([True, False], SqlType("BOOLEAN", "bool")),
        ([True, 1], SqlType("JSON", "json")),
        (["a", "bb"], SqlType("VARCHAR(255)", "str")),
        (["a", "x" * 256], SqlType("TEXT", "str")),
        (["a", 1], SqlType("JSON", "json")),
        ([[1, 2], [3]], SqlType("JSON", "json")),
        ([None], SqlType("JSON", "json")),
        ([], SqlType("JSON", "json")),
    ],
)
def test_infer_type(values: list[Any], expected: SqlType) -> None:
    assert infer_type(values) == expected


@pytest.mark.parametrize("name", ["a", "_x", "Table_1", "x" * 64])
def test_identifiers(name: str) -> None:
    assert is_identifier(name)


@pytest.mark.parametrize("name", ["", "1a", "a-b", "a b", "x" * 65, "a;", "é", 5, None])
def test_not_identifiers(name: Any) -> None:
    assert not is_identifier(name)
