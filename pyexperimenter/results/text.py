"""Records written as export.py's `format_frame` writes their DataFrame, without pandas.

`pyexp results --group-by` prints a handful of rows; importing pandas (and the pyarrow it
loads) to print them cost more than the query. The text is the one pandas writes for the same
rows (tests compare both): each column is written the way pandas writes the type it would
infer for the column (integers, floats, booleans, text, and booleans or nothing with missing
values). Columns of any other kind (dates, DECIMAL or JSON group keys, mixed kinds) are
handed to pandas after all, so the output never differs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from .records import Records, missing

TEXT_FORMATS = ("table", "csv", "json", "jsonl")
_PRECISION = 6  # pandas' display.precision
_DECIMALS = 15  # export.py's double_precision
_NUMBER = re.compile(r"^\s*[+-]?[0-9]+\.[0-9]*$")
_ASCII_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)} | {
    ord("\b"): "\\b", ord("\f"): "\\f", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
    ord('"'): '\\"', ord("\\"): "\\\\", ord("/"): "\\/",
}
_TABLE_ESCAPES = {ord("\t"): "\\t", ord("\r"): "\\r", ord("\n"): "\\n"}


def column_kind(values: Sequence[Any]) -> str | None:
    """The type pandas infers for a column of these values, among those written here: int,
    float (also integers with missing values), bool, str (text, missing values NaN), object
    (booleans with missing values, or only None); None for any other."""
    seen = set()
    for v in values:
        if v is None:
            seen.add("none")
        elif isinstance(v, bool):
            seen.add("bool")
        elif isinstance(v, int):
            seen.add("int" if -(2**63) <= v < 2**63 else "other")
        elif isinstance(v, float):
            seen.add("nan" if math.isnan(v) else "float")
        elif isinstance(v, str):
            seen.add("str")
        else:
            seen.add("other")
    if seen <= {"none"}:
        return "object"
    if seen == {"int"} or seen == {"bool"}:
        return seen.pop()
    if seen <= {"int", "float", "nan", "none"}:
        return "float"
    if "bool" in seen and seen <= {"bool", "nan", "none"}:
        return "object"
    if "str" in seen and seen <= {"str", "nan", "none"}:
        return "str"
    return None


def format_records(records: Records, fmt: str) -> str:
    """The text of `records` in `fmt`, as `format_frame(records.frame(), fmt)` writes it."""
    if fmt not in TEXT_FORMATS:
        raise InputError(f"--format: expected one of {', '.join(TEXT_FORMATS)}, got {fmt!r}")
    columns = [[row[i] for row in records.rows] for i in range(len(records.columns))]
    kinds = [column_kind(values) for values in columns]
    if any(k is None for k in kinds):
        from .export import format_frame

        return format_frame(records.frame(), fmt)
    writers = {"csv": _csv, "json": _json, "jsonl": _jsonl, "table": _table}
    return writers[fmt](records, columns, [str(k) for k in kinds])


def write_records(records: Records, fmt: str, output: str | None) -> str | None:
    """As export.py's `write_frame`: to `output` in `fmt`; without an output, the text to print."""
    if fmt == "parquet":
        from .export import write_frame

        return write_frame(records.frame(), fmt, output)
    text = format_records(records, fmt)
    if output is None:
        return text
    Path(output).write_text(text)
    return None


# --- CSV: floats as Python's repr (numpy's shortest form), missing values empty


def _csv_cell(kind: str) -> Callable[[Any], str]:
    if kind == "float":
        return lambda v: "" if missing(v) else repr(float(v))
    return lambda v: "" if missing(v) else str(v)


