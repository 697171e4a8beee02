"""Schema versions (store/engine/migrations.py): a table made by an earlier version is upgraded
in place when opened, once, even by two processes at once; our columns take no name a user
may give. Each test runs on SQLite and on MariaDB (the `backend` fixture).

The earlier tables are made here from the literal statements version 2 sent (and, for
version 1, the same less the columns added later), through a plain connection of their own.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.configs import ConfigMaker
from support.services import mysql_connect, postgres_connect

from pyexperimenter import Experimenter
from pyexperimenter.cli import main
from pyexperimenter.config import ExperimentConfig, load_config
from pyexperimenter.params.grid import parameter_hash
from pyexperimenter.store import open_store
from pyexperimenter.store.engine.migrations import CURRENT_VERSION

# Version 2's tables for the experiment `grid` (x INT, y VARCHAR(20); result value), as its
# `pyexp fill` made them, with the counter trigger that reads a renamed column.
V2_SQLITE = [
    """CREATE TABLE "grid" ("ID" INTEGER PRIMARY KEY AUTOINCREMENT, "x" INT DEFAULT NULL, "y" VARCHAR(20) DEFAULT NULL,
    "creation_date" DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')), "status" VARCHAR(16) NOT NULL DEFAULT 'created',
    "start_date" DATETIME DEFAULT NULL, "name" VARCHAR(255) DEFAULT NULL, "machine" VARCHAR(255) DEFAULT NULL,
    "value" DOUBLE DEFAULT NULL, "end_date" DATETIME DEFAULT NULL, "error" LONGTEXT DEFAULT NULL,
    "error_summary" VARCHAR(255) DEFAULT NULL, "attempts" INTEGER NOT NULL DEFAULT 0, "worker" VARCHAR(255) DEFAULT NULL,
    "heartbeat" DATETIME DEFAULT NULL, "claim_token" CHAR(32) DEFAULT NULL, "param_hash" CHAR(40) NOT NULL,
    "rank_key" INTEGER NOT NULL DEFAULT 0, "available_at" DATETIME DEFAULT NULL, "slurm_job_id" VARCHAR(255) DEFAULT NULL,
    "priority" INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE "grid__attempts" ("ID" INTEGER PRIMARY KEY AUTOINCREMENT, "experiment_id" BIGINT NOT NULL,
    "attempt" INTEGER NOT NULL, "claim_token" CHAR(32) NOT NULL, "worker" VARCHAR(255) DEFAULT NULL,
    "machine" VARCHAR(255) DEFAULT NULL, "pid" INTEGER DEFAULT NULL, "slurm_job_id" VARCHAR(255) DEFAULT NULL,
    "slurm_array_job_id" VARCHAR(255) DEFAULT NULL, "slurm_array_task_id" INTEGER DEFAULT NULL,
    "start_date" DATETIME DEFAULT NULL, "end_date" DATETIME DEFAULT NULL, "outcome" VARCHAR(16) NOT NULL,
    "error" LONGTEXT DEFAULT NULL, "cuda_devices" VARCHAR(255) DEFAULT NULL, "git_commit" VARCHAR(255) DEFAULT NULL,
    "git_dirty" INTEGER DEFAULT NULL, "git_diff_hash" CHAR(40) DEFAULT NULL, "python_version" VARCHAR(255) DEFAULT NULL,
    "packages_hash" CHAR(40) DEFAULT NULL, "log_file" LONGTEXT DEFAULT NULL, "log_tail" LONGTEXT DEFAULT NULL)""",
    'CREATE UNIQUE INDEX "grid__ux_param_hash" ON "grid" (param_hash)',
    'CREATE INDEX "grid__ix_status_priority" ON "grid" (status, priority DESC, ID)',
    'CREATE INDEX "grid__ix_status_rank" ON "grid" (status, rank_key)',
    'CREATE INDEX "grid__ix_claim_token" ON "grid" (claim_token)',
    'CREATE INDEX "grid__ix_status_error" ON "grid" (status, error_summary)',
    'CREATE INDEX "grid__ix_status_heartbeat" ON "grid" (status, heartbeat)',
    'CREATE INDEX "grid__attempts__ix_experiment" ON "grid__attempts" (experiment_id)',
    """CREATE TABLE "grid_counts" (kind TEXT NOT NULL, label TEXT NOT NULL, minute INTEGER NOT NULL,
    slot INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (kind, label, minute, slot))""",
    """CREATE TRIGGER "grid__count_upd" AFTER UPDATE OF status, error_summary, end_date ON "grid" FOR EACH ROW
    WHEN OLD.status NOT IN ('created', 'running') OR NEW.status NOT IN ('created', 'running') BEGIN
    INSERT INTO "grid_counts" (kind, label, minute, slot, n) SELECT CASE WHEN NEW.error_summary IS NULL THEN 'u' ELSE 'e' END,
    COALESCE(NEW.error_summary, ''), 0, 0, 1 WHERE NEW.status = 'error' AND NOT (OLD.status = 'error'
    AND OLD.error_summary IS NEW.error_summary) ON CONFLICT (kind, label, minute, slot) DO UPDATE SET n = n + excluded.n;
    INSERT INTO "grid_counts" (kind, label, minute, slot, n) SELECT 's', NEW.status, 0, 0, 1
    WHERE NEW.status NOT IN ('created', 'running') AND OLD.status IS NOT NEW.status
    ON CONFLICT (kind, label, minute, slot) DO UPDATE SET n = n + excluded.n; END""",
    """INSERT INTO "grid_counts" (kind, label, minute, slot, n) VALUES ('r', '', 0, -1, 1)""",
]
V2_MYSQL = [
    """CREATE TABLE `grid` (`ID` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, `x` INT DEFAULT NULL, `y` VARCHAR(20) DEFAULT NULL,
    `creation_date` DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6), `status` VARCHAR(16) NOT NULL DEFAULT 'created',
    `start_date` DATETIME(6) DEFAULT NULL, `name` VARCHAR(255) DEFAULT NULL, `machine` VARCHAR(255) DEFAULT NULL,
    `value` DOUBLE DEFAULT NULL, `end_date` DATETIME(6) DEFAULT NULL, `error` LONGTEXT DEFAULT NULL,
    `error_summary` VARCHAR(255) DEFAULT NULL, `attempts` INTEGER NOT NULL DEFAULT 0, `worker` VARCHAR(255) DEFAULT NULL,
    `heartbeat` DATETIME(6) DEFAULT NULL, `claim_token` CHAR(32) DEFAULT NULL, `param_hash` CHAR(40) NOT NULL,
    `rank_key` INTEGER NOT NULL DEFAULT 0, `available_at` DATETIME(6) DEFAULT NULL, `slurm_job_id` VARCHAR(255) DEFAULT NULL,
    `priority` INTEGER NOT NULL DEFAULT 0) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE `grid__attempts` (`ID` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, `experiment_id` BIGINT NOT NULL,
    `attempt` INTEGER NOT NULL, `claim_token` CHAR(32) NOT NULL, `worker` VARCHAR(255) DEFAULT NULL,
    `machine` VARCHAR(255) DEFAULT NULL, `pid` INTEGER DEFAULT NULL, `slurm_job_id` VARCHAR(255) DEFAULT NULL,
    `slurm_array_job_id` VARCHAR(255) DEFAULT NULL, `slurm_array_task_id` INTEGER DEFAULT NULL,
    `start_date` DATETIME(6) DEFAULT NULL, `end_date` DATETIME(6) DEFAULT NULL, `outcome` VARCHAR(16) NOT NULL,
    `error` LONGTEXT DEFAULT NULL, `cuda_devices` VARCHAR(255) DEFAULT NULL, `git_commit` VARCHAR(255) DEFAULT NULL,
    `git_dirty` INTEGER DEFAULT NULL, `git_diff_hash` CHAR(40) DEFAULT NULL, `python_version` VARCHAR(255) DEFAULT NULL,
    `packages_hash` CHAR(40) DEFAULT NULL, `log_file` LONGTEXT DEFAULT NULL, `log_tail` LONGTEXT DEFAULT NULL)
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    "CREATE UNIQUE INDEX `ux_param_hash` ON `grid` (`param_hash`)",
    "CREATE INDEX `ix_status_priority` ON `grid` (`status`, `priority` DESC, `ID`)",
    "CREATE INDEX `ix_status_rank` ON `grid` (`status`, `rank_key`)",
    "CREATE INDEX `ix_claim_token` ON `grid` (`claim_token`)",
    "CREATE INDEX `ix_status_error` ON `grid` (`status`, `error_summary`)",
    "CREATE INDEX `ix_status_heartbeat` ON `grid` (`status`, `heartbeat`)",
    "CREATE INDEX `ix_experiment` ON `grid__attempts` (`experiment_id`)",
    """CREATE TABLE `grid_counts` (kind CHAR(1) NOT NULL, label VARCHAR(255) NOT NULL, minute INT NOT NULL,
    slot SMALLINT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (kind, label, minute, slot)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TRIGGER `grid__count_upd` AFTER UPDATE ON `grid` FOR EACH ROW BEGIN
    IF NOT (OLD.status <=> NEW.status AND OLD.error_summary <=> NEW.error_summary) AND NEW.status = 'error' THEN
    INSERT INTO `grid_counts` (kind, label, minute, slot, n) VALUES (CASE WHEN NEW.error_summary IS NULL THEN 'u' ELSE 'e' END,
    COALESCE(NEW.error_summary, ''), 0, 0, 1) ON DUPLICATE KEY UPDATE n = n + VALUES(n); END IF;
    IF NOT (OLD.status <=> NEW.status) AND NEW.status NOT IN ('created', 'running') THEN
    INSERT INTO `grid_counts` (kind, label, minute, slot, n) VALUES ('s', NEW.status, 0, 0, 1)
    ON DUPLICATE KEY UPDATE n = n + VALUES(n); END IF; END""",
    "INSERT INTO `grid_counts` (kind, label, minute, slot, n) VALUES ('r', '', 0, -1, 1)",
]
# Version 1 lacked these: the priority (and its index) and the attempts' provenance and output.
V1_LACKS = ("priority", "cuda_devices", "git_commit", "git_dirty", "git_diff_hash", "python_version", "packages_hash",
            "log_file", "log_tail")
