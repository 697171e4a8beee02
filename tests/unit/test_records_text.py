"""Aggregates printed without pandas (results/text.py) read exactly as pandas writes the same
rows (export.format_frame on the DataFrame `results()` returns), and are sorted as pandas sorts
them. Values are drawn at random (seeded) from the kinds aggregates take: integers, floats of
every size, booleans, awkward text, each with or without missing values."""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from pyexperimenter.results import format_frame
from pyexperimenter.results.records import Records, sort_rows
from pyexperimenter.results.text import TEXT_FORMATS, column_kind, format_records, json_float, json_text, write_records

# quoted in CSV, escaped in JSON and in the table; non-ASCII, outside the BMP, control characters
CHARS = 'ab ,"\'\n\r\t/\\é\x7f\x00\x1fü€\U0001f600\u2028-_0123456789'


def a_float(rnd: random.Random) -> float:
    pick = rnd.random()
    if pick < 0.1:
        return float(rnd.randint(-1000, 1000))
    if pick < 0.25:
        return rnd.uniform(-1, 1) * 10 ** rnd.randint(-20, 20)
    if pick < 0.3:
        return rnd.choice([0.0, -0.0, 0.5, 2.5, 1e16, 1e-15, 1e-16, 1e6, 1e6 + 0.5, 999999.9999999, math.inf])
    if pick < 0.35:
        return rnd.uniform(0, 1e-5)
    return rnd.uniform(-1, 1) * 10 ** rnd.randint(-7, 9)


MAKERS: dict[str, Callable[[random.Random], Any]] = {
    "int": lambda rnd: rnd.randint(-(10 ** rnd.randint(0, 18)), 10 ** rnd.randint(0, 18)),
    "float": a_float,
    "bool": lambda rnd: rnd.random() < 0.5,
    "str": lambda rnd: "".join(rnd.choice(CHARS) for _ in range(rnd.randint(0, 8))),
}


def a_column(rnd: random.Random, rows: int) -> list[Any]:
    kind = rnd.choice(list(MAKERS))
    share_missing = rnd.choice([0.0, 0.0, 0.3, 1.0])
    absent = rnd.choice([None, math.nan])
    numbers = kind in ("int", "float") and rnd.random() < 0.2  # integers and floats mixed
    return [absent if rnd.random() < share_missing else MAKERS[rnd.choice(["int", "float"]) if numbers else kind](rnd)
            for _ in range(rows)]


def random_records(rnd: random.Random) -> Records:
    width, rows = rnd.randint(1, 5), rnd.randint(1, 6)
    columns = [a_column(rnd, rows) for _ in range(width)]
    names = [f"{rnd.choice(['n', 'acc', 'a/b', 'x_mean', 'é'])}{i}" for i in range(width)]
    return Records(names, [list(row) for row in zip(*columns)])


@pytest.mark.parametrize("seed", range(4))
def test_text_equals_pandas(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(150):
        records = random_records(rnd)
        frame = records.frame()
        for fmt in TEXT_FORMATS:
            assert format_records(records, fmt) == format_frame(frame, fmt), (fmt, records)


def test_every_kind_is_written_here() -> None:
    """The kinds aggregates take are written without pandas; others are left to it."""
    assert column_kind([1, 2]) == "int"
    assert column_kind([1, None]) == column_kind([1.5, math.nan]) == "float"
    assert column_kind([True, None]) == column_kind([None]) == "object"
    assert column_kind(["a", None]) == "str"
    from decimal import Decimal

    assert column_kind([Decimal("1.5")]) is None and column_kind([1, True]) is None
    records = Records(["d", "n"], [[Decimal("1.25"), 1], [None, 2]])
    for fmt in TEXT_FORMATS:
        assert format_records(records, fmt) == format_frame(records.frame(), fmt)


def test_no_rows() -> None:
    records = Records(["dataset", "n", "acc"], [])
    for fmt in TEXT_FORMATS:
        assert format_records(records, fmt) == format_frame(records.frame(), fmt)


def test_json_floats_and_text_as_pandas_writes_them() -> None:
    rnd = random.Random(5)
    values = [rnd.uniform(-1, 1) * 10 ** rnd.randint(-20, 20) for _ in range(20000)]
    values += [rnd.randint(-(10**6), 10**6) / 2 ** rnd.randint(0, 60) for _ in range(5000)]  # exact halves
    values += [k + 0.5 for k in range(100)] + [k * 1e-15 for k in range(100)] + [math.nan, -math.inf]
    lines = pd.DataFrame({"a": values}).to_json(orient="records", lines=True, double_precision=15).splitlines()
    assert [line[5:-1] for line in lines] == [json_float(v) for v in values]
    text = [chr(i) for i in range(0, 0x3000)] + [chr(i) for i in range(0xE000, 0x110000, 97)]
    lines = pd.DataFrame({"s": text}).to_json(orient="records", lines=True).splitlines()
    assert [line[5:-1] for line in lines] == [json_text(c) for c in text]


@pytest.mark.parametrize("seed", range(3))
def test_sorted_as_sort_values_sorts(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(100):
        width = rnd.randint(1, 3)
        keys = [rnd.choice([["a", "b", "B", "a ", None], [1, 2, 3, None, math.nan], [True, False, None],
                            [0.5, -1.5, 2.0, math.nan]]) for _ in range(width)]
        rows = [[*(rnd.choice(k) for k in keys), i] for i in range(rnd.randint(1, 8))]
        names = [f"k{i}" for i in range(width)]
        expected = (pd.DataFrame(rows, columns=[*names, "n"])
                    .sort_values(names, na_position="last", kind="mergesort").reset_index(drop=True))
        got = Records([*names, "n"], sort_rows(rows, width)).frame()
        pd.testing.assert_frame_equal(got, expected)


def test_parquet_is_written_through_pandas(tmp_path: Any) -> None:
    records = Records(["dataset", "n"], [["a", 2], ["b", 3]])
    out = tmp_path / "x.parquet"
    assert write_records(records, "parquet", str(out)) is None
    pd.testing.assert_frame_equal(pd.read_parquet(out), records.frame(), check_dtype=False)


def test_text_needs_no_pandas() -> None:
    import subprocess

    code = ("import sys; from pyexperimenter.results.records import Records; "
            "from pyexperimenter.results.text import format_records; "
            "r = Records(['k', 'n', 'acc'], [['a', 1, 0.5], [None, 2, float('nan')]]); "
            "[format_records(r, f) for f in ('table', 'csv', 'json', 'jsonl')]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'numpy', 'pyarrow')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