def _csv(records: Records, columns: list[list[Any]], kinds: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(records.columns)
    cells = [_csv_cell(k) for k in kinds]
    writer.writerows([f(v) for f, v in zip(cells, row)] for row in records.rows)
    return out.getvalue()


# --- JSON: pandas' encoder (ujson): floats with 15 decimals, `/` escaped, non-ASCII as \\u


def json_text(text: str) -> str:
    text = text.translate(_ASCII_ESCAPES)
    if not text.isascii():
        text = "".join(c if c.isascii() else json.dumps(c)[1:-1] for c in text)
    return f'"{text}"'


def json_float(value: float) -> str:
    """A float as pandas' `to_json(double_precision=15)` writes it: 15 decimals, rounded half
    to odd, trailing zeros dropped; %.15g beyond 1e16 or below 1e-15; NaN and infinity null."""
    if math.isnan(value) or math.isinf(value):
        return "null"
    size = -value if value < 0 else value
    if size > 1e16 - 1 or (size != 0.0 and size < 1e-15):
        return f"{value:.15g}"
    whole = int(size)
    scaled = (size - whole) * 1e15
    frac = int(scaled)
    rest = scaled - frac
    if rest > 0.5 or (rest == 0.5 and (frac == 0 or frac & 1)):
        frac += 1
    if frac >= 10**_DECIMALS:
        frac, whole = 0, whole + 1
    digits = f"{frac:0{_DECIMALS}d}".rstrip("0") if frac else "0"
    return f"{'-' if value < 0 else ''}{whole}.{digits}"


def _json_value(kind: str, value: Any) -> str:
    if missing(value):
        return "null"
    if kind == "float":
        return json_float(float(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return json_text(value) if isinstance(value, str) else str(value)


def _json_lines(records: Records, kinds: list[str]) -> list[str]:
    keys = [json_text(c) for c in records.columns]
    return ["{" + ",".join(f"{k}:{_json_value(kind, v)}" for k, kind, v in zip(keys, kinds, row)) + "}"
            for row in records.rows]


def _json(records: Records, columns: list[list[Any]], kinds: list[str]) -> str:
    return "[" + ",".join(_json_lines(records, kinds)) + "]\n"


def _jsonl(records: Records, columns: list[list[Any]], kinds: list[str]) -> str:
    return "".join(line + "\n" for line in _json_lines(records, kinds))


# --- table: pandas' `to_string(index=False, na_rep="-")`, each column right-aligned


def _table(records: Records, columns: list[list[Any]], kinds: list[str]) -> str:
    if not records.rows:
        return "(no rows)\n"
    shown = []
    for name, values, kind in zip(records.columns, columns, kinds):
        numeric = kind in ("int", "float", "bool")  # pandas counts booleans as numbers
        cells = [" " + name if numeric else name, *_table_cells(kind, values)]
        width = max(len(c) for c in cells)
        shown.append([c.rjust(width) for c in cells])
    return "\n".join(" ".join(line) for line in zip(*shown)) + "\n"


def _table_cells(kind: str, values: list[Any]) -> list[str]:
    if kind == "float":
        return _float_cells([math.nan if v is None else float(v) for v in values])
    if kind == "str":
        return ["-" if missing(v) else v.translate(_TABLE_ESCAPES) for v in values]
    if kind == "object":  # None stays None; NaN is missing
        return ["None" if v is None else "-" if missing(v) else str(v) for v in values]
    return [str(v) for v in values]


def _float_cells(values: list[float]) -> list[str]:
    """Six decimals, trailing zeros dropped alike from the whole column; six significant digits
    in e-notation when a value would show as 0, or a value over 1e6 makes the column wider
    than 12 characters (pandas' FloatArrayFormatter with display.precision 6)."""
    cells = _trimmed([f"{v:.{_PRECISION}f}" if not math.isnan(v) else "-" for v in values])
    present = [abs(v) for v in values if not math.isnan(v)]
    small = any(0 < v < 10**-_PRECISION for v in present)
    large = any(v > 1e6 for v in present)
    if small or (large and max(len(c) for c in cells) > _PRECISION + 6):
        cells = [f"{v:.{_PRECISION}e}" if not math.isnan(v) else "-" for v in values]
    return cells


def _trimmed(cells: list[str]) -> list[str]:
    numbers = [i for i, c in enumerate(cells) if _NUMBER.match(c)]
    if not numbers:
        return cells
    cells = list(cells)
    while all(cells[i].endswith("0") for i in numbers):
        for i in numbers:
            cells[i] = cells[i][:-1]
    for i in numbers:
        if cells[i].endswith("."):
            cells[i] += "0"
    return cells
