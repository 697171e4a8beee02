"""results/writers.py, the one writer of each format, by its rules (docs/cli.md, "Output
formats"): each format read back with csv or json gives exactly the values written (floats to
the last bit, -0.0 and infinities included, integers of any size, text with quotes, line breaks
and non-ASCII, dates as ISO text, DECIMAL as its exact text), NULL empty in CSV and null in JSON,
from records, from a DataFrame and chunk by chunk alike. Aggregates are also sorted as pandas
sorts them, and written without importing pandas."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from pyexperimenter.results import format_frame
from pyexperimenter.results.records import Records, sort_rows
from pyexperimenter.results.writers import TEXT_FORMATS, list_chunks, render

# quoted in CSV, escaped in JSON and in the table; non-ASCII, outside the BMP, control characters
CHARS = 'ab ,"\'\n\r\t/\\é\x7f\x00\x1fü€\U0001f600\u2028-_0123456789'
AWKWARD = [0.1 + 0.2, 1e22, -0.0, 0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308, 1 / 3, 2.5, 1e16]


def a_float(rnd: random.Random) -> float:
    if rnd.random() < 0.3:
        return rnd.choice(AWKWARD)
    return rnd.uniform(-1, 1) * 10 ** rnd.randint(-30, 30)


MAKERS: dict[str, Callable[[random.Random], Any]] = {
    "int": lambda rnd: rnd.randint(-(10 ** rnd.randint(0, 30)), 10 ** rnd.randint(0, 30)),  # beyond 64 bits too
    "float": a_float,
    "bool": lambda rnd: rnd.random() < 0.5,
    "str": lambda rnd: "".join(rnd.choice(CHARS) for _ in range(rnd.randint(0, 8))),
    "decimal": lambda rnd: Decimal(rnd.randint(-(10**12), 10**12)).scaleb(-4),
    "date": lambda rnd: rnd.choice([date(2026, 12, 7), datetime(2026, 12, 7, 12, 0, 1, 234567), datetime(1999, 1, 1)]),
}


def random_rows(rnd: random.Random) -> tuple[list[str], list[list[Any]]]:
    width, rows = rnd.randint(1, 6), rnd.randint(0, 8)
    kinds = [rnd.choice(list(MAKERS)) for _ in range(width)]
    share_missing = [rnd.choice([0.0, 0.3, 1.0]) for _ in range(width)]
    names = [rnd.choice(["n", "acc", "a,b", 'x"y', "é"]) + str(i) for i in range(width)]
    data = [[None if rnd.random() < m else MAKERS[k](rnd) for k, m in zip(kinds, share_missing)] for _ in range(rows)]
    return names, data


def same(got: Any, want: Any) -> bool:
    """Equal, and for floats the same bits (-0.0 is not 0.0)."""
    if isinstance(want, float):
        return isinstance(got, float) and (got == want and math.copysign(1, got) == math.copysign(1, want))
    return type(got) is type(want) and got == want


def from_csv(cell: str, want: Any) -> Any:
    """A CSV field read back as the type written (CSV carries no types)."""
    if want is None:
        assert cell == ""
        return None
    if isinstance(want, bool):
        return {"True": True, "False": False}[cell]
    if isinstance(want, datetime):
        return datetime.fromisoformat(cell)
    if isinstance(want, date):
        return date.fromisoformat(cell)
    return type(want)(cell)


def from_json(value: Any, want: Any) -> Any:
    if isinstance(want, Decimal):
        return Decimal(value)
    if isinstance(want, datetime):
        return datetime.fromisoformat(value)
    if isinstance(want, date):
        return date.fromisoformat(value)
    return value


def check_round_trip(names: list[str], rows: list[list[Any]], texts: dict[str, str]) -> None:
    read = list(csv.reader(io.StringIO(texts["csv"], newline="")))
    assert read[0] == names and len(read) == len(rows) + 1
    for got, want in zip(read[1:], rows):
        assert all(same(from_csv(c, w), w) for c, w in zip(got, want)), (got, want)
    lines = [json.loads(line) for line in texts["jsonl"].split("\n")[:-1]]  # not splitlines: U+2028 is text
    assert json.loads(texts["json"]) == lines and len(lines) == len(rows)
    for got, want in zip(lines, rows):
        assert list(got) == names
        assert all(same(from_json(v, w), w) or (w is None and v is None) for v, w in zip(got.values(), want)), (got, want)


@pytest.mark.parametrize("seed", range(4))
def test_each_format_reads_back_exactly(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(150):
        names, rows = random_rows(rnd)
        records = Records(names, rows)
        check_round_trip(names, rows, {fmt: records.write(fmt, None) or "" for fmt in TEXT_FORMATS})
        small = {fmt: render(fmt, names, list_chunks(rows, chunk=2)) for fmt in TEXT_FORMATS}  # chunk by chunk
        assert small == {fmt: records.write(fmt, None) for fmt in TEXT_FORMATS}


def test_the_awkward_values_by_hand() -> None:
    rows = [[0.1 + 0.2, 1e22, -0.0, math.inf, 2**70, None, 'say "hi",\nthen é €', Decimal("3.1400"),
             datetime(2026, 12, 7, 12, 0, 0, 5), True]]
    names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    csv_text = render("csv", names, [rows[0:1]])
    assert csv_text.splitlines()[1] == ('0.30000000000000004,1e+22,-0.0,inf,1180591620717411303424,"",'
                                        '"say ""hi"",')
    assert csv_text.endswith('then é €",3.1400,"2026-12-07 12:00:00.000005",True\n')
    assert render("jsonl", names, [rows]) == (
        '{"a": 0.30000000000000004, "b": 1e+22, "c": -0.0, "d": Infinity, "e": 1180591620717411303424, '
        '"f": null, "g": "say \\"hi\\",\\nthen é €", "h": "3.1400", "i": "2026-12-07 12:00:00.000005", "j": true}\n')
    table = render("table", names, [rows]).splitlines()
    assert table[1].split() == ["0.3", "1e+22", "-0", "inf", "1180591620717411303424", "-",
                                'say', '"hi",\\nthen', "é", "€", "3.1400", "2026-12-07", "12:00:00.000005", "True"]


def test_a_frame_is_written_by_the_same_rules() -> None:
    """NaN (pandas' missing value) is NULL; numpy scalars are written as Python's numbers."""
    frame = pd.DataFrame({"n": [1, 2], "x": [0.1 + 0.2, math.nan], "s": ["a", None], "b": [True, False]})
    rows = [[1, 0.1 + 0.2, "a", True], [2, None, None, False]]
    for fmt in TEXT_FORMATS:
        assert format_frame(frame, fmt) == render(fmt, list(frame.columns), [rows]), fmt
    check_round_trip(list(frame.columns), rows, {fmt: format_frame(frame, fmt) for fmt in TEXT_FORMATS})


def test_no_rows() -> None:
    records = Records(["dataset", "n", "acc"], [])
    assert records.write("csv", None) == "dataset,n,acc\n"
    assert records.write("json", None) == "[]\n"
    assert records.write("jsonl", None) == ""
    assert records.write("table", None) == "(no rows)\n"


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
    assert records.write("parquet", str(out)) is None
    pd.testing.assert_frame_equal(pd.read_parquet(out), records.frame(), check_dtype=False)


def test_text_needs_no_pandas() -> None:
    import subprocess

    code = ("import sys; from pyexperimenter.results.records import Records; "
            "r = Records(['k', 'n', 'acc'], [['a', 1, 0.5], [None, 2, float('nan')]]); "
            "[r.write(f, None) for f in ('table', 'csv', 'json', 'jsonl')]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'numpy', 'pyarrow')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
