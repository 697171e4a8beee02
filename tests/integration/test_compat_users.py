"""Real PyExperimenter 1.4.2 users' ways with the API, each test after one public project.

Each project was run here, on tiny settings, with 1.4.2 and with ours (imports renamed);
the expected values below are what 1.4.2 left in its tables. The tests are our own: they
make the same calls, read the same attributes and use the same YAML shapes as the project,
without its code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from compat_support import pe_config_fixture, write_config  # noqa: F401 - the pe_config fixture

from pyexperimenter.exceptions import DatabaseConnectionError, NoExperimentsLeftException
from pyexperimenter.experiment_status import ExperimentStatus
from pyexperimenter.experimenter import PyExperimenter

RL_CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 1
  Database:
    provider: sqlite
    database: experiments/results
    table:
      name: structural_change
      keyfields:
        seed:
          type: INT
          values: [0, 1]
        algorithm:
          type: VARCHAR(30)
          values: [q-learning, dyna-q]
        environment:
          type: VARCHAR(30)
          values: []
        change_step:
          type: INT
          values: []
        learning_rate:
          type: DOUBLE
          values: [0.1]
    logtables:
      steps:
        global_step: INT
        action: VARCHAR(10)
        reward: DOUBLE
      episodes:
        episode: INT
        end_reason: VARCHAR(30)
  Custom:
    scenarios:
      - environment: two-routes
        change_step: null
      - environment: shortcut
        change_step: 1000
"""


def _batch_logs(result_processor: Any, table: str, records: list[dict[str, Any]], when: str) -> list[tuple[str, tuple[Any, ...]]]:
    """One prepared INSERT per logtable, then every record's values (the project's batch writer)."""
    name = f"{result_processor.database_config.table_name}__{table}"
    statement = result_processor.db_connector.prepare_write_query(name, ("experiment_id", "timestamp", *records[0]))
    return [(statement, (result_processor.experiment_id, when, *r.values())) for r in records]


def rl_experiment(parameters: dict[str, Any], result_processor: Any, custom_config: dict[str, Any]) -> None:
    result_processor.logger.info("seed=%s algorithm=%s", parameters["seed"], parameters["algorithm"])
    if parameters["algorithm"] == "dyna-q" and parameters["seed"] == 1:
        raise RuntimeError("simulated divergence")
    steps = [{"global_step": i + 1, "action": "up", "reward": 0.5 * i} for i in range(6)]
    episodes = [{"episode": e, "end_reason": "goal" if e else "timeout"} for e in range(2)]
    queries = _batch_logs(result_processor, "steps", steps, "2026-01-01 00:00:00")
    queries += _batch_logs(result_processor, "episodes", episodes, "2026-01-01 00:00:00")
    result_processor.db_connector.execute_queries(queries)


def _rl_fill_and_run(max_experiments: int) -> PyExperimenter:
    experimenter = PyExperimenter(experiment_configuration_file_path="experiments/pyexperimenter.yml", use_codecarbon=False)
    scenarios = [dict(s) for s in experimenter.config.custom_configuration.custom_values["scenarios"]]
    keyfields = experimenter.config.database_configuration.keyfields
    shared = {name: keyfield.values for name, keyfield in keyfields.items() if keyfield.values}
    experimenter.fill_table_from_combination(fixed_parameter_combinations=scenarios, parameters=shared)
    experimenter.execute(rl_experiment, max_experiments=max_experiments)
    return experimenter


def test_rl_study_fills_from_its_config_objects_and_writes_logs_in_bulk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After MerlinRoechert/structural-change-dyna-q (experiments/run_pyexperimenter.py and
    batch_log_writer.py): a relative SQLite `database:` path, keyfields with `values: []`
    filled from `Custom.scenarios` (with nulls), the value lists read back through
    `config.database_configuration.keyfields[name].values`, and logtable rows written in bulk
    through `result_processor.db_connector.prepare_write_query` + `execute_queries`. The script
    ran three times (3, 3, then all); 1.4.2 exited 0 each time and left this table."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "pyexperimenter.yml").write_text(RL_CONFIG)
    _rl_fill_and_run(3)
    _rl_fill_and_run(3)
    experimenter = _rl_fill_and_run(-1)

    assert (tmp_path / "experiments" / "results.db").is_file()
    table = experimenter.get_table()
    rows = [(r.seed, r.algorithm, r.environment, None if r.change_step != r.change_step else int(r.change_step), r.status)
            for r in table.itertuples()]
    assert rows == [
        (0, "q-learning", "two-routes", None, "done"), (0, "q-learning", "shortcut", 1000, "done"),
        (0, "dyna-q", "two-routes", None, "done"), (0, "dyna-q", "shortcut", 1000, "done"),
        (1, "q-learning", "two-routes", None, "done"), (1, "q-learning", "shortcut", 1000, "done"),
        (1, "dyna-q", "two-routes", None, "error"), (1, "dyna-q", "shortcut", 1000, "error"),
    ]
    assert "simulated divergence" in table["error"].iloc[6]
    steps = experimenter.get_logtable("steps")
    assert steps.groupby("experiment_id")["reward"].sum().to_dict() == {i: 7.5 for i in range(1, 7)}
    episodes = experimenter.get_logtable("episodes")
    assert sorted(episodes["end_reason"]) == ["goal"] * 6 + ["timeout"] * 6


