"""The schema names the layers above the store read (config, worker, results, cli, views),
so they need not reach into store/sql/: the columns themselves are listed in store/sql/schema.py."""

from __future__ import annotations

from .sql.schema import (
    CODECARBON_FIELDS,
    INTERNAL_COLUMNS,
    MAX_NAME,
    PREFIX,
    RESERVED_COLUMNS,
    RESERVED_LOG_COLUMNS,
    SCHEMA_TABLE,
    VISIBLE_COLUMNS,
    derived_tables,
    error_summary,
    is_date_column,
    is_reserved,
)

__all__ = ["CODECARBON_FIELDS", "INTERNAL_COLUMNS", "MAX_NAME", "PREFIX", "derived_tables", "RESERVED_COLUMNS", "RESERVED_LOG_COLUMNS",
           "SCHEMA_TABLE", "VISIBLE_COLUMNS", "error_summary", "is_date_column", "is_reserved"]