OLD_MAIN = {"error_summary", "attempts", "worker", "heartbeat", "claim_token", "param_hash", "rank_key", "available_at",
            "slurm_job_id", "priority"}


def _v1(statements: list[str]) -> list[str]:
    out = []
    for sql in statements:
        if "ix_status_priority" in sql:
            continue
        for column in V1_LACKS:
            for q in ('"', "`"):
                for definition in (" INTEGER NOT NULL DEFAULT 0", " VARCHAR(255) DEFAULT NULL", " INTEGER DEFAULT NULL",
                                   " CHAR(40) DEFAULT NULL", " LONGTEXT DEFAULT NULL"):
                    sql = sql.replace(f", {q}{column}{q}{definition}", "")
        out.append(sql)
    return out


def raw(config: ExperimentConfig, statements: Sequence[str], args: Sequence[Sequence[Any]] | None = None) -> list[Any]:
    """Run statements through a plain connection of the test's own; the last one's rows."""
    rows: list[Any] = []
    marks = [] if args is None else list(args)
    if config.database.kind == "sqlite":
        assert config.database.path is not None
        conn = sqlite3.connect(config.database.path)
        try:
            with conn:
                for i, sql in enumerate(statements):
                    rows = conn.execute(sql, tuple(marks[i]) if i < len(marks) else ()).fetchall()
        finally:
            conn.close()
        return rows
    if config.database.kind == "postgres":
        with postgres_connect(str(config.database.database)) as pg:
            for i, sql in enumerate(statements):
                cur = pg.execute(sql.replace("?", "%s"), tuple(marks[i]) if i < len(marks) else None)
                rows = list(cur.fetchall()) if cur.description else []
        return rows
    conn = mysql_connect(config.database.database)
    try:
        with conn.cursor() as cur:
            for i, sql in enumerate(statements):
                cur.execute(sql.replace("?", "%s"), tuple(marks[i]) if i < len(marks) else None)
                rows = list(cur.fetchall())
    finally:
        conn.close()
    return rows


