"""store/sql/queries.sql: every statement is named, documented, rendered for both databases
and run somewhere. Pure text: no database."""

from __future__ import annotations

from support.paths import ROOT

from pyexperimenter.sqltypes import parse_sql_type
from pyexperimenter.store import TableSchema
from pyexperimenter.store.sql.dialect import MYSQL, POSTGRES, SQLITE
from pyexperimenter.store.sql.queries import PIECES, QUERIES
from pyexperimenter.store.sql.statements import Statements

STORE_SOURCES = ROOT / "pyexperimenter" / "store"


def test_every_statement_is_a_named_query_that_the_stores_run() -> None:
    """Each query has a one-line purpose, one statement per database, renders for both
    databases, and is run somewhere by name (no dead statements)."""
    code = "".join(p.read_text() for p in STORE_SOURCES.rglob("*.py") if p.name != "queries.py")
    schema = TableSchema("exp", {"x": parse_sql_type("INT")}, {"value": parse_sql_type("DOUBLE")},
                         {"steps": {"step": parse_sql_type("INT")}}, result_timestamps=True)
    for dialect in (SQLITE, MYSQL, POSTGRES):
        names = [q.name for q in QUERIES if q.only in (None, dialect.name)]
        assert len(names) == len(set(names)), dialect.name
        assert sorted(Statements(dialect, schema).names()) == sorted(names)
    for query in (*QUERIES, *PIECES):
        assert query.purpose and "\n" not in query.purpose, query.name
        assert f'"{query.name}"' in code, f"query {query.name} is never run"
