"""`pyexp status` reads aggregates off indexes, never the table's rows: each statement it sends
is explained by the database itself, on a table large enough that the optimiser would rather
scan it than use a bad index (a million rows: docs/scale.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ConfigMaker
from support.services import postgres_connect

from pyexperimenter import Experimenter
from pyexperimenter.store.sql.schema import PARTIAL_INDEXES
from pyexperimenter.views.status_data import status_report

ROWS = 6000
TRACEBACK = "Traceback (most recent call last):\n" + '  File "run.py", line 1, in f\n' * 20


@pytest.fixture
def half_failed(make_config: ConfigMaker, backend: str) -> Experimenter:
    path = make_config(parameters={"x": {"start": 0, "stop": ROWS}}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == ROWS
    store: Any = exp.store
    mysql = exp.config.database.kind == "mysql"
    now = {"mysql": "NOW(6)", "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
           "postgres": "(statement_timestamp() AT TIME ZONE 'UTC')"}[backend]
    table = exp.config.name
    last = "MOD(ID, 10)" if mysql else "ID % 10"
    token = {"mysql": "MD5(ID)", "sqlite": "printf('%032d', ID)", "postgres": "md5(CAST(ID AS text))"}[backend]
    attempts = exp.store.schema.attempts_table
    # one attempt per finished row (its outcome), a second failed one per error, a few quarantined
    history = (f"INSERT INTO {attempts} (experiment_id, attempt, claim_token, worker, machine, start_date, end_date, "
               f"outcome, error) SELECT ID, {{n}}, {token}, 'w1', 'node1', {now}, {now}, {{outcome}}, {{error}} "
               f"FROM {table} WHERE {{rows}}")
    for sql in (f"UPDATE {table} SET status = 'done', end_date = {now}, value = ID WHERE {last} < 4",
                f"UPDATE {table} SET status = 'error', end_date = {now}, error = '{TRACEBACK}MemoryError', "
                f"pyexp_error_summary = 'MemoryError' WHERE {last} IN (4, 5, 6)",
                history.format(n=1, outcome="CASE status WHEN 'done' THEN 'done' ELSE 'failed' END",
                               error=f"CASE status WHEN 'error' THEN '{TRACEBACK}MemoryError' END",
                               rows="status IN ('done', 'error')"),
                history.format(n=2, outcome="'failed'", error="error", rows="status = 'error'"),
                history.format(n=3, outcome="'quarantined'", error="'quarantined'", rows="ID <= 3"),
                f"ANALYZE TABLE {table}, {attempts}" if mysql else "ANALYZE"):
        store.session.transaction(lambda cur, sql=sql: store.session.execute(cur, sql))
    if backend == "postgres":  # the visibility map, without which no index-only scan is costed as one
        with postgres_connect(str(exp.config.database.database)) as conn:
            conn.execute(f'VACUUM ANALYZE "{table}", "{attempts}"')
    return exp


@contextlib.contextmanager
def recorded(exp: Experimenter) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Every statement the store sends meanwhile, with its arguments."""
    store: Any = exp.store
    sent: list[tuple[str, tuple[Any, ...]]] = []
    execute = store.session.execute

    def recording(cur: Any, sql: str, args: Any = ()) -> Any:
        sent.append((sql, tuple(args)))
        return execute(cur, sql, args)

    store.session.execute = recording
    try:
        yield sent
    finally:
        store.session.execute = execute


def statements_of_status(exp: Experimenter) -> list[tuple[str, tuple[Any, ...]]]:
    with recorded(exp) as sent:
        report = status_report(exp)
    assert report["counts"]["error"] == ROWS * 3 // 10
    assert sum(report["finished_last_hour"]) == ROWS * 7 // 10
    assert report["outcomes"]["failed"] == ROWS * 6 // 10 and len(report["quarantined"]) == 1
    tables = (exp.config.name, exp.store.schema.attempts_table)
    named = [f"`{t}`" for t in tables] + [f'"{t}"' for t in tables]
    return [(sql, args) for sql, args in sent if sql.lstrip().upper().startswith("SELECT") and any(m in sql for m in named)]


def plans(exp: Experimenter, statements: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, str, str]]:
    """How the database itself runs each statement on the experiment's tables, as
    (table, access, detail): MySQL's EXPLAIN type and key, SQLite's EXPLAIN QUERY PLAN."""
    store: Any = exp.store
    tables = (exp.config.name, exp.store.schema.attempts_table)
    found = []
    for sql, args in statements:
        if exp.config.database.kind == "postgres":
            found += [node for node in postgres_plan(exp, sql, args) if node[0] in tables]
        elif exp.config.database.kind == "mysql":
            plan = store.session.transaction(lambda cur, s=sql, a=args: store.session.execute(cur, "EXPLAIN " + s, a).fetchall())
            found += [(row[2], row[3], f"key {row[5]}; {row[9]}") for row in plan if row[2] in tables]
        else:
            plan = store.session.transaction(lambda cur, s=sql, a=args: store.session.execute(cur, "EXPLAIN QUERY PLAN " + s,
                                                                               a).fetchall())
            words = [str(row[-1]).split() for row in plan]
            found += [(w[1], w[0], " ".join(w)) for w in words if len(w) > 1 and w[1] in tables]
    return found


