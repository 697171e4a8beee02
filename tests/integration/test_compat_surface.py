"""PyExperimenter 1.4.2's public surface under our name, item by item of issue 10, on both databases."""

from __future__ import annotations

import importlib
import logging
import socket
from pathlib import Path

import pandas as pd
import pytest
from compat_support import pe_config_fixture  # noqa: F401 - the pe_config fixture

from pyexperimenter import Experimenter, errors

CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 5
  Database:
    provider: {provider}
    database: {database}
    table:
      name: surface
      keyfields:
        seed:
          type: INT
          values: {{start: 0, stop: 6}}
        flag:
          type: BOOLEAN
          values: [True]
      result_timestamps: True
      resultfields:
        score: DECIMAL(10,4)
        ok: BOOLEAN
    logtables:
      steps:
        step: INT
        loss: DOUBLE
"""


def experiment(parameters: dict, result_processor, custom_config: dict):
    from pyexperimenter.experiment_status import ExperimentStatus

    result_processor.process_logs({"steps": {"step": 1, "loss": 0.5}, })
    result_processor.process_results({"score": parameters["seed"] / 4, "ok": parameters["seed"] % 2 == 0})
    if parameters["seed"] == 5:
        return ExperimentStatus.PAUSED
    return None


def make(pe_config, **kwargs):
    from pyexperimenter.experimenter import PyExperimenter

    config, creds = pe_config(CONFIG)
    return PyExperimenter(str(config), str(creds) if creds else "config/database_credentials.yml",
                          use_codecarbon=False, **kwargs)


def test_module_paths_and_exception_names() -> None:
    for module in ("experimenter", "result_processor", "experiment_status", "exceptions", "utils"):
        importlib.import_module(f"pyexperimenter.{module}")
    from pyexperimenter.exceptions import (
        InvalidConfigError,
        InvalidResultFieldError,
        MissingLogTableError,
        NoExperimentsLeftException,
        ParameterCombinationError,
        PyExperimenterError,
        TableHasWrongStructureError,
    )
    from pyexperimenter.experiment_status import ExperimentStatus

    assert ExperimentStatus.ALL.value == "all" and ExperimentStatus.PAUSED.value == "paused"
    assert issubclass(InvalidConfigError, errors.ConfigError)
    assert issubclass(ParameterCombinationError, errors.InputError)
    assert issubclass(TableHasWrongStructureError, errors.TableMismatch)
    assert issubclass(MissingLogTableError, errors.InputError)
    assert issubclass(InvalidResultFieldError, ValueError)
    assert issubclass(NoExperimentsLeftException, PyExperimenterError)
    from pyexperimenter.utils import combine_fill_table_parameters

    assert combine_fill_table_parameters(["a", "b"], {"a": [1, 2]}, [{"b": 3}]) == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]


def test_constructor_names_logger_and_sqlite_file(pe_config, backend: str, tmp_path: Path) -> None:
    exp = make(pe_config, name="mine", logger_name=f"surface-{backend}", log_file=str(tmp_path / "logs" / "x.log"))
    assert exp.name == "mine" and exp.logger_name == f"surface-{backend}"
    assert isinstance(exp.logger, logging.Logger) and exp.logger.name == f"surface-{backend}"
    assert (tmp_path / "logs" / "x.log").exists()
    if backend == "sqlite":
        assert (tmp_path / "compat_db.db").exists()  # made by the constructor, as 1.4.2 does
    exp.delete_table()  # before the first fill: nothing to drop is no error
    exp.close_ssh()
    if backend == "sqlite":
        with pytest.raises(ValueError, match="not supported for sqlite"):
            exp.attach(lambda rp: None, 1)


def test_max_experiments_is_a_total_over_n_jobs(pe_config) -> None:
    exp = make(pe_config)
    exp.fill_table_from_config()
    exp.execute(experiment, max_experiments=1)  # n_jobs: 5 in the config
    assert list(exp.get_table()["status"]).count("done") == 1
    exp.execute(experiment, max_experiments=2, n_jobs=5)
    assert list(exp.get_table()["status"]).count("done") == 3


def test_dtypes_pause_unpause_and_logtables(pe_config, backend: str) -> None:
    from pyexperimenter.exceptions import MissingLogTableError, NoPausedExperimentsException

    exp = make(pe_config)
    exp.fill_table_from_config()
    exp.execute(experiment, max_experiments=-1)
    table = exp.get_table()
    assert table["score"].dtype == "float64"  # DECIMAL as float; exact in the database
    assert table["ok"].dtype == "int64" and table["flag"].dtype == "int64"  # BOOLEAN as 1.4.2 gives it
    assert table.groupby("ok")["score"].mean().to_dict() == {0: 0.75, 1: 0.5}
    paused = table[table["status"] == "paused"]["ID"].item()
    assert table["machine"].iloc[0] == socket.gethostname()
    with pytest.raises(NoPausedExperimentsException):
        exp.unpause_experiment(int(table["ID"].iloc[0]), experiment)
    exp.unpause_experiment(paused, lambda p, rp, c: rp.process_results({"ok": True}))
    row = exp.get_table().set_index("ID").loc[paused]
    assert row["status"] == "done" and row["score"] == 1.25 and row["ok"] == 1  # earlier results kept
    logs = exp.get_logtable(logtable_name="steps")
    assert len(logs) == 6 and list(logs.columns) == ["ID", "experiment_id", "timestamp", "step", "loss"]
    with pytest.raises(MissingLogTableError):
        exp.get_logtable("nope")
    assert Experimenter(exp.config).get_table()["score"].dtype == "float64"  # the native API too


def test_fill_from_combination_in_its_order_and_string_ints(pe_config) -> None:
    from pyexperimenter.exceptions import InvalidResultFieldError, ParameterCombinationError

    exp = make(pe_config)
    assert exp.fill_table_from_combination([{"flag": True}], {"seed": ["7", 8]}) == 2  # "7": MySQL takes it
    assert exp.fill_table_from_combination(parameters={"seed": [7]}, fixed_parameter_combinations=[{"flag": True}]) == 0
    assert sorted(exp.get_table()["seed"]) == [7, 8]
    with pytest.raises(ParameterCombinationError):
        exp.fill_table_from_combination([{"nope": 1}], {"seed": [1]})
    exp.add_experiment_and_execute({"seed": 9, "flag": False}, experiment)
    table = exp.get_table().set_index("seed")
    assert table.loc[9, "status"] == "done" and table.loc[9, "score"] == 2.25
    seen: list[BaseException] = []

    def bad(p, rp, c):
        try:
            rp.process_results({"nope": 1})
        except InvalidResultFieldError as e:
            seen.append(e)
            raise

    exp.execute(bad, max_experiments=1)
    assert len(seen) == 1
    assert exp.reset_experiments("error") == 1 and exp.reset_experiments() == 0


def test_wrong_structure_and_bad_config(pe_config, tmp_path: Path) -> None:
    from pyexperimenter.exceptions import InvalidConfigError, TableHasWrongStructureError
    from pyexperimenter.experimenter import PyExperimenter

    exp = make(pe_config)
    exp.create_table()
    config, creds = pe_config(CONFIG.replace("seed:", "other:"))
    with pytest.raises(TableHasWrongStructureError):
        PyExperimenter(str(config), str(creds) if creds else "x", use_codecarbon=False).fill_table_from_config()
    bad = tmp_path / "bad.yml"
    bad.write_text("PY_EXPERIMENTER:\n  Database: {provider: sqlite}\n")
    with pytest.raises(InvalidConfigError):
        PyExperimenter(str(bad), use_codecarbon=False)
    assert isinstance(exp.get_codecarbon_table, object)


def test_use_codecarbon_without_the_extra_warns_once(pe_config, caplog: pytest.LogCaptureFixture) -> None:
    from pyexperimenter.compat import experimenter as module
    from pyexperimenter.experimenter import PyExperimenter

    module._warned_codecarbon = False
    config, creds = pe_config(CONFIG)
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            exp = PyExperimenter(str(config), str(creds) if creds else "x")
    assert sum("CodeCarbon" in r.getMessage() for r in caplog.records) == 1
    assert list(exp.get_codecarbon_table().columns[:3]) == ["ID", "experiment_id", "codecarbon_timestamp"]
    exp.create_table()
    assert isinstance(exp.get_table(), pd.DataFrame)
