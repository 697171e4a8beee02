"""The allow-list of column types users may name, and identifier validation.

Types and identifiers are the only things we ever put into SQL text ourselves; values always
travel as parameters. So both are checked here against strict patterns before any SQL is built.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import ValueRefused

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

# Canonical name -> python kind. Aliases map onto these below.
_PLAIN = {
    "INT": "int",
    "INTEGER": "int",
    "TINYINT": "int",
    "SMALLINT": "int",
    "MEDIUMINT": "int",
    "BIGINT": "int",
    "FLOAT": "float",
    "DOUBLE": "float",
    "REAL": "float",
    "TEXT": "str",
    "TINYTEXT": "str",
    "MEDIUMTEXT": "str",
    "LONGTEXT": "str",
    "BOOLEAN": "bool",
    "DATETIME": "datetime",
    "DATE": "date",
    "TIMESTAMP": "datetime",
    "JSON": "json",
}
_POSTGRES_TYPES = {
    "TINYINT": "SMALLINT", "MEDIUMINT": "INTEGER", "FLOAT": "DOUBLE PRECISION", "DOUBLE": "DOUBLE PRECISION",
    "TINYTEXT": "TEXT", "MEDIUMTEXT": "TEXT", "LONGTEXT": "TEXT", "BOOLEAN": "SMALLINT", "DATETIME": "TIMESTAMP(6)",
    "TIMESTAMP": "TIMESTAMP(6)", "JSON": "TEXT",
}
# What MariaDB's strict mode accepts, so that every backend stores a value exactly or refuses
# it alike (SQLite's type affinity would store anything anywhere): integer ranges, and the
# byte limits of the TEXT family (VARCHAR and CHAR count characters instead).
_INT_RANGE = {
    "TINYINT": 2**7, "SMALLINT": 2**15, "MEDIUMINT": 2**23, "INT": 2**31, "INTEGER": 2**31, "BIGINT": 2**63,
}
_TEXT_BYTES = {"TINYTEXT": 255, "TEXT": 65_535, "MEDIUMTEXT": 16_777_215, "LONGTEXT": 4_294_967_295}
_FLOAT_MAX = 3.402823466e38  # MariaDB's FLOAT is single precision
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_ALIASES = {"BOOL": "BOOLEAN", "DOUBLE PRECISION": "DOUBLE", "STRING": "TEXT", "STR": "TEXT"}
_SIZED = re.compile(r"(VARCHAR|CHAR)\s*\(\s*(\d{1,5})\s*\)")
_DECIMAL = re.compile(r"(DECIMAL|NUMERIC)\s*(?:\(\s*(\d{1,2})\s*(?:,\s*(\d{1,2})\s*)?\))?")
_INT_WIDTH = re.compile(r"(TINYINT|SMALLINT|MEDIUMINT|INT|INTEGER|BIGINT)\s*\(\s*\d{1,3}\s*\)")

ALLOWED_TYPES_HINT = (
    "one of INT, BIGINT, FLOAT, DOUBLE, DECIMAL(p,s), VARCHAR(n), CHAR(n), TEXT, LONGTEXT, "
    "BOOLEAN, DATETIME, DATE, TIMESTAMP, JSON"
)


@dataclass(frozen=True)
class SqlType:
    """A validated column type: `name` is safe to paste into DDL."""

    name: str
    kind: str  # int, float, str, bool, datetime, date, json, decimal

    def sqlite_ddl(self) -> str:
        # Types stay as written (as PyExperimenter does), except JSON, which SQLite's
        # affinity rules would treat as numeric and so turn '5' into 5.
        return "TEXT" if self.kind == "json" else self.name

    def mysql_ddl(self) -> str:
        return "LONGTEXT" if self.kind == "json" else self.name

    def postgres_ddl(self) -> str:
        """MariaDB's spellings in PostgreSQL's words. BOOLEAN is a SMALLINT 0/1, as on MariaDB
        (TINYINT(1)) and SQLite: the value bound is the same int everywhere, and `--where
        flag=1` means the same; JSON is kept as text, as elsewhere."""
        return _POSTGRES_TYPES.get(self.name, self.name)

    def to_db(self, value: Any, column: str | None = None) -> Any:
        """Convert a Python value into what the driver should bind for this column, or raise
        ValueRefused (naming `column`) when the column cannot hold it exactly."""
        if value is None:
            return None
        value = _plain(value)
        try:
            self.check(value)
        except ValueRefused as e:
            raise e.named(column) if column else e from None
        return self._bound(value)

    def check(self, value: Any) -> None:
        """Refuse what would not be stored exactly: the rules of MariaDB's strict mode,
        applied on every backend (the one check before any write of a value)."""
        if isinstance(value, str):
            try:
                size = len(value.encode("utf-8"))
            except UnicodeEncodeError:
                raise ValueRefused(f"{preview(value)} is not valid Unicode text (a lone surrogate)") from None
        if self.kind in ("int", "float", "decimal"):
            self._check_number(value)
        elif self.kind == "str" and isinstance(value, str):
            self._check_text(value, size)
        elif self.kind == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_text(str(value), len(str(value)))
        elif self.kind == "str" and isinstance(value, (dict, list, tuple)):
            self._check_text(json.dumps(value, sort_keys=True), 0)
        elif self.kind in ("datetime", "date") and isinstance(value, str):
            try:
                _dt.datetime.fromisoformat(value)
            except ValueError:
                raise ValueRefused(f"{self.name} takes a date or time; got {preview(value)}") from None

    def _check_number(self, value: Any) -> None:
        if isinstance(value, str):
            pattern = _INTEGER if self.kind == "int" else _NUMBER
            if not pattern.fullmatch(value):
                raise ValueRefused(f"{self.name} takes a number; got the text {preview(value)}")
            return
        if isinstance(value, (dict, list, tuple, bytes)):
            raise ValueRefused(f"{self.name} takes a number; got a {type(value).__name__}: {preview(value)}")
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            return
        if self.kind == "int":
            self._check_integer(value)
        elif self.name == "FLOAT" and math.isfinite(value) and abs(float(value)) > _FLOAT_MAX:
            raise ValueRefused(f"FLOAT takes at most ±{_FLOAT_MAX:g}; got {value!r} (use DOUBLE)")
        elif self.kind == "decimal":
            m = _DECIMAL.fullmatch(self.name)
            whole = int(m.group(2)) - int(m.group(3) or 0) if m and m.group(2) else 65
            if math.isfinite(value) and abs(Decimal(str(value))) >= Decimal(10) ** whole:
                raise ValueRefused(f"{self.name} takes at most {whole} digits before the point; got {value!r}")

    def _check_integer(self, value: int | float | Decimal) -> None:
        if not isinstance(value, int):
            if not math.isfinite(value) or value != int(value):
                raise ValueRefused(f"{self.name} takes whole numbers; got {value!r}")
            value = int(value)
        bound = _INT_RANGE.get(self.name.split("(")[0], 2**63)
        if not -bound <= value < bound:
            raise ValueRefused(f"{self.name} takes {-bound} to {bound - 1}; got {preview(value)}")

    def _check_text(self, value: str, size: int) -> None:
        m = _SIZED.fullmatch(self.name)
        if m:
            limit = int(m.group(2))
            if len(value) > limit:
                raise ValueRefused(
                    f"{self.name} takes at most {limit} characters; got {len(value)}: {preview(value)}"
                )
            return
        most = _TEXT_BYTES.get(self.name)
        if most is not None and size > most:
            raise ValueRefused(
                f"{self.name} takes at most {most:,} bytes of UTF-8; got {size:,}: {preview(value)} "
                f"(declare the column MEDIUMTEXT or LONGTEXT)"
            )

    def _bound(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            # sqlite3 cannot bind a Decimal; its text keeps every digit for a DECIMAL column.
            return float(value) if self.kind == "float" else str(value)
        if self.kind == "json":
            return json.dumps(value, sort_keys=True)
        if self.kind == "bool":
            return int(bool(value))
        if self.kind in ("datetime", "date") and isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat(sep=" ") if isinstance(value, _dt.datetime) else value.isoformat()
        if isinstance(value, (dict, list, tuple)):
            return json.dumps(value, sort_keys=True)
        return value

    def from_db(self, value: Any) -> Any:
        """Undo `to_db` so the experiment function sees the values the grid listed."""
        if value is None:
            return None
        if self.kind == "json":
            return json.loads(value) if isinstance(value, (str, bytes)) else value
        if self.kind == "bool":
            return bool(value)
        if self.kind == "int" and not isinstance(value, bool):
            return int(value)
        if self.kind == "float":
            return float(value)
        if self.kind == "decimal" and not isinstance(value, Decimal):
            return Decimal(str(value))
        if self.kind == "str" and isinstance(value, bytes):
            return value.decode()
        return value


def preview(value: Any, limit: int = 40) -> str:
    """A value as an error message shows it: its repr (control characters and markup
    escaped by repr itself), cut to `limit` characters with the full length said, so a
    100,000-character value never makes a 100,000-character error line."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(str(value)):,} characters)"


