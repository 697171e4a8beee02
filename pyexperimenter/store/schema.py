"""The bookkeeping columns live in store/sql/schema.py; this name stays for the imports above
the store (config, worker, results, cli, views) and store/memory.py."""

from __future__ import annotations

from .sql.schema import (
    CODECARBON_FIELDS,
    INTERNAL_COLUMNS,
    PREFIX,
    RESERVED_COLUMNS,
    RESERVED_LOG_COLUMNS,
    SCHEMA_TABLE,
    VISIBLE_COLUMNS,
    error_summary,
    is_date_column,
    is_reserved,
)

__all__ = ["CODECARBON_FIELDS", "INTERNAL_COLUMNS", "PREFIX", "RESERVED_COLUMNS", "RESERVED_LOG_COLUMNS",
           "SCHEMA_TABLE", "VISIBLE_COLUMNS", "error_summary", "is_date_column", "is_reserved"]
