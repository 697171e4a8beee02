"""Grids: the product in the order written, zip groups, ranges, and the row hash."""

from __future__ import annotations

import pytest

from pyexperimenter.params.grid import Factor, Grid, integer_or_float_range, parameter_hash
from pyexperimenter.sqltypes import SqlType

FLOAT = SqlType("DOUBLE", "float")
INT = SqlType("BIGINT", "int")
TEXT = SqlType("VARCHAR(255)", "str")


def single(name: str, *values: object) -> Factor:
    return Factor((name,), tuple((v,) for v in values))


def test_product_in_the_order_written_last_varies_fastest() -> None:
    grid = Grid((single("a", 1, 2), single("b", "x", "y", "z")))
    assert len(grid) == 6
    assert list(grid) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"},
        {"a": 2, "b": "x"}, {"a": 2, "b": "y"}, {"a": 2, "b": "z"},
    ]
    assert grid.names == ["a", "b"]


def test_zip_group_is_one_axis() -> None:
    grid = Grid((Factor(("kernel", "gamma"), (("linear", None), ("rbf", 0.1))), single("C", 1.0, 10.0)))
    assert len(grid) == 4
    assert list(grid)[:2] == [{"kernel": "linear", "gamma": None, "C": 1.0}, {"kernel": "linear", "gamma": None, "C": 10.0}]
    assert grid.names == ["kernel", "gamma", "C"]


def test_empty_grid() -> None:
    assert len(Grid(())) == 0 and list(Grid(())) == [] and Grid(()).names == []
    assert len(Grid((single("a"),))) == 0


def test_len_does_not_generate_rows() -> None:
    grid = Grid(tuple(single(f"p{i}", *range(10)) for i in range(6)))
    assert len(grid) == 1_000_000
    assert next(iter(grid)) == {f"p{i}": 0 for i in range(6)}


@pytest.mark.parametrize(
    ("start", "stop", "step", "values"),
    [
        (0, 5, 1, [0, 1, 2, 3, 4]),
        (0, 10, 3, [0, 3, 6, 9]),
        (5, 0, -2, [5, 3, 1]),
        (3, 3, 1, []),
        (0.0, 1.0, 0.25, [0.0, 0.25, 0.5, 0.75]),
        (0.1, 0.4, 0.1, [0.1, 0.2, 0.3]),  # no float drift: 0.30000000000000004 is 0.3, 0.4 excluded
        (0, 1, 0.1, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
        (1.0, 0.0, -0.5, [1.0, 0.5]),
        (0, 1.0, 2, [0]),
    ],
)
def test_ranges_exclude_stop(start: float, stop: float, step: float, values: list[float]) -> None:
    assert integer_or_float_range(start, stop, step) == values


def test_integer_ranges_stay_integers() -> None:
    assert all(type(v) is int for v in integer_or_float_range(0, 4, 1))
    assert all(type(v) is float for v in integer_or_float_range(0, 2, 0.5))


def test_parameter_hash_normalises_by_column_type() -> None:
    assert parameter_hash({"x": 1}, {"x": FLOAT}) == parameter_hash({"x": 1.0}, {"x": FLOAT})
    assert parameter_hash({"x": 2.0}, {"x": INT}) == parameter_hash({"x": 2}, {"x": INT})
    assert parameter_hash({"x": 1}, {"x": FLOAT}) != parameter_hash({"x": 2}, {"x": FLOAT})
    assert parameter_hash({"x": "1"}, {"x": TEXT}) != parameter_hash({"x": 1}, {"x": TEXT})


def test_parameter_hash_is_stable_and_order_free() -> None:
    cols = {"a": INT, "b": TEXT}
    h = parameter_hash({"a": 1, "b": "x"}, cols)
    assert h == parameter_hash({"b": "x", "a": 1}, dict(reversed(cols.items())))
    # tables filled by earlier versions hold these digests: the hash may never change
    assert h == "6773f537e12881321ac5aca774c9ac2dd80f3a12"
    # only the parameter columns count; a missing one hashes as NULL
    assert parameter_hash({"a": 1, "b": "x", "result": 5}, cols) == h
    assert parameter_hash({"a": 1}, cols) == parameter_hash({"a": 1, "b": None}, cols)
