"""PyExperimenter 1.4 users change one import; config, credentials and function stay."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
import yaml

from pyexperimenter import PyExperimenter, Status

CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 2
  Database:
    provider: {provider}
    database: {database}
    table:
      name: compat_probe
      keyfields:
        dataset:
          type: VARCHAR(255)
          values: ['iris', 'wine']
        seed:
          type: INT
          values: {{start: 0, stop: 6, step: 2}}
        alpha:
          type: DOUBLE
          values: [0.5]
      result_timestamps: True
      resultfields:
        acc: DOUBLE
        note: VARCHAR(255)
    logtables:
      train_log:
        epoch: INT
        loss: DOUBLE
  Custom:
    datapath: /tmp/data
    scale: 3
"""


def experiment(parameters: dict, result_processor, custom_config: dict):
    """Written for PyExperimenter 1.4; runs unchanged."""
    assert custom_config == {"datapath": "/tmp/data", "scale": 3}
    for epoch in range(3):
        result_processor.process_logs({"train_log": {"epoch": epoch, "loss": 1.0 / (epoch + 1)}})
    result_processor.process_results({"acc": 0.25 * custom_config["scale"]})
    if parameters["seed"] == 2:
        raise ValueError(f"boom for {parameters['dataset']}")
    if parameters["seed"] == 4 and parameters["dataset"] == "wine":
        return Status.PAUSED
    result_processor.process_results({"note": f"{parameters['dataset']}-{parameters['seed']}"})
    return None


@pytest.fixture
def compat_config(backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path | None]:
    if backend == "postgres":
        pytest.skip("PyExperimenter 1.4's format has the providers sqlite and mysql only")
    monkeypatch.chdir(tmp_path)  # PyExperimenter's SQLite file is <database>.db in the cwd
    config = tmp_path / "config" / "experiment_configuration.yml"
    config.parent.mkdir()
    if backend == "sqlite":
        config.write_text(CONFIG.format(provider="sqlite", database="compat_db"))
        return config, None
    url = urlsplit(request.getfixturevalue("mysql_url"))
    config.write_text(CONFIG.format(provider="mysql", database=url.path.lstrip("/")))
    creds = tmp_path / "config" / "database_credentials.yml"
    creds.write_text(
        yaml.safe_dump(
            {
                "CREDENTIALS": {
                    "Database": {"user": url.username or "root", "password": url.password or ""},
                    "Connection": {"Standard": {"server": url.hostname, "port": url.port or 3306}},
                }
            }
        )
    )
    return config, creds


def test_pyexperimenter_config_runs_unchanged(compat_config: tuple[Path, Path | None], backend: str, tmp_path: Path) -> None:
    config, creds = compat_config
    exp = PyExperimenter(
        experiment_configuration_file_path=str(config),
        database_credential_file_path=str(creds) if creds else "config/database_credentials.yml",
        use_codecarbon=False,
        name="compat",
    )
    exp.fill_table_from_config()
    exp.fill_table_from_config()  # no duplicates
    if backend == "sqlite":
        assert (tmp_path / "compat_db.db").exists()
    exp.execute(experiment, max_experiments=-1)

    table = exp.get_table()
    fixed = ["ID", "dataset", "seed", "alpha", "creation_date", "status", "start_date", "name", "machine",
             "acc", "acc_timestamp", "note", "note_timestamp", "end_date", "error"]
    assert list(table.columns[: len(fixed)]) == fixed  # PyExperimenter's columns, in its order
    assert len(table) == 6
    rows = {(r.dataset, r.seed): r for r in table.itertuples()}
    assert {k: r.status for k, r in rows.items()} == {
        ("iris", 0): "done", ("iris", 2): "error", ("iris", 4): "done",
        ("wine", 0): "done", ("wine", 2): "error", ("wine", 4): "paused",
    }
    done = rows[("iris", 4)]
    assert done.note == "iris-4" and done.acc == 0.75 and done.name == "compat"
    assert done.machine == socket.gethostname()
    assert not pd.isna(done.acc_timestamp) and not pd.isna(done.end_date) and not pd.isna(done.start_date)
    failed = rows[("wine", 2)]
    assert failed.error.startswith("Traceback (most recent call last):\n")
    assert failed.error.rstrip().endswith("ValueError: boom for wine")
    assert failed.acc == 0.75 and pd.isna(failed.note)  # results written before the raise stay
    assert failed.pyexp_attempts == 1  # PyExperimenter semantics: a failure is final
    assert not pd.isna(rows[("wine", 4)].end_date)

    logs = exp.get_logtable("train_log")
    assert list(logs.columns) == ["ID", "experiment_id", "timestamp", "epoch", "loss"]
    assert len(logs) == 18
    assert sorted(logs[logs["experiment_id"] == done.ID]["epoch"]) == [0, 1, 2]

    ids_before = sorted(table["ID"])
    assert exp.reset_experiments("error") == 2
    after = exp.get_table()
    assert sorted(after["ID"]) == ids_before  # ids kept (PyExperimenter would renumber)
    assert set(after[after["ID"].isin([rows[("iris", 2)].ID, failed.ID])]["status"]) == {"created"}
    assert len(exp.get_logtable("train_log")) == 12  # the reset rows' logs are gone with them


def test_pyexperimenter_keyfields_without_values_are_filled_by_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "exp.yml"
    config.write_text(
        "PY_EXPERIMENTER:\n  n_jobs: 1\n  Database:\n    provider: sqlite\n    database: rows_db\n"
        "    table:\n      name: t\n      keyfields:\n        a: {type: INT}\n        b: {type: VARCHAR(10)}\n"
    )
    exp = PyExperimenter(str(config))
    with pytest.raises(Exception, match="grid is empty"):
        exp.fill_table_from_config()
    assert exp.fill_table_with_rows([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]) == 2
    seen = []
    exp.execute(lambda p, rp, c: seen.append(p))
    assert sorted(p["a"] for p in seen) == [1, 2]


def with_slurm_job_id(parameters: dict, result_processor, custom_config: dict):
    result_processor.process_results({"acc": 0.5, "note": "n", "slurm_job_id": f"job-{parameters['seed']}"})


def test_a_resultfield_named_slurm_job_id_is_the_users(compat_config: tuple[Path, Path | None]) -> None:
    """Our columns take no name from the user: 1.4.2 accepts `slurm_job_id`, and so do we."""
    config, creds = compat_config
    config.write_text(config.read_text().replace("        note: VARCHAR(255)\n",
                                                 "        note: VARCHAR(255)\n        slurm_job_id: VARCHAR(64)\n"))
    exp = PyExperimenter(experiment_configuration_file_path=str(config),
                         database_credential_file_path=str(creds) if creds else None)
    exp.fill_table_from_config()
    exp.execute(with_slurm_job_id, max_experiments=-1)
    table = exp.get_table()
    assert sorted(table["slurm_job_id"]) == ["job-0", "job-0", "job-2", "job-2", "job-4", "job-4"]
    assert "slurm_job_id_timestamp" in table.columns and "pyexp_job_id" in table.columns
