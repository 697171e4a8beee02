"""Validating YAML one mapping at a time, with messages that name the file and the key.

Every check runs before anything touches a database, so bad input can never leave half a
table behind. Messages have one shape, `file: key: expected ..., got ...`, because a user
fixing a config needs exactly those three things and nothing else (no traceback).

Table and column names are the only user text ever pasted into SQL, so they are checked
here against the identifier pattern and the columns pyexperimenter keeps for itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..sqltypes import ALLOWED_TYPES_HINT, SqlType, is_identifier, parse_sql_type
from ..store.schema import MAX_NAME, PREFIX, RESERVED_LOG_COLUMNS, SCHEMA_TABLE, derived_tables, is_reserved
from .yaml_input import read_yaml as read_yaml  # the one YAML reader


def show(value: Any) -> str:
    """A value as the user wrote it, cut short so that a message stays on one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Section:
    """A mapping being validated; remembers its file and key path for messages.

    `allowed` rejects unknown keys at once: a misspelt key silently ignored would run a
    whole grid with a default the user did not mean.
    """

    def __init__(self, file: Path, key: str, data: Any, allowed: set[str] | frozenset[str] | None = None):
        self.file, self.key = file, key
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise self.error("expected a mapping", data)
        self.data: dict[str, Any] = data
        if allowed is not None:
            unknown = sorted(str(k) for k in data if k not in allowed)
            if unknown:
                raise ConfigError(
                    f"{file}: {self.path(unknown[0])}: unknown key; expected one of {', '.join(sorted(allowed))}"
                )

    def path(self, sub: str | None = None) -> str:
        if sub is None:
            return self.key
        return f"{self.key}.{sub}" if self.key else sub

    def error(self, expected: str, got: Any = None, sub: str | None = None) -> ConfigError:
        tail = f", got {show(got)}" if got is not None else ""
        return ConfigError(f"{self.file}: {self.path(sub)}: {expected}{tail}")

    def section(self, sub: str, allowed: set[str] | frozenset[str] | None = None) -> Section:
        """The mapping under key `sub` (absent or null: an empty one)."""
        return self.child(sub, self.data.get(sub), allowed)

    def child(self, sub: str, data: Any, allowed: set[str] | frozenset[str] | None = None) -> Section:
        """`data` validated as if it stood under key `sub` (for list items and nested specs)."""
        return Section(self.file, self.path(sub), data, allowed)

    def get(self, sub: str, kind: Any, default: Any = None, required: bool = False) -> Any:
        """The value of `sub` if it has type `kind` (an int is accepted for a float; a bool
        is never accepted for a number, although Python counts it as one)."""
        if sub not in self.data or self.data[sub] is None:
            if required:
                raise self.error("is required", None, sub)
            return default
        value = self.data[sub]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if not ok:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(f"expected {names}", value, sub)
        return value

    def positive(self, sub: str, kind: Any, default: Any) -> Any:
        value = self.get(sub, kind, default)
        if value is not None and value <= 0:
            raise self.error("expected a positive number", value, sub)
        return value

    def identifier(self, name: Any, what: str, sub: str | None = None) -> str:
        """`name` if it may be pasted into SQL as a table or column name."""
        if not is_identifier(name):
            raise self.error(f"{what} must match [A-Za-z_][A-Za-z0-9_]{{0,63}}", name, sub if sub else None)
        return str(name)

    def sql_type(self, sub: str, value: Any) -> SqlType:
        """A column type from the allow-list; anything else could smuggle SQL into DDL."""
        t = parse_sql_type(value)
        if t is None:
            raise self.error(f"expected a column type, {ALLOWED_TYPES_HINT}", value, sub)
        return t

    def table_name(self, name: Any, sub: str) -> str:
        """The experiment's table name; the registry of schema versions keeps its own."""
        table = self.identifier(name, "table name", sub)
        if table.lower() == SCHEMA_TABLE:
            raise self.error(f"'{table}' is the table pyexperimenter keeps its schema versions in; choose another name",
                             None, sub)
        return table

    def derived_names(self, table: str, logtables: Any, sub: str) -> None:
        """Refuse a table name (with its log tables) whose derived tables would pass the
        64 characters MariaDB allows: checked with the config, before any table is made."""
        longest = max(derived_tables(table, tuple(logtables)), key=len)
        if len(longest) > MAX_NAME:
            raise self.error(
                f"table name too long: its table {longest!r} would have {len(longest)} characters, "
                f"more than the {MAX_NAME} MariaDB allows; shorten the name (or the log table's)", table, sub)

    def column(self, name: Any) -> str:
        """A parameter or result column of the experiment table."""
        col = self.identifier(name, "column name", str(name))
        self._not_ours(col)
        if is_reserved(col):
            raise self.error(f"'{col}' is a column pyexperimenter keeps itself; choose another name", None, col)
        return col

    def log_column(self, name: Any) -> str:
        """A user column of a log table."""
        col = self.identifier(name, "column name", str(name))
        self._not_ours(col)
        if col.lower() in RESERVED_LOG_COLUMNS:
            raise self.error("is kept by pyexperimenter; choose another name", None, col)
        return col

    def _not_ours(self, col: str) -> None:
        if col.lower().startswith(PREFIX):
            raise self.error(f"names starting with '{PREFIX}' are kept for pyexperimenter's own columns; "
                             f"rename '{col}'", None, col)