CARPS_CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 1
  Database:
    use_ssh_tunnel: false
    provider: {provider}
    database: {database}
    table:
      name: results
      keyfields:
        config:
          type: JSON
        config_hash:
          type: VARCHAR(64)
        benchmark_id:
          type: VARCHAR(50)
        seed:
          type: INT
      resultfields:
        slurm_job_id: VARCHAR(50)
      resultfields.timestamps: false
    logtables:
      trials:
        n_trials: DOUBLE
        trial_value__status: VARCHAR(50)
  CodeCarbon:
    measure_power_secs: 15
    offline_mode: False
"""


def _carps_fill(experimenter: PyExperimenter, definition: dict[str, Any]) -> str:
    """The optimizer benchmark's fill: skip a config whose hash is in the table, and take the
    driver's "table missing" error as an empty database."""
    columns = list(experimenter.db_connector.database_configuration.keyfields.keys())
    try:
        existing = experimenter.db_connector._get_existing_rows(columns)
    except DatabaseConnectionError as e:
        if "1146" not in e.args[0] and "no such table" not in e.args[0]:
            raise
        existing = []
        outcome = "empty"
    else:
        outcome = "exists" if any(e["config_hash"] == definition["config_hash"] for e in existing) else "added"
    if outcome != "exists":
        experimenter.fill_table_with_rows([definition])
    return outcome


