"""`--where COL=VALUE`: parsed, typed and matched once, one meaning in every command.

`run`, `launch`, `reset`, `status`, `results`, `report` and the Python API all turn their
`--where` texts into one `Filter` here; the store renders it to SQL (store/sql/conditions.py,
the only renderer) and the pandas paths test rows with `Filter.matches`, the same semantics
in Python. This module imports nothing of the package but its errors: it sits below the store
and results.

The meaning, on every database:
- A value compares in its column's kind (`kinds` maps each selectable column to its type's
  kind): numbers numerically (`seed=1` matches 1 and 1.0; text that is no number matches
  nothing under `=`, everything under `!=`); booleans as true/false; everything else as
  text, byte for byte (case and trailing spaces count), even where the text is digits.
- `<`, `<=`, `>`, `>=` need a number (or boolean) column; a missing value never matches them.
- `COL=null` matches missing values, `COL!=null` present ones; `COL!=VALUE` matches missing
  values too (a missing value differs from VALUE), as pandas' `!=` does.
- NULL is spelled `null`, `none`, `nan` or nothing (`COL=`); booleans `true`/`false`,
  `yes`/`no`, `1`/`0`; all case-insensitive, and these are the only spellings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InputError

OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
ORDERINGS = frozenset({"<", "<=", ">", ">="})
NULLS = frozenset({"", "null", "none", "nan"})
TRUTH = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

NUMBER, BOOL, TEXT = "number", "bool", "text"
# a column type's kind (sqltypes.SqlType.kind, or a bookkeeping Column's kind in
# store/sql/schema.py) -> how a --where value compares with it; anything else is text
_COMPARES_AS = {"int": NUMBER, "float": NUMBER, "decimal": NUMBER, "double": NUMBER, "pk": NUMBER,
                "bigint": NUMBER, "number": NUMBER, "bool": BOOL}

_CONDITION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|==|=|<|>)(.*)", re.DOTALL)


def compares_as(kind: str) -> str:
    """number, bool or text: how values of a column of this kind compare."""
    return _COMPARES_AS.get(kind, TEXT)


def parse(text: str) -> tuple[str, str, str]:
    """`COL=VALUE` (also `==`, `!=`, `<`, `<=`, `>`, `>=`) -> (column, operator, value text)."""
    m = _CONDITION.match(text)
    if not m:
        raise InputError(f"--where: expected COL=VALUE (or COL!=, <, <=, >, >= VALUE), got {text!r}")
    return m.group(1), m.group(2), m.group(3).strip()


@dataclass(frozen=True)
class Condition:
    """One typed condition. `form` says what it tests:
        null / not_null   the value is missing / present
        compare           `column op value` (value an int, float, 0/1 or str, per `kind`)
        never / always    a number column against text that is no number (`=` / `!=`)
    """

    column: str
    op: str  # one of OPERATORS
    kind: str  # number, bool or text
    form: str
    value: Any = None

    @property
    def shape(self) -> tuple[str, str, str, str]:
        """What the SQL text depends on (values are bound): column, operator, kind, form."""
        return (self.column, self.op, self.kind, self.form)

    @property
    def args(self) -> tuple[Any, ...]:
        """The values bound for the SQL rendering: a text `=` binds its value twice, once for
        the index's range in the column's collation and once for the exact bytes."""
        if self.form != "compare":
            return ()
        return (self.value, self.value) if self.kind == TEXT and self.op == "=" else (self.value,)

    def matches(self, value: Any) -> bool:
        """This condition on one value as read from the database (None or NaN: missing)."""
        missing = _missing(value)
        if self.form in ("null", "not_null"):
            return missing == (self.form == "null")
        if self.form in ("never", "always"):
            return self.form == "always"
        if missing:
            return self.op == "!="
        if self.kind == TEXT:
            mine = value if isinstance(value, str) else str(value)
            return mine == self.value if self.op == "=" else mine != self.value
        try:
            number = float(value)
        except (TypeError, ValueError):
            return self.op == "!="  # no number: differs from every number, never ordered
        return _compare(number, self.op, self.value)


@dataclass(frozen=True)
class Filter:
    """All conditions of a `--where` (each must hold); empty: every row."""

    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.conditions)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(c.column for c in self.conditions))

    @property
    def shape(self) -> tuple[tuple[str, str, str, str], ...]:
        """The conditions' shapes, free of values: store/sql/conditions.py renders them."""
        return tuple(c.shape for c in self.conditions)

    @property
    def args(self) -> tuple[Any, ...]:
        """The bound values, in the order the SQL rendering names them."""
        return tuple(a for c in self.conditions for a in c.args)

    def matches(self, row: Mapping[str, Any]) -> bool:
        return all(c.matches(row.get(c.column)) for c in self.conditions)


NO_FILTER = Filter()


def condition(column: str, op: str, text: str, kind: str) -> Condition:
    """A parsed condition typed by its column's kind (number, bool or text, see compares_as)."""
    op = "=" if op == "==" else op
    if op not in OPERATORS:
        raise InputError(f"--where: expected one of {', '.join(OPERATORS)}, got {op!r}")
    text = text.strip()
    if text.lower() in NULLS and op in ("=", "!="):
        return Condition(column, op, kind, "null" if op == "=" else "not_null")
    if kind == BOOL:
        if text.lower() not in TRUTH:
            raise InputError(f"--where: expected true or false for a boolean column, got {text!r}")
        return Condition(column, op, kind, "compare", int(TRUTH[text.lower()]))
    if kind == NUMBER:
        number = _number(text)
        if number is None:
            if op in ORDERINGS:
                raise InputError(f"--where: expected a number to compare with, got {text!r}")
            return Condition(column, op, kind, "never" if op == "=" else "always")
        return Condition(column, op, kind, "compare", number)
    if op in ORDERINGS:
        raise InputError(f"--where: {op} needs a numeric column, got {text!r}")
    return Condition(column, op, TEXT, "compare", text)


def compile_where(where: Iterable[str | tuple[str, str, str]], kinds: Mapping[str, str]) -> Filter:
    """`--where` texts (or parsed triples) -> a Filter. `kinds`: every selectable column and the
    kind of its type (int, float, bool, str, ... or number/bool/text). Bad input: one InputError line."""
    out: list[Condition] = []
    for item in where:
        column, op, text = parse(item) if isinstance(item, str) else item
        if column not in kinds:
            raise InputError(f"--where: unknown column {column!r}; expected one of {_listing(kinds)}")
        out.append(condition(column, op, text, compares_as(kinds[column])))
    return Filter(tuple(out))


def _listing(names: Iterable[str]) -> str:
    listed = ", ".join(map(str, names))
    return listed or "(the table is empty)"


def _number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return False


def _compare(a: float, op: str, b: float) -> bool:
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b
