"""Selections of results as SQL text: column lists, CSV lines, groups and aggregates, so
that `pyexp results --group-by` and `pyexp report` leave only the answer to the client.
Conditions are store/sql/conditions.py's.
"""

from __future__ import annotations

from ...errors import InputError
from .conditions import exact_text, identifier
from .dialect import Dialect

SQL_AGGREGATES = frozenset({"mean", "min", "max", "count", "std"})


def _number(dialect: Dialect, expr: str) -> str:
    """A value as a double, as pandas computes (MariaDB's AVG of integers is a 4-digit DECIMAL,
    PostgreSQL's a NUMERIC)."""
    return expr if dialect.name == "sqlite" else f"CAST({expr} AS {dialect.double})"


def render_columns(dialect: Dialect, names: tuple[str, ...]) -> str:
    return ", ".join(dialect.q(identifier(n)) for n in names)


def render_csv_line(dialect: Dialect, columns: tuple[tuple[str, str], ...]) -> str:
    """One row as a line of CSV, made by the server (MariaDB): the client then decodes one
    string per row instead of every field in Python, which bound a million-row export to
    pymysql's speed (benchmarks/scale.py). What csv.writer writes of what the driver returns,
    read back: missing values empty, booleans True/False, text in quotes (always: the file
    reads the same, and finding the texts that need them cost the server 2 s a million rows);
    numbers and dates are the server's own text of them, the very text the driver would have
    parsed (floats round-trip, DECIMAL exact)."""
    if dialect.name == "sqlite":
        raise InputError("rows are written as CSV by the server only on MariaDB and PostgreSQL")
    if dialect.name == "postgres":
        return _postgres_csv_line(dialect, columns)
    fields = []
    for name, kind in columns:
        c = dialect.q(identifier(name))
        if kind == "bool":
            fields.append(f"CASE WHEN {c} IS NULL THEN '' WHEN {c} THEN 'True' ELSE 'False' END")
        elif kind in ("str", "json"):
            fields.append(f"IFNULL(CONCAT('\"', REPLACE({c}, '\"', '\"\"'), '\"'), '')")
        else:
            fields.append(f"IFNULL({c}, '')")
    return f"CONCAT_WS(',', {', '.join(fields)})"


def _postgres_csv_line(dialect: Dialect, columns: tuple[tuple[str, str], ...]) -> str:
    """The same line on PostgreSQL: `||` and casts to text (its CONCAT_WS takes any type, but
    a BOOLEAN there is a SMALLINT 0/1, sqltypes.postgres_ddl)."""
    fields = []
    for name, kind in columns:
        c = dialect.q(identifier(name))
        if kind == "bool":
            fields.append(f"CASE WHEN {c} IS NULL THEN '' WHEN {c} <> 0 THEN 'True' ELSE 'False' END")
        elif kind in ("str", "json"):
            fields.append(f"COALESCE('\"' || REPLACE({c}, '\"', '\"\"') || '\"', '')")
        else:
            fields.append(f"COALESCE(CAST({c} AS TEXT), '')")
    return f"CONCAT_WS(',', {', '.join(fields)})"


def group_expression(dialect: Dialect, column: str, kind: str) -> str:
    c = dialect.q(identifier(column))
    return f"{exact_text(dialect, c)} AS {c}" if kind in ("str", "json") else c


def group_keys(dialect: Dialect, groups: tuple[tuple[str, str], ...]) -> str:
    """GROUP BY / ORDER BY over the group columns, text compared exactly (see `exact_text`)."""
    return ", ".join(
        exact_text(dialect, dialect.q(identifier(c))) if k in ("str", "json") else dialect.q(identifier(c)) for c, k in groups
    )


def maybe_number(dialect: Dialect, c: str) -> str:
    """Whether a text could read as a number (has a digit, or is inf): pandas' to_numeric
    would take it, so a text column holding one is aggregated value by value."""
    # bytes, not characters: MariaDB's regular expression is three times faster on them
    if dialect.name == "mysql":
        digits = f"CAST({c} AS BINARY) REGEXP '[0-9]'"
    elif dialect.name == "postgres":
        digits = f"{c} ~ '[0-9]'"
    else:
        digits = f"{c} GLOB '*[0-9]*'"
    return f"({digits} OR {c} LIKE '%inf%')"


def render_aggregates(dialect: Dialect, aggregates: tuple[tuple[str, str], ...]) -> str:
    """`, COUNT(*), AVG(x), ...`: the group size first, then one expression per (function, column).
    `numbers` is 1 where a text column of the group holds something that may read as a number,
    asked in the same pass as the aggregates rather than by a scan of its own."""
    out = [", COUNT(*)"]
    for func, column in aggregates:
        c = dialect.q(identifier(column))
        if func == "numbers":
            out.append(f", MAX(CASE WHEN {maybe_number(dialect, c)} THEN 1 ELSE 0 END)")
        elif func == "mean":
            out.append(f", AVG({_number(dialect, c)})")
        elif func in ("min", "max"):
            out.append(f", {func.upper()}({c})")
        elif func == "count":
            out.append(f", COUNT({c})")
        elif func == "std" and dialect.name != "sqlite":  # Welford's recurrence inside the server
            out.append(f", STDDEV_SAMP({_number(dialect, c)})")
        elif func == "sq":  # mean square about a shift bound twice (`pyexp report`'s spreads in SQLite)
            out.append(f", AVG(({_number(dialect, c)} - ?) * ({_number(dialect, c)} - ?))")
        else:
            raise InputError(f"{func} is not aggregated in SQL here")
    return "".join(out)


def sql_aggregates(dialect: Dialect) -> frozenset[str]:
    """What the database computes itself: SQLite has no standard deviation, neither a median."""
    return SQL_AGGREGATES if dialect.name != "sqlite" else SQL_AGGREGATES - {"std"}
