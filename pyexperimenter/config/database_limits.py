"""What one database cannot hold although the config rules allow it, refused with the config
before anything is written: the rules of sections.py are MariaDB's (names of up to 64
characters, any text), and the database a config uses is known only once an override
(--db, PYEXP_DB_URL) has replaced its own.

PostgreSQL cuts a longer identifier to 63 bytes with a NOTICE nobody sees: a table or column
of 64 characters would be created under another name, and two names alike in their first
63 would be one. It cannot store the NUL character in text at all. Both are refused here
with the file and the key, as every other bad input is; names pyexperimenter derives
itself (index and trigger names) are made to fit instead (store/sql/dialect.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..params.grid import AnyGrid, Grid
from ..sqltypes import preview
from ..store.schema import derived_tables
from .legacy import LEGACY_ROOT
from .model import ExperimentConfig

POSTGRES_MAX_NAME = 63  # bytes (NAMEDATALEN - 1); our identifiers are ASCII, so characters too


def check_for_database(cfg: ExperimentConfig, file: Path, data: Mapping[str, Any]) -> None:
    """Refuse (ConfigError: file, key, why) what `cfg.database` would cut or cannot store;
    `data` is the file's mapping, for the keys' names."""
    if cfg.database.kind != "postgres":
        return
    keys = _Keys(file, data)
    for log in ("", *cfg.logtables):
        longest = max(derived_tables(cfg.name, (log,) if log else ()), key=len)
        if len(longest) > POSTGRES_MAX_NAME:
            raise keys.error(keys.log_table(log) if log else keys.table(),
                             f"table name too long for PostgreSQL: its table {longest!r} would have {len(longest)} "
                             f"characters, more than the {POSTGRES_MAX_NAME} PostgreSQL allows (it would cut the "
                             f"name); shorten {'the log table' if log else 'the'} name")
    columns = [(keys.parameter(c), c) for c in cfg.parameters]
    columns += [(keys.result(c), c) for c in cfg.results]
    columns += [(keys.log_column(t, c), c) for t, cols in cfg.logtables.items() for c in cols]
    for key, column in columns:
        if len(column) > POSTGRES_MAX_NAME:
            raise keys.error(key, f"column name too long for PostgreSQL: {len(column)} characters, more than the "
                             f"{POSTGRES_MAX_NAME} PostgreSQL allows (it would cut the name); shorten it")
    # Every value, not only a long axis' ends as the type check reads them; a number column
    # cannot hold text at all (that check refuses it), so only text columns are read.
    text = {name for name, sql_type in cfg.parameters.items() if sql_type.kind in ("str", "json")}
    for part, names, values in _factors(cfg.grid):
        for i, name in enumerate(names):
            if name not in text:
                continue
            for row in values:
                value = row[i]
                if isinstance(value, str) and "\x00" in value:
                    raise keys.error(keys.parameter(name, part), f"PostgreSQL cannot store the NUL character "
                                     f"(\\x00) in text, got {preview(value)}; remove it from the value")


def _factors(grid: AnyGrid) -> Iterator[tuple[int | None, tuple[str, ...], Sequence[tuple[Any, ...]]]]:
    """(which entry of `grids:` it came from, None without one; names; values) per axis."""
    parts = [(None, grid)] if isinstance(grid, Grid) else list(enumerate(grid.parts))
    for part, sub in parts:
        for factor in sub.factors:
            yield part, factor.names, factor.values


class _Keys:
    """Where in the file a name or value was written, in the words of the config's format."""

    def __init__(self, path: Path, data: Mapping[str, Any]):
        self.file = path
        self.legacy = LEGACY_ROOT in data
        self.data = data

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.file}: {key}: {message}")

    def _table_section(self) -> str:
        return f"{LEGACY_ROOT}.Database.table"

    def table(self) -> str:
        return f"{self._table_section()}.name" if self.legacy else "experiment.name"

    def parameter(self, name: str, part: int | None = None) -> str:
        """Its key in `grids[part]` if that entry gives it, else under `parameters:`, else in
        the first entry of `grids:` that gives it."""
        if self.legacy:
            return f"{self._table_section()}.keyfields.{name}"
        grids = self.data.get("grids")
        entries = list(enumerate(grids)) if isinstance(grids, list) else []
        if part is not None and part < len(entries) and isinstance(entries[part][1], Mapping) \
                and name in entries[part][1]:
            return f"grids[{part}].{name}"
        shared = self.data.get("parameters")
        if isinstance(shared, Mapping) and name in shared:
            return f"parameters.{name}"
        for i, entry in entries:
            if isinstance(entry, Mapping) and name in entry:
                return f"grids[{i}].{name}"
        return f"parameters.{name}"

    def result(self, name: str) -> str:
        return f"{self._table_section()}.resultfields.{name}" if self.legacy else f"results.{name}"

    def log_table(self, table: str) -> str:
        return f"{LEGACY_ROOT}.Database.logtables.{table}" if self.legacy else f"logtables.{table}"

    def log_column(self, table: str, name: str) -> str:
        return f"{LEGACY_ROOT}.Database.logtables.{table}.{name}" if self.legacy else f"logtables.{table}.{name}"