def postgres_plan(exp: Experimenter, sql: str, args: tuple[Any, ...]) -> list[tuple[str, str, str]]:
    """PostgreSQL's plan nodes that read a table, as (table, node type, index and conditions).
    Sequential scans are priced out (`enable_seqscan = off`): one that is left is one no index
    can replace, whatever the table's size; at 6,000 rows the planner would often rather
    scan than use an index it takes at a million."""
    store: Any = exp.store

    def explain(cur: Any) -> Any:
        store.session.execute(cur, "SET LOCAL enable_seqscan = off")
        return store.session.execute(cur, "EXPLAIN (FORMAT JSON) " + sql, args).fetchone()[0]

    found: list[tuple[str, str, str]] = []

    def described(node: dict[str, Any]) -> str:
        """The index a node reads (a bitmap heap scan's: its bitmap index scans') and the
        conditions on the index's keys and on the rows."""
        if "Index Name" in node:
            conditions = "".join(f" {k}: {node[k]}" for k in ("Index Cond", "Filter") if k in node)
            return f"{node['Index Name']}{conditions}"
        return "; ".join(described(child) for child in node.get("Plans", []))

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            found.append((node["Relation Name"], node["Node Type"], described(node)))
        for child in node.get("Plans", []):
            walk(child)

    for plan in store.session.transaction(explain):
        walk(plan["Plan"])
    return found


# Partial indexes of the running rows only (as many entries as workers): all of one is a
# narrow read, and PostgreSQL names no condition for it (the index's own predicate is it).
RUNNING_ONLY = tuple(i.name for i in PARTIAL_INDEXES if i.where == "status = 'running'")


def walks_an_index(access: str, detail: str = "") -> bool:
    """Every entry of an index read (counting per status), not a narrow range of it."""
    if access in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"):  # PostgreSQL: no condition on its keys
        return "Index Cond" not in detail and not detail.endswith(RUNNING_ONLY)
    return access in ("index", "SCAN")


def test_status_reads_the_table_only_through_indexes(half_failed: Experimenter) -> None:
    """With counters status walks no index: the running rows and attempts, the lost runs and
    the quarantined workers are narrow ranges of one (as many entries as workers). Without
    them (a table of an earlier version, or a database that refused the triggers) it counts
    through indexes, with more reads. Never a scan of the rows. Decided by the database's
    own plans, not by the statements' text."""
    exp = half_failed
    store: Any = exp.store
    with_counters = plans(exp, statements_of_status(exp))
    store.session.transaction(lambda cur: store.session.run(cur, "drop_table", target=store.schema.counts_table))
    without = plans(exp, statements_of_status(exp))  # the same counts (statements_of_status checks them)
    for found in (with_counters, without):
        assert {table for table, _, _ in found} == {exp.config.name, exp.store.schema.attempts_table}
        for table, access, detail in found:
            if exp.config.database.kind == "postgres":
                assert access != "Seq Scan", (table, access, detail)
            elif exp.config.database.kind == "mysql":
                assert access != "ALL" and not detail.startswith("key None"), (table, access, detail)
                assert "Using index" in detail or access in ("range", "ref", "index"), (table, access, detail)
            else:
                assert access == "SEARCH" or "INDEX" in detail, (table, access, detail)
    walks = [(table, detail) for table, access, detail in with_counters if walks_an_index(access, detail)]
    assert not walks, walks
    assert len(without) > len(with_counters), (with_counters, without)


def test_a_postgres_claim_reads_the_open_rows_through_indexes(half_failed: Experimenter, backend: str) -> None:
    """The claim's statements on PostgreSQL (by priority and at random), its heartbeat and its
    finish, explained by the server: each reads its rows through an index range (the open
    rows, or the claim's token), never the table. 70% of the rows are finished, so a scan
    in ID order would pass thousands before the first open row."""
    if backend != "postgres":
        pytest.skip("the claim's plans are read here on PostgreSQL only")
    from pyexperimenter.store import WorkerIdentity

    exp = half_failed
    store = exp.store
    me = WorkerIdentity(worker="tester:1", machine="tester", pid=1)
    with recorded(exp) as sent:
        for random_order in (False, True):
            claims = store.claim(me, limit=2, random_order=random_order)
            assert len(claims) == 2
            store.heartbeat(claims[0].token)
            store.finish(claims[0].token, [(c.id, {"value": 1.0}) for c in claims])
    statements = [(sql, args) for sql, args in sent
                  if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT")) and f'"{exp.config.name}"' in sql]
    assert any("pyexp_rank" in sql for sql, _ in statements) and any("RETURNING" in sql for sql, _ in statements)
    found = [node for sql, args in statements for node in postgres_plan(exp, sql, args)]
    assert found
    for table, access, detail in found:
        assert access != "Seq Scan", (table, access, detail)
        assert "Index Cond" in detail or access == "ModifyTable" or detail.endswith(RUNNING_ONLY), (table, access, detail)
