"""`pyexp status` reads aggregates off indexes, never the table's rows: each statement it sends
is explained by the database itself, on a table large enough that the optimiser would rather
scan it than use a bad index (a million rows: docs/scale.md)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.report import status_report

ROWS = 6000
TRACEBACK = "Traceback (most recent call last):\n" + '  File "run.py", line 1, in f\n' * 20


@pytest.fixture
def half_failed(make_config: ConfigMaker) -> Experimenter:
    path = make_config(parameters={"x": {"start": 0, "stop": ROWS}}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == ROWS
    store: Any = exp.store
    mysql = exp.config.database.kind == "mysql"
    now = "NOW(6)" if mysql else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    table = exp.config.name
    last = "MOD(ID, 10)" if mysql else "ID % 10"
    token = "MD5(ID)" if mysql else "printf('%032d', ID)"
    attempts = exp.store.schema.attempts_table
    # one attempt per finished row (its outcome), a second failed one per error, a few quarantined
    history = (f"INSERT INTO {attempts} (experiment_id, attempt, claim_token, worker, machine, start_date, end_date, "
               f"outcome, error) SELECT ID, {{n}}, {token}, 'w1', 'node1', {now}, {now}, {{outcome}}, {{error}} "
               f"FROM {table} WHERE {{rows}}")
    for sql in (f"UPDATE {table} SET status = 'done', end_date = {now}, value = ID WHERE {last} < 4",
                f"UPDATE {table} SET status = 'error', end_date = {now}, error = '{TRACEBACK}MemoryError', "
                f"error_summary = 'MemoryError' WHERE {last} IN (4, 5, 6)",
                history.format(n=1, outcome="CASE status WHEN 'done' THEN 'done' ELSE 'failed' END",
                               error=f"CASE status WHEN 'error' THEN '{TRACEBACK}MemoryError' END",
                               rows="status IN ('done', 'error')"),
                history.format(n=2, outcome="'failed'", error="error", rows="status = 'error'"),
                history.format(n=3, outcome="'quarantined'", error="'quarantined'", rows="ID <= 3"),
                f"ANALYZE TABLE {table}, {attempts}" if mysql else "ANALYZE"):
        store.session.transaction(lambda cur, sql=sql: store.session.execute(cur, sql))
    return exp


def statements_of_status(exp: Experimenter) -> list[tuple[str, tuple[Any, ...]]]:
    store: Any = exp.store
    sent: list[tuple[str, tuple[Any, ...]]] = []
    execute = store.session.execute

    def recording(cur: Any, sql: str, args: Any = ()) -> Any:
        sent.append((sql, tuple(args)))
        return execute(cur, sql, args)

    store.session.execute = recording
    try:
        report = status_report(exp)
    finally:
        store.session.execute = execute
    assert report["counts"]["error"] == ROWS * 3 // 10
    assert sum(report["finished_last_hour"]) == ROWS * 7 // 10
    assert report["outcomes"]["failed"] == ROWS * 6 // 10 and len(report["quarantined"]) == 1
    tables = (exp.config.name, exp.store.schema.attempts_table)
    named = [f"`{t}`" for t in tables] + [f'"{t}"' for t in tables]
    return [(sql, args) for sql, args in sent if sql.lstrip().upper().startswith("SELECT") and any(m in sql for m in named)]


@pytest.mark.parametrize("counters", [True, False], ids=["counters", "without-counters"])
def test_status_reads_the_table_only_through_indexes(half_failed: Experimenter, counters: bool) -> None:
    """Without counters (a table of an earlier version, or a database that refused the
    triggers) status counts through indexes; with them it counts nothing in the tables."""
    exp = half_failed
    store: Any = exp.store
    if not counters:
        store.session.transaction(lambda cur: store.session.run(cur, "drop_table", target=store.schema.counts_table))
    statements = statements_of_status(exp)
    # the running rows and attempts, the lost runs and the quarantined workers are narrow
    # ranges of an index (as many entries as workers), counted always
    narrow = ("heartbeat <", "outcome = 'quarantined'", "status = 'running'")
    counting = [sql for sql, _ in statements if "COUNT(" in sql.upper() and not any(n in sql for n in narrow)]
    if counters:
        assert not counting, counting
    else:
        assert len(statements) >= 7 and len(counting) >= 3
    tables = (exp.config.name, exp.store.schema.attempts_table)
    assert any(exp.store.schema.attempts_table in sql for sql, _ in statements)
    for sql, args in statements:
        assert "error," not in sql.replace(" ", "") or "error_summary" in sql, sql  # no traceback read
        if exp.config.database.kind == "mysql":
            plan = store.session.transaction(lambda cur, s=sql, a=args: store.session.execute(cur, "EXPLAIN " + s, a).fetchall())
            for row in plan:
                table, access, key = row[2], row[3], row[5]
                if table in tables:
                    # `index`: a walk of one index (counting per status); never a scan of the rows
                    assert access != "ALL" and key, (sql, row)
                    assert "Using index" in str(row[9]) or access in ("range", "ref", "index"), (sql, row)
        else:
            plan = store.session.transaction(lambda cur, s=sql, a=args: store.session.execute(cur, "EXPLAIN QUERY PLAN " + s,
                                                                               a).fetchall())
            for row in plan:
                detail = str(row[-1])
                if detail.split()[0] == "SCAN" and detail.split()[1] in tables:
                    assert "INDEX" in detail, (sql, detail)
