"""The objects PyExperimenter 1.4.2 handed its users, reached into the way scripts do: every
attribute path of issue 25 works, or fails with the named error docs/migrating.md lists."""

from __future__ import annotations

import importlib
import logging
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml
from compat_support import pe_config_fixture  # noqa: F401 - the pe_config fixture

from pyexperimenter.exceptions import (
    DatabaseConnectionError,
    InvalidLogFieldError,
    InvalidResultFieldError,
    NoExperimentsLeftException,
    ParameterCombinationError,
    PyExperimenterError,
    UnsupportedInternalError,
)
from pyexperimenter.experimenter import PyExperimenter
from pyexperimenter.result_processor import ResultProcessor

CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 1
  Database:
    provider: {provider}
    database: {database}
    table:
      name: internals
      keyfields:
        seed:
          type: INT
          values: {{start: 0, stop: 3}}
        model:
          type: VARCHAR(20)
          values: []
      result_timestamps: true
      resultfields:
        slurm_job_id: INT
        score: DOUBLE
    logtables:
      losses:
        loss: DOUBLE
  Custom:
    datapath: /data
  CodeCarbon:
    country_iso_code: DEU
"""


def make(pe_config: Any, **kwargs: Any) -> PyExperimenter:
    config, creds = pe_config(CONFIG)
    return PyExperimenter(str(config), database_credential_file_path=str(creds) if creds else None,
                          use_codecarbon=False, **kwargs)


def test_the_config_objects_read_as_1_4_2_reads_the_file(backend: str, pe_config: Any) -> None:
    """`config.database_configuration`, `custom_configuration`, `codecarbon_configuration`:
    values as written, ranges expanded, `values: []` kept empty, timestamps listed, logtables
    under `<table>__<name>`; the table name given to the constructor wins."""
    exp = make(pe_config, table_name="renamed")
    db = exp.config.database_configuration
    assert (db.provider, db.table_name, db.result_timestamps) == (backend, "renamed", True)
    assert {k: (v.name, v.dtype, v.values) for k, v in db.keyfields.items()} == {
        "seed": ("seed", "INT", [0, 1, 2]), "model": ("model", "VARCHAR(20)", [])}
    assert db.resultfields == {"slurm_job_id": "INT", "slurm_job_id_timestamp": "VARCHAR(255)",
                               "score": "DOUBLE", "score_timestamp": "VARCHAR(255)"}
    assert db.logtables == {"renamed__losses": {"loss": "DOUBLE"}}
    assert exp.config.custom_configuration.custom_values == {"datapath": "/data"}
    assert exp.config.codecarbon_configuration.config == {"country_iso_code": "DEU"}
    assert exp.config.n_jobs == 1 and exp.config.valid()
    assert exp.db_connector.database_configuration is db


def test_connector_and_result_processor_paths_on_a_run(backend: str, pe_config: Any) -> None:
    """`_get_existing_rows` before the table (the driver's "no such table" or 1146), a
    `slurm_job_id` resultfield, the result processor's `logger`, `database_config`,
    `experiment_id`, `db_connector` with a bulk logtable write, `_get_experiments_with_condition`,
    `get_table(condition=)`, `execute_custom_query` with bound values, and the
    NoExperimentsLeftException a drained table gives `execute(fn, max_experiments=1)`."""
    exp = make(pe_config)
    connector = exp.db_connector
    assert type(connector).__name__ == ("DatabaseConnectorLITE" if backend == "sqlite" else "DatabaseConnectorMYSQL")
    with pytest.raises(DatabaseConnectionError) as missing:
        connector._get_existing_rows(["seed", "model"])
    assert ("no such table" if backend == "sqlite" else "1146") in missing.value.args[0]
    with pytest.raises(ParameterCombinationError):
        exp.fill_table_from_config()  # `values: []`: 1.4.2's product is empty
    exp.fill_table_from_combination(parameters={"seed": [0, 1], "model": ["a", "b"]})
    assert sorted((r["seed"], r["model"]) for r in connector._get_existing_rows(["seed", "model"])) == [
        (0, "a"), (0, "b"), (1, "a"), (1, "b")]

    seen: list[tuple[Any, ...]] = []

    def run(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> None:
        seen.append((result_processor.logger.name, result_processor.database_config.table_name,
                     result_processor.experiment_id, custom["datapath"]))
        assert result_processor._valid_result_fields(["score", "slurm_job_id"])
        assert not result_processor._valid_result_fields(["nope"])
        assert result_processor._valid_logtable_logs({"losses": {"loss": 1.0}})
        assert not result_processor._valid_logtable_logs({"losses": {"nope": 1.0}})
        with pytest.raises(UnsupportedInternalError, match="ExperimentStatus"):
            result_processor._change_status("done")
        result_processor.process_results({"slurm_job_id": 100 + parameters["seed"], "score": 0.5})
        name = f"{result_processor.database_config.table_name}__losses"
        statement = result_processor.db_connector.prepare_write_query(name, ["experiment_id", "timestamp", "loss"])
        result_processor.db_connector.execute_queries(
            [(statement, [result_processor.experiment_id, "2026-01-01 00:00:00", x]) for x in (0.5, 0.25)])
        if parameters["model"] == "b":
            raise KeyError("bad model")

    for _ in range(4):
        exp.execute(run, max_experiments=1)
    with pytest.raises(NoExperimentsLeftException):
        exp.execute(run, max_experiments=1)
    assert seen == [("py-experimenter", "internals", i, "/data") for i in (1, 2, 3, 4)]

    keys, rows = connector._get_experiments_with_condition("WHERE status = 'error'")
    assert (list(keys), sorted(rows)) == (["seed", "model"], [[0, "b"], [1, "b"]])
    done = exp.get_table(condition="WHERE status = 'done' ORDER BY ID")
    assert list(done["ID"]) == [1, 3] and list(done["slurm_job_id"]) == [100, 101]
    assert len(exp.get_table(condition="")) == 4
    counts = exp.execute_custom_query(
        "SELECT status, COUNT(*) AS n FROM internals WHERE score > " + ("?" if backend == "sqlite" else "%s")
        + " GROUP BY status ORDER BY status", (0.1,))
    assert counts.to_dict("records") == [{"status": "done", "n": 2}, {"status": "error", "n": 2}]
    assert len(connector.get_table("internals__losses")) == 8
    assert exp.execute_custom_query("DELETE FROM internals__losses WHERE loss < 0.3").empty
    assert len(exp.get_logtable("losses")) == 4


def test_a_connection_of_the_scripts_own(backend: str, pe_config: Any) -> None:
    """1.4.2's raw connector, driven as its own suite and CARP-S's reset script drive it:
    `connect()` gives a driver connection of the caller's in autocommit (a transaction it
    opens is its own: an uncommitted DELETE is gone when it closes; a read it leaves open does
    not stop `delete_table`), `execute` sends the text as written with values
    bound, driver errors are DatabaseConnectionError, and `get_structure_from_table` names the
    columns of a `SELECT *` on the same cursor, so a raw DELETE plus `fill_table` resets rows."""
    exp = make(pe_config)
    connector = exp.db_connector
    mark = "?" if backend == "sqlite" else "%s"
    exp.fill_table_from_combination(parameters={"seed": [0, 1, 2], "model": ["a"]})

    def run(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> None:
        if parameters["seed"] == 1:
            raise ValueError("seed 1 fails")
        result_processor.process_results({"score": parameters["seed"] / 10})

    exp.execute(run, max_experiments=-1)

    connection = connector.connect()
    assert type(connection).__module__.split(".")[0] == ("sqlite3" if backend == "sqlite" else "pymysql")
    cursor = connector.cursor(connection)
    connector.execute(cursor, "SELECT seed, status, score FROM internals WHERE status = 'done' ORDER BY seed")
    assert [tuple(r) for r in connector.fetchall(cursor)] == [(0, "done", 0.0), (2, "done", 0.2)]
    connector.execute(cursor, f"SELECT COUNT(*) FROM internals WHERE seed >= {mark} AND model = {mark}", (1, "a"))
    assert [tuple(r) for r in connector.fetchall(cursor)] == [(2,)]
    cursor.execute("SELECT COUNT(*) FROM internals WHERE error LIKE '%seed 1 fails%'")  # the driver's own cursor
    assert [tuple(r) for r in cursor.fetchall()] == [(1,)]
    update = connector._prepare_update_query("internals", {"score": 1.5, "slurm_job_id": 7}, "seed = 0")
    assert update == f"UPDATE internals SET score = {mark}, slurm_job_id = {mark} WHERE seed = 0"
    connector.execute(cursor, update, [1.5, 7])
    connector.commit(connection)
    with pytest.raises(DatabaseConnectionError, match="no_such_column"):
        connector.execute(cursor, "SELECT no_such_column FROM internals")
    connector.close_connection(connection)
    assert exp.get_table(condition="WHERE seed = 0")[["score", "slurm_job_id"]].values.tolist() == [[1.5, 7]]

    connection = connector.connect()  # a transaction of the caller's: not committed, not kept
    cursor = connector.cursor(connection)
    connector.execute(cursor, "BEGIN")
    connector.execute(cursor, "DELETE FROM internals")
    connector.close_connection(connection)
    assert len(exp.get_table()) == 3

    # CARP-S's reset: select the rows with the caller's condition, delete them, fill them again
    connection = connector.connect()
    cursor = connector.cursor(connection)
    connector.execute(cursor, "SELECT * FROM internals WHERE status = 'error'")
    rows = connector.fetchall(cursor)
    names = connector.get_structure_from_table(cursor)
    assert names[:2] == ["ID", "seed"] and names.index("error") < names.index("pyexp_attempts")
    keys = list(connector.database_configuration.keyfields)
    again = [{k: row[names.index(k)] for k in keys} for row in rows]
    assert again == [{"seed": 1, "model": "a"}]
    connector.execute(cursor, "DELETE FROM internals WHERE status = 'error'")
    connector.commit(connection)
    connector.close_connection(connection)
    connector.fill_table(again)
    table = exp.get_table().sort_values("seed")
    assert list(table["status"]) == ["done", "created", "done"] and list(table["ID"]) == [1, 4, 3]
    with pytest.raises(DatabaseConnectionError):
        connector.close_connection(None)

    connection = connector.connect()  # as 1.4.2's suite leaves one when an assertion fails
    cursor = connector.cursor(connection)
    connector.execute(cursor, "SELECT * FROM internals WHERE status = 'done'")
    assert len(connector.fetchall(cursor)) == 2
    exp.delete_table()
    with pytest.raises(DatabaseConnectionError):  # gone: the open read did not hold it
        connector._get_existing_rows(["seed"])
    connector.close_connection(connection)


def test_what_cannot_be_honoured_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """1.4.2's claim, insert and DDL internals exist (scripts and tests patch them) but raise
    UnsupportedInternalError naming the call to use when called; a name 1.4.2 never had is
    an AttributeError. A result processor built by hand reads and checks as 1.4.2's did, and
    its writes, which would have no claim, raise UnsupportedInternalError."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yml").write_text(CONFIG.format(provider="sqlite", database="internals"))
    exp = PyExperimenter(str(tmp_path / "c.yml"), use_codecarbon=False)
    for name, hint in [("update_database", "process_results"), ("pull_paused_experiment", "unpause_experiment"),
                       ("_pull_open_experiment", "execute"), ("_create_table", "create_table")]:
        with pytest.raises(UnsupportedInternalError, match=hint):
            getattr(exp.db_connector, name)()
    assert issubclass(UnsupportedInternalError, PyExperimenterError)
    with pytest.raises(AttributeError):
        exp.db_connector.no_such_thing  # noqa: B018
    with pytest.raises(UnsupportedInternalError, match="db_connector"):
        importlib.import_module("pyexperimenter.database_connector_lite").DatabaseConnectorLITE(
            exp.config.database_configuration, False, logging.getLogger())
    by_hand = ResultProcessor(exp.config.database_configuration, exp.db_connector, 1, logging.getLogger("mine"))
    assert (by_hand.database_config.table_name, by_hand.experiment_id, by_hand.experiment_id_condition,
            by_hand.logger.name, by_hand.db_connector) == ("internals", 1, "ID = 1", "mine", exp.db_connector)
    assert by_hand._valid_logtable_logs({"losses": {"loss": 1.0}}) and not by_hand._valid_result_fields(["nope"])
    with pytest.raises(InvalidResultFieldError, match="Invalid result keys: {'nope'}"):
        by_hand.process_results({"nope": 1, "score": 0.5})
    with pytest.raises(InvalidLogFieldError):
        by_hand.process_logs({"losses": {"nope": 1.0}})
    for write in (lambda: by_hand.process_results({"score": 0.5}), lambda: by_hand.process_logs({"losses": {"loss": 1.0}})):
        with pytest.raises(UnsupportedInternalError, match="claim"):
            write()


