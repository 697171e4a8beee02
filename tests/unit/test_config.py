"""Config files -> ExperimentConfig: every key the validator accepts, and its messages.

No database is touched: validation happens before any connection, by design.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyexperimenter.config import (
    RESERVED_COLUMNS,
    DatabaseConfig,
    ExperimentConfig,
    SlurmConfig,
    load_config,
)
from pyexperimenter.errors import ConfigError
from pyexperimenter.params.grid import Factor, Grid
from pyexperimenter.sqltypes import ALLOWED_TYPES_HINT, SqlType


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYEXP_DB_PASSWORD", raising=False)
    monkeypatch.delenv("PYEXP_DB_URL", raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return path


FULL: dict[str, Any] = {
    "experiment": {
        "name": "svm_grid",
        "function": "experiments.svm:run",
        "max_attempts": 5,
        "heartbeat_seconds": 10,
        "stale_after_seconds": 45.5,
        "retry_delay_seconds": 2,
        "result_timestamps": True,
        "n_jobs": 4,
    },
    "database": {"url": "mysql://alice@db.example.org:3307/exp", "credentials": "CREDS"},
    "parameters": {
        "dataset": ["iris", "wine"],
        "seed": {"start": 0, "stop": 3},
        "lr": {"start": 0.1, "stop": 0.4, "step": 0.1},
        "depth": {"values": [1, 2], "type": "INT"},
        "width": {"start": 1, "stop": 5, "step": 2, "type": "SMALLINT"},
        "fixed": "always",
        "zip": [{"kernel": ["linear", "rbf"], "gamma": [None, 0.1]}, {"a": [1], "b": [True]}],
    },
    "results": {"accuracy": "FLOAT", "label": "varchar(64)", "extra": "JSON"},
    "logtables": {"epochs": {"epoch": "INT", "loss": "DOUBLE"}},
    "slurm": {
        "partition": "debug",
        "time_minutes": 30,
        "mem_gb": 2.5,
        "cpus_per_task": 2,
        "gpus_per_node": 1,
        "array_parallelism": 10,
        "setup": ["module load python/3.11", "source venv/bin/activate"],
        "account": "acct",
        "qos": "high",
        "constraint": "avx2",
        "sbatch": {"exclusive": "", "mail-type": "END"},
        "signal_seconds": 60,
        "python": "/opt/py/bin/python",
        "log_dir": "logs",
        "template": "my.sbatch",
    },
    "custom": {"data_dir": "/scratch/data", "nested": {"k": [1, 2]}},
}


def test_every_native_key_round_trips(tmp_path: Path) -> None:
    creds = write(tmp_path / "creds.yml", {"password": "pw"})
    data = copy.deepcopy(FULL)
    data["database"]["credentials"] = str(creds)
    cfg = load_config(write(tmp_path / "e.yml", data))
    assert cfg == ExperimentConfig(
        name="svm_grid",
        database=DatabaseConfig(kind="mysql", host="db.example.org", port=3307, user="alice", password="pw",
                                database="exp"),
        parameters={
            "dataset": SqlType("VARCHAR(255)", "str"),
            "seed": SqlType("BIGINT", "int"),
            "lr": SqlType("DOUBLE", "float"),
            "depth": SqlType("INT", "int"),
            "width": SqlType("SMALLINT", "int"),
            "fixed": SqlType("VARCHAR(255)", "str"),
            "kernel": SqlType("VARCHAR(255)", "str"),
            "gamma": SqlType("DOUBLE", "float"),
            "a": SqlType("BIGINT", "int"),
            "b": SqlType("BOOLEAN", "bool"),
        },
        grid=Grid((
            Factor(("dataset",), (("iris",), ("wine",))),
            Factor(("seed",), ((0,), (1,), (2,))),
            Factor(("lr",), ((0.1,), (0.2,), (0.3,))),
            Factor(("depth",), ((1,), (2,))),
            Factor(("width",), ((1,), (3,))),
            Factor(("fixed",), (("always",),)),
            Factor(("kernel", "gamma"), (("linear", None), ("rbf", 0.1))),
            Factor(("a", "b"), ((1, True),)),
        )),
        results={"accuracy": SqlType("FLOAT", "float"), "label": SqlType("VARCHAR(64)", "str"),
                 "extra": SqlType("JSON", "json")},
        logtables={"epochs": {"epoch": SqlType("INT", "int"), "loss": SqlType("DOUBLE", "float")}},
        function="experiments.svm:run",
        max_attempts=5,
        heartbeat_seconds=10.0,
        stale_after_seconds=45.5,
        retry_delay_seconds=2.0,
        result_timestamps=True,
        slurm=SlurmConfig(
            partition="debug", time_minutes=30, mem_gb=2.5, cpus_per_task=2, gpus_per_node=1,
            array_parallelism=10, setup=("module load python/3.11", "source venv/bin/activate"),
            account="acct", qos="high", constraint="avx2", sbatch=(("exclusive", ""), ("mail-type", "END")),
            signal_seconds=60, python="/opt/py/bin/python", log_dir="logs", template="my.sbatch",
        ),
        custom={"data_dir": "/scratch/data", "nested": {"k": [1, 2]}},
        n_jobs=4,
        path=(tmp_path / "e.yml").resolve(),
        format="native",
    )
    assert len(cfg.grid) == 2 * 3 * 3 * 2 * 2 * 1 * 2 * 1
    assert isinstance(cfg.heartbeat_seconds, float) and isinstance(cfg.retry_delay_seconds, float)
    assert cfg.base_dir == tmp_path.resolve()


def test_minimal_native_config_has_the_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "e.yml", {"experiment": {"name": "t"}, "parameters": {"x": [1, 2]}}))
    assert cfg.database == DatabaseConfig(kind="sqlite", path=(tmp_path / "t.db").resolve())
    assert (cfg.function, cfg.max_attempts, cfg.heartbeat_seconds, cfg.stale_after_seconds) == (None, 3, 30.0, 120.0)
    assert (cfg.retry_delay_seconds, cfg.result_timestamps, cfg.n_jobs) == (0.0, False, 1)
    assert cfg.slurm == SlurmConfig() and cfg.results == {} and cfg.logtables == {} and cfg.custom == {}
    assert cfg.experimenter_name == "pyexperimenter" and cfg.format == "native"
    # stale_after_seconds defaults to four heartbeats
    cfg = load_config(write(tmp_path / "e.yml", {"experiment": {"name": "t", "heartbeat_seconds": 2},
                                                 "parameters": {"x": [1]}}))
    assert cfg.stale_after_seconds == 8.0


def test_single_zip_group_and_empty_sections(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "e.yml", {
        "experiment": {"name": "t"}, "parameters": {"zip": {"a": [1, 2], "b": ["x", "y"]}, "c": [0]},
        "results": None, "slurm": None, "logtables": {},
    }))
    assert list(cfg.grid) == [{"a": 1, "b": "x", "c": 0}, {"a": 2, "b": "y", "c": 0}]


def test_with_database_replaces_only_the_database(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "e.yml", {"experiment": {"name": "t"}, "parameters": {"x": [1]}}))
    other = DatabaseConfig(kind="sqlite", path=Path("/o.db"))
    assert cfg.with_database(other).database == other and cfg.with_database(other).name == "t"


def test_reserved_columns_are_the_stores_internal_columns() -> None:
    from pyexperimenter.store.schema import RESERVED_COLUMNS as SCHEMA_RESERVED

    assert RESERVED_COLUMNS == SCHEMA_RESERVED
    assert {"id", "status", "error", "end_date", "pyexp_hash", "pyexp_job_id", "pyexp_token"} <= RESERVED_COLUMNS
    # Our columns take no name a user may give: the unprefixed ones of earlier versions are free.
    assert not {"worker", "attempts", "priority", "heartbeat", "slurm_job_id", "claim_token"} & RESERVED_COLUMNS
    assert all(c.startswith("pyexp_") or c in {"id", "creation_date", "status", "start_date", "name", "machine",
                                                 "end_date", "error"} for c in RESERVED_COLUMNS)


def test_user_columns_may_take_the_names_of_earlier_bookkeeping(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "e.yml", {
        "experiment": {"name": "t"}, "parameters": {"worker": ["a"], "attempts": [1], "priority": [2]},
        "results": {"slurm_job_id": "VARCHAR(20)", "heartbeat": "FLOAT"}, "logtables": {"l": {"worker": "INT"}}}))
    assert list(cfg.parameters) == ["worker", "attempts", "priority"]
    assert list(cfg.results) == ["slurm_job_id", "heartbeat"]


BASE: dict[str, Any] = {"experiment": {"name": "t"}, "parameters": {"x": [1, 2]}}


def merged(**sections: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return data


BAD: dict[str, tuple[Any, str]] = {
    "top level": ([1, 2], "expected a mapping at the top level, got [1, 2]"),
    "unknown top": (merged(grid=[{"x": [1]}]),
                    "grid: unknown key; expected one of custom, database, experiment, grids, logtables, parameters, "
                    "results, scheduler, sge, slurm"),
    "unknown experiment key": (merged(experiment={"isolate": "process"}),
                               "experiment.isolate: unknown key; expected one of checkpoint_dir, codecarbon, function, "
                               "heartbeat_seconds, isolation, keep_checkpoints, max_attempts, max_grid_rows, max_requeues, "
                               "memory_limit_mb, n_jobs, name, priority, quarantine_after, result_timestamps, "
                               "retry_delay_seconds, snapshot_max_mb, stale_after_seconds, stop_grace_seconds, timeout_seconds"),
    "no name": ({"parameters": {"x": [1]}}, "experiment.name: is required"),
    "bad name": (merged(experiment={"name": "my-table"}),
                 "experiment.name: table name must match [A-Za-z_][A-Za-z0-9_]{0,63}, got 'my-table'"),
    "bool for int": (merged(experiment={"max_attempts": True}), "experiment.max_attempts: expected int, got True"),
    "not positive": (merged(experiment={"n_jobs": 0}), "experiment.n_jobs: expected a positive number, got 0"),
    "function": (merged(experiment={"function": "run"}), "experiment.function: expected 'module:function', got 'run'"),
    "stale": (merged(experiment={"heartbeat_seconds": 30, "stale_after_seconds": 10}),
              "experiment.stale_after_seconds: must be larger than heartbeat_seconds (30), got 10.0"),
    "retry": (merged(experiment={"retry_delay_seconds": -1}),
              "experiment.retry_delay_seconds: expected a number >= 0, got -1.0"),
    "no parameters": ({"experiment": {"name": "t"}}, "parameters: expected at least one parameter (the grid is empty)"),
    "empty list": (merged(parameters={"x": []}), "parameters.x: expected a non-empty list (the grid would be empty), got []"),
    "bad stop": (merged(parameters={"x": {"start": 0, "stop": "ten"}}), "parameters.x.stop: expected int or float, got 'ten'"),
    "no stop": (merged(parameters={"x": {"start": 0}}), "parameters.x.stop: is required"),
    "zero step": (merged(parameters={"x": {"stop": 3, "step": 0}}), "parameters.x.step: expected a non-zero number, got 0"),
    "empty range": (merged(parameters={"x": {"start": 5, "stop": 5}}),
                    "parameters.x: range is empty (start 5, stop 5 excluded, step 1)"),
    "values and range": (merged(parameters={"x": {"values": [1], "stop": 3}}),
                         "parameters.x: give either values or start/stop/step, not both"),
    "sampled domain": (merged(parameters={"x": {"distribution": "loguniform", "low": 1, "high": 2}}),
                       "parameters.x.samples: is required"),
    "bad param type": (merged(parameters={"x": {"values": [1], "type": "BLOB"}}),
                       f"parameters.x.type: expected a column type, {ALLOWED_TYPES_HINT}, got 'BLOB'"),
    "reserved": (merged(parameters={"status": [1]}),
                 "parameters.status: 'status' is a column pyexperimenter keeps itself; choose another name"),
    "reserved any case": (merged(parameters={"Creation_Date": [1]}),
                          "parameters.Creation_Date: 'Creation_Date' is a column pyexperimenter keeps itself; choose another name"),
    "prefix": (merged(parameters={"pyexp_x": [1]}),
               "parameters.pyexp_x: names starting with 'pyexp_' are kept for pyexperimenter's own columns; rename 'pyexp_x'"),
    "prefix any case": (merged(results={"PyExp_Score": "FLOAT"}),
                        "results.PyExp_Score: names starting with 'pyexp_' are kept for pyexperimenter's own columns; "
                        "rename 'PyExp_Score'"),
    "prefix log": (merged(logtables={"epochs": {"pyexp_loss": "FLOAT"}}),
                   "logtables.epochs.pyexp_loss: names starting with 'pyexp_' are kept for pyexperimenter's own columns; "
                   "rename 'pyexp_loss'"),
    "registry name": (merged(experiment={"name": "PyExp_Schema"}),
                      "experiment.name: 'PyExp_Schema' is the table pyexperimenter keeps its schema versions in; "
                      "choose another name"),
    "bad column": (merged(parameters={"a b": [1]}),
                   "parameters.a b: column name must match [A-Za-z_][A-Za-z0-9_]{0,63}, got 'a b'"),
    "twice": (merged(parameters={"zip": {"x": [1, 2]}}), "parameters.zip.x: parameter is listed twice"),
    "zip lengths": (merged(parameters={"zip": {"a": [1, 2], "b": [1, 2, 3]}}),
                    "parameters.zip: zipped lists must have equal lengths (a: 2, b: 3)"),
    "zip groups": (merged(parameters={"zip": [{"a": [1]}, []]}), "parameters.zip[1]: expected a mapping, got []"),
    "result type": (merged(results={"y": "BLOB"}), f"results.y: expected a column type, {ALLOWED_TYPES_HINT}, got 'BLOB'"),
    "result name": (merged(results={"x": "INT"}), "results.x: a result cannot share its name with a parameter"),
    "logtable empty": (merged(logtables={"epochs": {}}), "logtables.epochs: expected a mapping of column names to types"),
    "logtable reserved": (merged(logtables={"epochs": {"Timestamp": "INT"}}),
                          "logtables.epochs.Timestamp: is kept by pyexperimenter; choose another name"),
    "logtable name": (merged(logtables={"1st": {"a": "INT"}}),
                      "logtables.1st: logtable name must match [A-Za-z_][A-Za-z0-9_]{0,63}, got '1st'"),
    "slurm key": (merged(slurm={"nodes": 2}), "slurm.nodes: unknown key; expected one of account, array_parallelism, "
                  "constraint, cpus_per_task, gpus_per_node, log_dir, max_task_requeues, mem_gb, partition, python, qos, "
                  "sbatch, setup, signal_seconds, template, time_minutes"),
    "slurm mem": (merged(slurm={"mem_gb": 0}), "slurm.mem_gb: expected a positive number, got 0"),
    "slurm kind": (merged(slurm={"mem_gb": "4G"}), "slurm.mem_gb: expected int or float, got '4G'"),
    "slurm setup": (merged(slurm={"setup": [1]}), "slurm.setup: expected a list of shell lines, got [1]"),
    "database key": (merged(database={"url": "sqlite:///x.db", "password": "pw"}),
                     "database.password: unknown key; expected one of credentials, ssh, url"),
    "database url": (merged(database={"url": "mysql://u@h/db?timeout=3"}),
                     "database.url: unknown URL option 'timeout'; expected unix_socket or read_default_file"),
    "custom": (merged(custom=[1]), "custom: expected dict, got [1]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_native_config(tmp_path: Path, case: str) -> None:
    data, message = BAD[case]
    path = write(tmp_path / "bad.yml", data)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: {message}"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "nope.yml")
    assert str(e.value) == f"{tmp_path / 'nope.yml'}: file not found"
    path = write(tmp_path / "bad.yml", "experiment:\n  name: [a\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(f"{path}: invalid YAML: line ")


def test_long_values_are_shortened_in_messages(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yml", merged(experiment={"function": "x" * 100}))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: experiment.function: expected 'module:function', got '{'x' * 56}..."


# ----------------------------------------------------------------------------- PyExperimenter 1.4


LEGACY: dict[str, Any] = {"PY_EXPERIMENTER": {
    "n_jobs": 3,
    "Database": {
        "provider": "sqlite",
        "database": "py_db",
        "table": {
            "name": "legacy_t",
            "keyfields": {
                "dataset": {"type": "VARCHAR(50)", "values": ["iris", "wine"]},
                "seed": {"type": "INT", "values": {"start": 0, "stop": 6, "step": 2}},
                "C": {"values": [0.5]},
            },
            "resultfields": {"acc": "FLOAT", "note": "TEXT"},
            "result_timestamps": True,
        },
        "logtables": {"train": {"epoch": "INT"}},
    },
    "Custom": {"path": "/data"},
}}


def test_legacy_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    path = write(tmp_path / "config" / "experiment.yml", LEGACY)
    cfg = load_config(path)
    # PyExperimenter puts the SQLite file into the working directory, not next to the config
    assert cfg.database == DatabaseConfig(kind="sqlite", path=(tmp_path / "py_db.db").resolve())
    assert cfg.name == "legacy_t" and cfg.format == "pyexperimenter" and cfg.experimenter_name == "PyExperimenter"
    assert cfg.parameters == {"dataset": SqlType("VARCHAR(50)", "str"), "seed": SqlType("INT", "int"),
                              "C": SqlType("VARCHAR(255)", "str")}
    assert list(cfg.grid)[:2] == [{"dataset": "iris", "seed": 0, "C": 0.5}, {"dataset": "iris", "seed": 2, "C": 0.5}]
    assert len(cfg.grid) == 6
    assert cfg.results == {"acc": SqlType("FLOAT", "float"), "note": SqlType("TEXT", "str")}
    assert cfg.logtables == {"train": {"epoch": SqlType("INT", "int")}}
    assert (cfg.max_attempts, cfg.result_timestamps, cfg.n_jobs, cfg.custom) == (1, True, 3, {"path": "/data"})
    assert cfg.function is None and cfg.slurm == SlurmConfig() and cfg.path == path.resolve()


def test_legacy_keyfields_without_values_give_no_grid(tmp_path: Path) -> None:
    data = copy.deepcopy(LEGACY)
    data["PY_EXPERIMENTER"]["Database"]["table"]["keyfields"]["free"] = {"type": "INT"}
    cfg = load_config(write(tmp_path / "e.yml", data))
    assert "free" in cfg.parameters and len(cfg.grid) == 0 and cfg.grid == Grid(())


def test_legacy_mysql_with_credentials_file(tmp_path: Path) -> None:
    data = copy.deepcopy(LEGACY)
    data["PY_EXPERIMENTER"]["Database"]["provider"] = "MariaDB"
    path = write(tmp_path / "experiment.yml", data)
    write(tmp_path / "database_credentials.yml", {"CREDENTIALS": {
        "Database": {"user": "alice", "password": "pw"},
        "Connection": {"Standard": {"server": "db.example.org", "port": 3310}},
    }})
    assert load_config(path).database == DatabaseConfig(
        kind="mysql", host="db.example.org", port=3310, user="alice", password="pw", database="py_db"
    )


LEGACY_BAD: dict[str, tuple[tuple[str, ...], Any, str]] = {
    "provider": (("Database", "provider"), "postgres", "PY_EXPERIMENTER.Database.provider: expected sqlite or mysql, got 'postgres'"),
    "no database": (("Database", "database"), None, "PY_EXPERIMENTER.Database.database: is required"),
    "no keyfields": (("Database", "table", "keyfields"), {}, "PY_EXPERIMENTER.Database.table.keyfields: expected at least one keyfield"),
    "keyfield key": (("Database", "table", "keyfields", "seed", "default"), 1,
                     "PY_EXPERIMENTER.Database.table.keyfields.seed.default: unknown key; expected one of type, values"),
    "keyfield type": (("Database", "table", "keyfields", "seed", "type"), "BLOB",
                      f"PY_EXPERIMENTER.Database.table.keyfields.seed.type: expected a column type, {ALLOWED_TYPES_HINT}, got 'BLOB'"),
    "reserved": (("Database", "table", "keyfields", "status"), {"type": "INT"},
                 "PY_EXPERIMENTER.Database.table.keyfields.status: 'status' is a column pyexperimenter keeps itself; choose another name"),
    "prefix": (("Database", "table", "keyfields", "pyexp_seed"), {"type": "INT"},
               "PY_EXPERIMENTER.Database.table.keyfields.pyexp_seed: names starting with 'pyexp_' are kept for "
               "pyexperimenter's own columns; rename 'pyexp_seed'"),
    "registry name": (("Database", "table", "name"), "pyexp_schema",
                      "PY_EXPERIMENTER.Database.table.name: 'pyexp_schema' is the table pyexperimenter keeps its schema "
                      "versions in; choose another name"),
    "n_jobs": (("n_jobs",), 0, "PY_EXPERIMENTER.n_jobs: expected a positive number, got 0"),
}


@pytest.mark.parametrize("case", sorted(LEGACY_BAD))
def test_bad_legacy_config(tmp_path: Path, case: str) -> None:
    keys, value, message = LEGACY_BAD[case]
    data = copy.deepcopy(LEGACY)
    node = data["PY_EXPERIMENTER"]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    path = write(tmp_path / "bad.yml", data)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: {message}"


# --------------------------------------------------------------- what PostgreSQL cannot hold
PG_URL = "postgresql://alice@db.example.org/exp"


def _native(tmp_path: Path, **sections: Any) -> Path:
    data = {"experiment": {"name": "pg"}, "database": {"url": PG_URL}, "results": {"acc": "DOUBLE"}, **sections}
    return write(tmp_path / "experiment.yml", data)


def test_postgres_refuses_nul_anywhere_in_a_long_list_with_its_grid_key(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The column-type check reads a long axis' ends only; NUL is looked for in every value."""
    monkeypatch.setattr("pyexperimenter.config.grids.CHECKED_VALUES", 10)  # a "long" axis: over 10 values
    values = [f"v{i}" for i in range(30)]
    values[15] = "a\x00b"
    path = _native(tmp_path, parameters={"seed": [1]}, grids=[{"k": ["a"]}, {"label": values}])
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(f"{path}: grids[1].label: PostgreSQL cannot store the NUL character"), e.value
    load_config(path, db="sqlite:///x.db")  # SQLite stores it


def test_postgres_limits_apply_to_the_override_and_to_pyexperimenter_configs(tmp_path: Path) -> None:
    data = copy.deepcopy(LEGACY)
    data["PY_EXPERIMENTER"]["Database"]["table"]["resultfields"]["r" * 64] = "FLOAT"
    path = write(tmp_path / "legacy.yml", data)
    load_config(path)  # SQLite: 64 characters are fine
    with pytest.raises(ConfigError, match=r"legacy.yml: PY_EXPERIMENTER.Database.table.resultfields.r{64}: "
                                          r"column name too long for PostgreSQL: 64 characters, more than the 63"):
        load_config(path, db=PG_URL)
    data = copy.deepcopy(LEGACY)
    data["PY_EXPERIMENTER"]["Database"]["table"]["name"] = "t" * 53
    path = write(tmp_path / "legacy.yml", data)
    with pytest.raises(ConfigError, match=r"PY_EXPERIMENTER.Database.table.name: table name too long for PostgreSQL"):
        load_config(path, db=PG_URL)
    path = _native(tmp_path, experiment={"name": "t" * 52}, parameters={"p" * 63: [1]})  # just fits
    assert load_config(path).name == "t" * 52
