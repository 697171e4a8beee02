"""`experiment.isolation: process`: a segfault, os._exit(3), a 2 GB allocation under a memory
limit and an endless sleep under `timeout_seconds: 2` each end one attempt with the right
outcome within 5 s, and the worker goes on with the next row."""

from __future__ import annotations

import time
from pathlib import Path

import cluster_fns
import pytest
from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.errors import ConfigError
from pyexperimenter.worker import Worker

EXPECTED = {0: "done", 1: "killed", 2: "exited", 3: "oom", 4: "timeout", 5: "failed", 6: "done"}


def test_each_misbehaviour_is_one_attempt_with_its_outcome(make_config: ConfigMaker, tmp_path: Path) -> None:
    path = make_config(
        experiment={"isolation": "process", "timeout_seconds": 2, "memory_limit_mb": 1536, "max_attempts": 1},
        parameters={"x": {"start": 0, "stop": 7}},
        results={"value": "DOUBLE"},
    )
    exp = Experimenter(path)
    exp.fill_table_from_config()
    started = time.monotonic()
    stats = Worker(exp.config, cluster_fns.misbehave).run()
    took = time.monotonic() - started
    assert stats.executed == 7 and stats.done == 2 and stats.failed == 5
    # The endless sleep was ended by its 2 s timeout: a bound far below endless, and far enough
    # above 2 s that a machine running other work (load 30 on 2 cores was seen) still passes.
    assert took < 60, took
    table = exp.get_table().set_index("ID")
    attempts = exp.store.rows(exp.store.schema.attempts_table)  # type: ignore[attr-defined]
    by_x = {int(table.loc[int(a["experiment_id"]), "x"]): a for a in attempts}
    assert {x: a["outcome"] for x, a in by_x.items()} == EXPECTED
    assert "SIGSEGV" in by_x[1]["error"] and "code 3" in by_x[2]["error"]
    assert "memory_limit_mb=1536" in by_x[3]["error"] and "timeout_seconds=2" in by_x[4]["error"]
    assert "ValueError: bad value" in by_x[5]["error"]
    for a in attempts:
        assert (a["end_date"] - a["start_date"]).total_seconds() < 30, a  # none ran on unbounded
    assert list(table.sort_values("x")["status"]) == ["done", "error", "error", "error", "error", "error", "done"]
    exp.close()


def test_results_written_from_the_child_are_fenced_like_any(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"isolation": "process"}, parameters={"x": [1, 2]}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()

    def writes(parameters: dict, rp: object, custom: dict) -> None:
        rp.process_results({"value": parameters["x"] * 10.0})  # type: ignore[attr-defined]

    Worker(exp.config, writes).run()
    assert sorted(exp.get_table()["value"]) == [10.0, 20.0]
    exp.close()


@pytest.mark.parametrize("key, value", [("timeout_seconds", 2), ("memory_limit_mb", 100)])
def test_limits_need_isolation(make_config: ConfigMaker, key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"experiment.{key}: needs experiment.isolation: process"):
        Experimenter(make_config(experiment={key: value}))


def test_spawn_runs_each_experiment_in_a_fresh_interpreter(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"isolation": "spawn", "max_attempts": 1}, parameters={"x": [0, 5]},
                       results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    stats = Worker(exp.config, cluster_fns.misbehave).run()
    assert stats.done == 1 and stats.failed == 1
    attempts = exp.store.rows(exp.store.schema.attempts_table)  # type: ignore[attr-defined]
    assert sorted(a["outcome"] for a in attempts) == ["done", "failed"]
    exp.close()