def _plain(value: Any) -> Any:
    """A numpy scalar (np.float32, np.int64, np.bool_: what metrics often return) as the
    Python value it holds. sqlite3 would otherwise bind its raw bytes as a BLOB, unreadable
    later, and pymysql refuses it. Recognised by duck type, so numpy is never imported here."""
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def parse_sql_type(text: object) -> SqlType | None:
    """Return the canonical type for `text`, or None when it is not on the allow-list."""
    if not isinstance(text, str):
        return None
    t = " ".join(text.strip().upper().split())
    t = _ALIASES.get(t, t)
    if t in _PLAIN:
        return SqlType(t, _PLAIN[t])
    m = _INT_WIDTH.fullmatch(t)
    if m:
        return SqlType(m.group(1), "int")
    m = _SIZED.fullmatch(t)
    if m and 0 < int(m.group(2)) <= 65535:
        return SqlType(f"{m.group(1)}({int(m.group(2))})", "str")
    m = _DECIMAL.fullmatch(t)
    if m:
        precision, scale = m.group(2), m.group(3)
        if precision is None:
            return SqlType("DECIMAL(10,0)", "decimal")
        return SqlType(f"DECIMAL({int(precision)},{int(scale or 0)})", "decimal")
    return None


def is_identifier(name: object) -> bool:
    return isinstance(name, str) and IDENTIFIER.fullmatch(name) is not None


def infer_type(values: list[Any]) -> SqlType:
    """Pick a column type for grid values given without an explicit type."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return SqlType("BOOLEAN", "bool")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return SqlType("BIGINT", "int")
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return SqlType("DOUBLE", "float")
    if present and all(isinstance(v, str) for v in present):
        if max(len(v) for v in present) <= 255:
            return SqlType("VARCHAR(255)", "str")
        # The smallest of the TEXT family that holds every value exactly (limits in bytes).
        size = max(len(v.encode("utf-8", "surrogatepass")) for v in present)
        name = next(n for n, limit in _TEXT_BYTES.items() if n != "TINYTEXT" and size <= limit)
        return SqlType(name, "str")
    # Mixed kinds, lists, dicts or nothing but nulls: keep the exact values as JSON.
    return SqlType("JSON", "json")