def test_the_1_4_2_module_paths_import_under_our_name() -> None:
    """1.4.2's test suite and scripts import these modules and classes."""
    from pyexperimenter import database_connector, database_connector_lite, database_connector_mysql
    from pyexperimenter.config import CodeCarbonCfg, CustomCfg, DatabaseCfg, Keyfield, PyExperimenterCfg

    assert issubclass(database_connector_lite.DatabaseConnectorLITE, database_connector.DatabaseConnector)
    assert issubclass(database_connector_mysql.DatabaseConnectorMYSQL, database_connector.DatabaseConnector)
    data = {"PY_EXPERIMENTER": {"Database": {"provider": "sqlite", "database": "d", "table": {
        "name": "t", "keyfields": {"k": {"type": "INT", "values": {"start": 0, "stop": 1, "step": 0.5}}}}},
        "CodeCarbon": {"offline_mode": True}}}
    db = DatabaseCfg.extract_config(data, logging.getLogger())
    assert db.keyfields == {"k": Keyfield("k", "INT", [0.0, 0.5])} and db.get_experiment_configuration() == [{"k": 0.0}, {"k": 0.5}]
    assert CodeCarbonCfg.extract_config(data, logging.getLogger()).config == {"offline_mode": True}
    assert CustomCfg.extract_config(data, logging.getLogger()).custom_values == {}
    assert PyExperimenterCfg is not None


def test_connect_never_shows_the_password(backend: str, pe_config: Any) -> None:
    """A refused login on `db_connector.connect()` names the user and the server, never the
    password (not in the message, nor anywhere in the traceback)."""
    if backend != "mysql":
        pytest.skip("SQLite has no credentials")
    config, creds = pe_config(CONFIG)
    assert creds is not None
    data = yaml.safe_load(creds.read_text())
    data["CREDENTIALS"]["Database"].update(user="pyexp_nobody", password="s3cr3t-PW-x")
    creds.write_text(yaml.safe_dump(data))
    exp = PyExperimenter(str(config), database_credential_file_path=str(creds), use_codecarbon=False)
    with pytest.raises(Exception) as refused:
        exp.db_connector.connect()
    text = "".join(traceback.format_exception(refused.value))
    assert "pyexp_nobody" in str(refused.value) and "s3cr3t" not in text