def old_table(make_config: ConfigMaker, version: int) -> Path:
    """A table as version 1 or 2 left it: six rows, two done, one failed for good, one
    with a higher priority; attempts recorded by a SLURM array task; counters on."""
    path = make_config(name="grid", parameters={"x": {"start": 0, "stop": 6}, "y": ["a"]}, results={"value": "DOUBLE"})
    config = load_config(path)
    if config.database.kind == "postgres":
        pytest.skip("no earlier version made PostgreSQL tables: they start at the current schema version")
    ddl = V2_SQLITE if config.database.kind == "sqlite" else V2_MYSQL
    raw(config, _v1(ddl) if version == 1 else ddl)
    priority = ", priority" if version == 2 else ""
    inserts = [f"INSERT INTO grid (x, y, param_hash, rank_key{priority}) VALUES (?, ?, ?, ?{', ?' if priority else ''})"] * 6
    args = [(x, "a", parameter_hash({"x": x, "y": "a"}, config.parameters), 1000 * x, *([5 if x == 3 else 0] * bool(priority)))
            for x in range(6)]
    raw(config, inserts, args)
    now = "CURRENT_TIMESTAMP"
    raw(config, [
        f"UPDATE grid SET status = 'done', attempts = 1, worker = '77_3@node:1', machine = 'node', claim_token = 't1', "
        f"slurm_job_id = '77_3', start_date = {now}, end_date = {now}, value = ID * 1.5 WHERE ID IN (1, 2)",
        f"UPDATE grid SET status = 'error', attempts = 3, worker = 'w', claim_token = 't2', end_date = {now}, "
        f"error = 'Traceback\nValueError: bad', error_summary = 'ValueError: bad' WHERE ID = 3",
        "INSERT INTO grid__attempts (experiment_id, attempt, claim_token, worker, machine, slurm_job_id, slurm_array_job_id, "
        "slurm_array_task_id, outcome) SELECT ID, 1, claim_token, worker, machine, '77_3', '77', 3, 'done' FROM grid "
        "WHERE status = 'done'",
        "INSERT INTO grid__attempts (experiment_id, attempt, claim_token, worker, outcome, error) "
        "SELECT ID, 1, claim_token, worker, 'failed', error FROM grid WHERE status = 'error'",
    ])
    return path