def carps_trial(config: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> None:
    result_processor.process_results({"slurm_job_id": "4711"})
    result_processor.process_logs({"trials": {"n_trials": 1.0, "trial_value__status": "SUCCESS"}})
    if config["seed"] == 1:
        raise AttributeError("'NoneType' object has no attribute 'update'")
    if config["seed"] == 3:
        raise ValueError("unknown failure")


def test_optimizer_benchmark_scripts_reach_into_the_connector(backend: str, pe_config: Any) -> None:
    """After automl/CARP-S (carps/experimenter/create_cluster_configs.py fill_database,
    database/show_stats.py, database/reset_experiments.py): JSON keyfields without values, a
    resultfield named `slurm_job_id`, `db_connector._get_existing_rows` before the table exists
    (DatabaseConnectionError naming the missing table), a cluster loop on
    NoExperimentsLeftException, `_get_experiments_with_condition("WHERE status = ...")`,
    `db_connector.get_table()`, a reset of the rows their own WHERE selects
    (`_get_experiments_with_condition` + `_delete_experiments_with_condition` + `fill_table`)
    and `db_connector.reset_experiments("error")`. Values as 1.4.2 left them on MariaDB."""
    config, creds = pe_config(CARPS_CONFIG)
    experimenter = PyExperimenter(str(config), database_credential_file_path=str(creds) if creds else None,
                                  name="carps", use_ssh_tunnel=False, use_codecarbon=False)
    outcomes = []
    for seed, bench in [(1, "YAHPO"), (2, "YAHPO"), (3, "BBOB"), (1, "YAHPO")]:
        definition = {"config": f'{{"seed": {seed}}}', "config_hash": f"h{seed}{bench}", "benchmark_id": bench, "seed": seed}
        outcomes.append(_carps_fill(experimenter, definition))
    assert outcomes == ["empty", "added", "added", "exists"]

    runs = 0
    while True:
        try:
            experimenter.execute(carps_trial, max_experiments=1)
        except NoExperimentsLeftException:
            break
        runs += 1
    assert runs == 3

    connector = experimenter.db_connector
    counts = {s.value: len(connector._get_experiments_with_condition(condition=f"WHERE status = '{s.value}'")[1])
              for s in ExperimentStatus if s is not ExperimentStatus.ALL}
    assert counts == {"created": 0, "running": 0, "done": 1, "error": 2, "paused": 0}
    names, entries = connector._get_experiments_with_condition("WHERE status = 'error'")
    assert list(names) == ["config", "config_hash", "benchmark_id", "seed"]
    assert sorted(e[3] for e in entries) == [1, 3]
    table = connector.get_table()
    assert set(table["slurm_job_id"]) == {"4711"}
    assert table[table["status"] == "error"]["error"].str.contains("no attribute 'update'").sum() == 1

    condition = "WHERE benchmark_id LIKE 'YAHPO' AND status LIKE 'error' AND error LIKE '%no attribute%'"
    keys, rows = connector._get_experiments_with_condition(condition)
    connector._delete_experiments_with_condition(condition)
    connector.fill_table([dict(zip(keys, row)) for row in rows])
    assert sorted((r.seed, r.status) for r in experimenter.get_table().itertuples()) == [(1, "created"), (2, "done"), (3, "error")]

    connector.reset_experiments(ExperimentStatus.ERROR.value)
    assert sorted((r.seed, r.status) for r in experimenter.get_table().itertuples()) == [(1, "created"), (2, "done"), (3, "created")]
    assert len(experimenter.get_logtable("trials")) == 1  # the reset rows' logs went with them, as in 1.4.2


DYNABO_CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 1
  Database:
    provider: {provider}
    database: {database}
    table:
      name: groundtruth
      keyfields:
        benchmarklib:
          type: VARCHAR(255)
          values: ['yahpogym']
        scenario:
          type: VARCHAR(255)
          values: ['rbv2_xgboost']
        dataset:
          type: VARCHAR(255)
          values: ['3470']
        metric:
          type: VARCHAR(255)
          values: ['validation_acc']
        algorithm:
          type: VARCHAR(255)
          values: ['groundtruth']
        timeout_total:
          type: INT
          values: [86400]
        timeout_internal:
          type: INT
          values: [300]
        seed:
          type: INT
          values: [0, 1]
      result_timestamps: False
      resultfields:
        final_performance: VARCHAR(255)
        incumbent_trace: TEXT
        num_evaluations: VARCHAR(255)
        done: VARCHAR(50)
"""


def dynabo_run(config: dict[str, Any], result_processor: Any, custom_cfg: dict[str, Any]) -> None:
    trace = []
    for evaluation in range(1, int(config["timeout_total"]) + 1):  # one virtual second each
        performance = 1.0 / (int(config["seed"]) + evaluation + 1)
        if not trace or performance > trace[-1][1]:
            trace.append([evaluation, performance, evaluation])
            result_processor.process_results({"incumbent_trace": str(trace)})
    result_processor.process_results({"final_performance": trace[-1][1], "num_evaluations": int(config["timeout_total"]),
                                      "incumbent_trace": str(trace), "done": "true"})


def test_bo_study_cluster_jobs_run_until_no_experiment_is_left(backend: str, pe_config: Any) -> None:
    """After automl/DynaBO (dynabo/experiments/experimenter.py and config/experiment_config.yml,
    a SLURM array whose every job runs `execute(fn, max_experiments=2)`): the table filled
    from parameters (a `range`) crossed with fixed combinations, then jobs until one finds
    fewer rows than it asked for. With 1.4.2 the first two jobs exited 0, every later one with
    NoExperimentsLeftException (exit 1); results written during the run were overwritten by
    the final ones."""
    config, creds = pe_config(DYNABO_CONFIG)
    experimenter = PyExperimenter(experiment_configuration_file_path=str(config),
                                  database_credential_file_path=str(creds) if creds else None, use_codecarbon=False)
    fixed = [{"scenario": s, "dataset": "1220", "metric": "acc"} for s in ("rbv2_ranger", "rbv2_xgboost")]
    for _ in range(2):  # --setup twice: the second adds nothing
        experimenter.fill_table_from_combination(
            parameters={"benchmarklib": ["yahpogym"], "timeout_internal": [2], "timeout_total": [3],
                        "algorithm": ["groundtruth"], "seed": range(2)},
            fixed_parameter_combinations=fixed)
    outcomes = []
    for _ in range(3):
        try:
            experimenter.execute(experiment_function=dynabo_run, max_experiments=2)
            outcomes.append("ok")
        except NoExperimentsLeftException:
            outcomes.append("NoExperimentsLeftException")
    assert outcomes == ["ok", "ok", "NoExperimentsLeftException"]
    table = experimenter.get_table()
    assert [(r.seed, r.scenario, r.status, r.done, r.num_evaluations) for r in table.itertuples()] == [
        (0, "rbv2_ranger", "done", "true", "3"), (0, "rbv2_xgboost", "done", "true", "3"),
        (1, "rbv2_ranger", "done", "true", "3"), (1, "rbv2_xgboost", "done", "true", "3"),
    ]
    assert [float(v) for v in table["final_performance"]] == [0.5, 0.5, pytest.approx(1 / 3), pytest.approx(1 / 3)]


def test_a_cluster_job_that_finds_the_table_drained_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop every cluster script above relies on: `execute(fn, max_experiments=1)` with no
    open row raises NoExperimentsLeftException and runs nothing; with fewer open rows than
    asked, it runs them all first, then raises (1.4.2's joblib call raised from the first
    task that found none)."""
    monkeypatch.chdir(tmp_path)
    config, _ = write_config(tmp_path, DYNABO_CONFIG, "sqlite", None)
    experimenter = PyExperimenter(str(config), use_codecarbon=False)
    experimenter.fill_table_from_config()
    with pytest.raises(NoExperimentsLeftException):
        experimenter.execute(dynabo_run, max_experiments=5)
    assert set(experimenter.get_table()["status"]) == {"done"}
    with pytest.raises(NoExperimentsLeftException):
        experimenter.execute(dynabo_run, max_experiments=1)
    experimenter.execute(dynabo_run)  # -1: all that is left, none is no error
