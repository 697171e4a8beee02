"""The allow-list of column types users may name, and identifier validation.

Types and identifiers are the only things we ever put into SQL text ourselves; values always
travel as parameters. So both are checked here against strict patterns before any SQL is built.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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

    def to_db(self, value: Any) -> Any:
        """Convert a Python value into what the driver should bind for this column."""
        if value is None:
            return None
        value = _plain(value)
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
        longest = max(len(v) for v in present)
        return SqlType("VARCHAR(255)", "str") if longest <= 255 else SqlType("TEXT", "str")
    # Mixed kinds, lists, dicts or nothing but nulls: keep the exact values as JSON.
    return SqlType("JSON", "json")