def columns_of(config: ExperimentConfig, table: str) -> set[str]:
    if config.database.kind == "sqlite":
        return {r[1] for r in raw(config, [f'PRAGMA table_info("{table}")'])}
    if config.database.kind == "postgres":
        return {r[0] for r in raw(config, ["SELECT column_name FROM information_schema.columns WHERE "
                                           f"table_schema = current_schema() AND table_name = '{table}'"])}
    return {r[0] for r in raw(config, ["SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                                       f"AND TABLE_NAME = '{table}'"])}


def version_of(config: ExperimentConfig) -> int | None:
    rows = raw(config, [f"SELECT version FROM pyexp_schema WHERE table_name = '{config.name}'"])
    return int(rows[0][0]) if rows else None


def doubled(parameters: dict, result_processor: Any, custom: dict) -> dict:
    return {"value": parameters["x"] * 1.5}


@pytest.mark.parametrize("version", [1, 2])
def test_a_table_of_an_earlier_version_is_upgraded_in_place(make_config: ConfigMaker, version: int) -> None:
    path = old_table(make_config, version)
    config = load_config(path)
    with Experimenter(path) as exp:
        counts = exp.counts()
        assert (counts["done"], counts["error"], counts["created"]) == (2, 1, 3)
        main_columns, attempt_columns = columns_of(config, "grid"), columns_of(config, "grid__attempts")
        assert not OLD_MAIN & main_columns
        assert {f"pyexp_{c}" for c in ("error_summary", "attempts", "worker", "heartbeat", "token", "hash", "rank",
                                       "available_at", "job_id", "priority")} <= main_columns
        assert {"job_id", "array_job_id", "array_task_id", "scheduler", "log_tail"} <= attempt_columns
        assert not {"slurm_job_id", "slurm_array_job_id", "slurm_array_task_id"} & attempt_columns
        assert version_of(config) == CURRENT_VERSION
        # rows and attempts intact, under the new names
        rows = {r["ID"]: r for r in exp.store.rows()}
        assert (rows[1]["value"], rows[1]["pyexp_attempts"], rows[1]["pyexp_worker"], rows[1]["pyexp_job_id"]) == (
            1.5, 1, "77_3@node:1", "77_3")
        assert (rows[3]["status"], rows[3]["pyexp_error_summary"], rows[3]["pyexp_attempts"]) == ("error", "ValueError: bad", 3)
        assert rows[4]["pyexp_priority"] == (5 if version == 2 else 0)
        attempts = exp.store.rows(exp.store.schema.attempts_table)
        done = [a for a in attempts if a["outcome"] == "done"]
        assert [(a["job_id"], a["array_job_id"], a["array_task_id"], a["scheduler"]) for a in done] == [("77_3", "77", 3, None)] * 2
        # the hashes still make a refill a no-op, and workers run the rest
        assert exp.fill_table_from_config() == 0
        exp.execute(doubled)
        counts = exp.counts()
        assert (counts["done"], counts["error"], counts["created"]) == (5, 1, 0)
        by_hand = dict(raw(config, ["SELECT status, COUNT(*) FROM grid GROUP BY status"]))
        assert by_hand == {"done": 5, "error": 1}
    # opened again: nothing left to do
    with Experimenter(path) as exp:
        assert exp.counts()["done"] == 5 and version_of(config) == CURRENT_VERSION


def _open(path: str, barrier: Any) -> None:
    barrier.wait()
    open_store(load_config(path)).close()


def test_two_processes_opening_an_old_table_upgrade_it_once(make_config: ConfigMaker) -> None:
    path = old_table(make_config, 2)
    config = load_config(path)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_open, args=(str(path), barrier)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert version_of(config) == CURRENT_VERSION
    assert not OLD_MAIN & columns_of(config, "grid")
    with Experimenter(path) as exp:
        exp.execute(doubled)
        assert exp.counts()["done"] == 5


def test_a_current_table_without_its_registry_row_is_recognised(make_config: ConfigMaker) -> None:
    path = make_config(name="grid")
    config = load_config(path)
    with Experimenter(path) as exp:
        assert exp.fill_table_from_config() == 20
    assert version_of(config) == CURRENT_VERSION
    raw(config, ["DELETE FROM pyexp_schema"])
    with Experimenter(path) as exp:
        assert exp.counts()["created"] == 20
    assert version_of(config) == CURRENT_VERSION
    with Experimenter(path) as exp:
        exp.delete_table()
    assert version_of(config) is None


def named_like_our_old_columns(parameters: dict, result_processor: Any, custom: dict) -> dict:
    return {"slurm_job_id": f"job-{parameters['worker']}-{parameters['attempts']}", "heartbeat": 0.5}


def test_parameters_and_results_may_take_the_names_of_earlier_bookkeeping(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"worker": ["a", "b"], "attempts": [1, 2], "priority": [7]},
                       results={"slurm_job_id": "VARCHAR(32)", "heartbeat": "DOUBLE"})
    with Experimenter(path) as exp:
        assert exp.fill_table_from_config() == 4
        exp.execute(named_like_our_old_columns)
        table = exp.get_table()
        assert set(table["status"]) == {"done"}
        assert sorted(table["slurm_job_id"]) == ["job-a-1", "job-a-2", "job-b-1", "job-b-2"]
        assert set(table["heartbeat"]) == {0.5} and set(table["priority"]) == {7}
        assert (table["pyexp_attempts"] == 1).all() and table["pyexp_worker"].notna().all()
        assert len(exp.store.ids(exp.store.filter([("worker", "=", "a")]))) == 2
        assert exp.fill_table_from_config() == 0
    result = CliRunner().invoke(main, ["results", str(path), "--where", "worker=b", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.count("job-b-") == 2 and "job-a-" not in result.output


def test_a_parameter_with_our_prefix_is_refused(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"pyexp_x": [1, 2]})
    result = CliRunner().invoke(main, ["fill", str(path)])
    assert result.exit_code == 2
    assert f"{path}: parameters.pyexp_x: names starting with 'pyexp_' are kept" in result.output
    assert "Traceback" not in result.output


def test_attempts_name_the_scheduler(make_config: ConfigMaker, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOB_ID", "4242")
    monkeypatch.setenv("SGE_TASK_ID", "7")
    path = make_config(parameters={"x": [1]})
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        exp.execute(doubled)
        [attempt] = exp.store.rows(exp.store.schema.attempts_table)
        assert (attempt["scheduler"], attempt["job_id"], attempt["array_job_id"], attempt["array_task_id"]) == (
            "sge", "4242.7", "4242", 7)
        assert exp.store.rows()[0]["pyexp_job_id"] == "4242.7"


def test_a_pyexperimenter_table_with_columns_named_like_our_old_ones_is_adopted(make_config: ConfigMaker) -> None:
    """Keyfields `worker` and `claim_token` (1.4.2 allows both) stay the user's: the table is
    version 0, adopted, and none of its columns is taken for ours or renamed."""
    path = make_config(name="grid", parameters={"worker": [1, 2], "claim_token": ["a"]}, results={"value": "DOUBLE"})
    config = load_config(path)
    if config.database.kind == "postgres":
        pytest.skip("PyExperimenter 1.4 makes no PostgreSQL tables: nothing to adopt")
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT" if config.database.kind == "sqlite" else "INT NOT NULL AUTO_INCREMENT PRIMARY KEY"
    raw(config, [
        f"CREATE TABLE grid (ID {pk}, worker INT, claim_token VARCHAR(20), creation_date DATETIME, "
        "status VARCHAR(255), start_date DATETIME, name VARCHAR(255), machine VARCHAR(255), value DOUBLE, "
        "end_date DATETIME, error LONGTEXT)",
        "INSERT INTO grid (worker, claim_token, creation_date, status) VALUES (1, 'a', CURRENT_TIMESTAMP, 'created')",
        "INSERT INTO grid (worker, claim_token, creation_date, status) VALUES (2, 'a', CURRENT_TIMESTAMP, 'created')",
    ])
    open_store(config).close()  # a store that does not adopt leaves it as it is
    assert "pyexp_token" not in columns_of(config, "grid")
    with Experimenter(path) as exp:
        assert exp.fill_table_from_config() == 0  # adopted: its rows hashed
        exp.execute(lambda p, rp, c: {"value": p["worker"] * 2.0})
        table = exp.get_table()
        assert sorted(zip(table["worker"], table["claim_token"], table["value"])) == [(1, "a", 2.0), (2, "a", 4.0)]
    assert {"worker", "claim_token", "pyexp_worker", "pyexp_token"} <= columns_of(config, "grid")
    assert version_of(config) == CURRENT_VERSION


def saves_its_state(parameters: dict, result_processor: Any, custom: dict) -> dict:
    result_processor.save_state({"x": parameters["x"]})
    return {"value": float(result_processor.state["x"])}


def test_a_version_5_table_gains_the_saved_state(make_config: ConfigMaker) -> None:
    """Version 6 adds `pyexp_state` (docs/long-runs.md) to a table of version 5, rows kept."""
    path = make_config(name="grid", parameters={"x": {"start": 0, "stop": 3}}, results={"value": "DOUBLE"})
    config = load_config(path)
    with Experimenter(path) as exp:
        assert exp.fill_table_from_config() == 3
    raw(config, ["ALTER TABLE grid DROP COLUMN pyexp_state", "UPDATE pyexp_schema SET version = 5 WHERE table_name = 'grid'"])
    assert "pyexp_state" not in columns_of(config, "grid") and version_of(config) == 5
    with Experimenter(path) as exp:
        assert exp.counts()["created"] == 3  # the store opens: the table is upgraded
        assert "pyexp_state" in columns_of(config, "grid") and version_of(config) == CURRENT_VERSION >= 6
        exp.execute(saves_its_state)
        rows = sorted(exp.store.rows(), key=lambda r: r["x"])
        assert [(r["status"], r["value"], r["pyexp_state"]) for r in rows] == [
            ("done", float(x), f'{{"x": {x}}}') for x in range(3)]
