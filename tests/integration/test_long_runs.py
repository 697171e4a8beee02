"""Resumable experiments (docs/long-runs.md) on every database: the checkpoint directory and
the saved state carry over to the next attempt; Requeue hands the row back without spending
an attempt, up to `max_requeues`; a stop signal gives a resumable experiment its grace period,
with and without isolation; done and reset rows lose their directory and state.

The stop signals here are real (the experiment signals its own worker); the SLURM flows are
in tests/acceptance/test_long_runs_slurm.py.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from support.configs import ConfigMaker

from pyexperimenter import Experimenter, Requeue, Status
from pyexperimenter.config import load_config
from pyexperimenter.store import WorkerIdentity
from pyexperimenter.worker import Worker

RESULTS = {"results": {"total": "INT", "attempt": "INT", "resumed": "INT"}}


def counting(parameters: dict, result_processor: Any, custom: dict) -> dict:
    """Counts to 6, one step per attempt at most 3 at a time: asks to be requeued twice."""
    state = result_processor.state
    step = int(state.get("step", 0))
    marker = result_processor.checkpoint_dir / "steps.txt"
    seen = marker.read_text() if marker.exists() else ""
    assert seen == "x" * step, "the checkpoint directory holds what the last attempt wrote"
    for _ in range(3):
        step += 1
        marker.write_text("x" * step)
        if step == 6:
            return {"total": step + parameters["x"], "attempt": result_processor.attempt, "resumed": int(bool(state))}
    result_processor.save_state({"step": step})
    raise Requeue(f"saved at step {step}")


def always_requeues(parameters: dict, result_processor: Any, custom: dict) -> None:
    result_processor.save_state({"asked": True})
    raise Requeue("never done")


def _attempts(exp: Experimenter, row_id: int) -> list[dict[str, Any]]:
    return sorted((a for a in exp.store.rows(exp.store.schema.attempts_table) if a["experiment_id"] == row_id),
                  key=lambda a: a["ID"])


def test_requeue_resumes_from_the_directory_and_the_state(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": [10, 20]}, **RESULTS)
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        root = exp.config.checkpoint_root()
        exp.execute(counting)
        rows = {r["x"]: r for r in exp.get_table().to_dict("records")}
        assert {x: (r["status"], r["total"], r["attempt"], r["resumed"]) for x, r in rows.items()} == {
            10: ("done", 16, 1, 1), 20: ("done", 26, 1, 1)}  # no attempt spent by the requeues
        for row_id in exp.store.ids(exp.store.filter([])):
            assert [a["outcome"] for a in _attempts(exp, row_id)] == ["requeued", "done"]
            assert [a["error"] for a in _attempts(exp, row_id)][0] == "saved at step 3"
            assert not (root / str(row_id)).exists(), "a done row's directory is removed"


def test_an_experiment_that_always_requeues_ends_in_error(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": [1]}, experiment={"max_requeues": 2})
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        exp.execute(always_requeues)
        (row,) = exp.store.rows()
        assert row["status"] == "error"
        assert "experiment.max_requeues=2" in row["error"] and "never done" in row["error"]
        assert [a["outcome"] for a in _attempts(exp, row["ID"])] == ["requeued", "requeued", "failed"]


def test_reset_clears_the_state_and_removes_the_directory(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": [1, 2]}, experiment={"max_requeues": 0})
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        exp.execute(always_requeues)
        ids = exp.store.ids(exp.store.filter([]))
        root = exp.config.checkpoint_root()
        for row_id in ids:
            (root / str(row_id)).mkdir(parents=True, exist_ok=True)
        assert all(r["pyexp_state"] == '{"asked": true}' for r in exp.store.rows())
        assert exp.reset_experiments("error", ids=[ids[0]]) == 1
        rows = {r["ID"]: r for r in exp.store.rows()}
        assert rows[ids[0]]["pyexp_state"] is None and rows[ids[1]]["pyexp_state"] is not None
        assert not (root / str(ids[0])).exists() and (root / str(ids[1])).exists()


def test_delete_removes_the_checkpoint_directories(make_config: ConfigMaker) -> None:
    """A table made again starts its IDs over: its rows must not find the old rows' files."""
    path = make_config(parameters={"x": [1, 2]}, experiment={"max_requeues": 0})
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        root = exp.config.checkpoint_root()
        (root / "1").mkdir(parents=True)
        (root / "1" / "state.pt").write_text("old")
        exp.delete_table()
        assert not root.exists() and root.parent.is_dir()  # other tables' folders are left alone
        exp.fill_table_from_config()
        assert exp.store.ids(exp.store.filter([]))[0] == 1 and not (root / "1").exists()


def test_keep_checkpoints_and_a_configured_folder(make_config: ConfigMaker, tmp_path: Path) -> None:
    path = make_config(parameters={"x": [10]}, experiment={"keep_checkpoints": True, "checkpoint_dir": "ckpt"}, **RESULTS)
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        exp.execute(counting)
        assert exp.config.checkpoint_root() == (path.parent / "ckpt" / "exp").resolve()
        assert (exp.config.checkpoint_root() / "1" / "steps.txt").read_text() == "x" * 6


def stops_itself(parameters: dict, result_processor: Any, custom: dict) -> dict:
    """Signals its worker as SLURM would, then saves within the grace period and requeues;
    the next attempt finishes. `mode` says how the experiment behaves after the signal."""
    if result_processor.state.get("saved"):
        return {"total": 1, "attempt": result_processor.attempt, "resumed": 1}
    (result_processor.checkpoint_dir / "started").write_text("yes")
    os.kill(os.getpid() if custom.get("in_process", True) else os.getppid(), signal.SIGUSR2)
    waited = time.monotonic()
    while not result_processor.stop_requested:
        assert time.monotonic() - waited < 30, "the stop never reached the experiment"
        time.sleep(0.05)
    if custom["mode"] == "saves":
        time.sleep(0.5)  # well within the grace period
        result_processor.save_state({"saved": True})
        raise Requeue("stop requested: state saved")
    time.sleep(600)  # ignores the stop: interrupted when the grace period ends
    return {}


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_a_stop_gives_a_resumable_experiment_its_grace_period(make_config: ConfigMaker, isolation: str) -> None:
    custom = {"mode": "saves", "in_process": isolation == "none"}
    path = make_config(parameters={"x": [1]}, experiment={"isolation": isolation, "stop_grace_seconds": 20},
                       custom=custom, **RESULTS)
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        exp.execute(stops_itself)  # the worker stops after the stop signal: the row is open again
        (row,) = exp.store.rows()
        assert (row["status"], row["pyexp_attempts"], row["pyexp_state"]) == ("created", 0, '{"saved": true}')
        assert [a["outcome"] for a in _attempts(exp, row["ID"])] == ["requeued"]
        exp.execute(stops_itself)
        (row,) = exp.store.rows()
        assert (row["status"], row["attempt"], row["resumed"]) == ("done", 1, 1)


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_an_experiment_ignoring_the_stop_is_interrupted_after_the_grace(make_config: ConfigMaker,
                                                                        isolation: str) -> None:
    custom = {"mode": "ignores", "in_process": isolation == "none"}
    path = make_config(parameters={"x": [1]}, experiment={"isolation": isolation, "stop_grace_seconds": 2},
                       custom=custom, **RESULTS)
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        started = time.monotonic()
        exp.execute(stops_itself)
        assert time.monotonic() - started < 300  # not the experiment's 600 s
        (row,) = exp.store.rows()
        assert (row["status"], row["pyexp_attempts"]) == ("created", 0)
        (attempt,) = _attempts(exp, row["ID"])
        assert (attempt["outcome"], attempt["error"]) == ("released", "stopped by SIGUSR2")
        assert (load_config(path).checkpoint_root() / str(row["ID"])).is_dir(), "kept for the next attempt"


def pauses_halfway(parameters: dict, result_processor: Any, custom: dict) -> Any:
    """PyExperimenter 1.4's pause: the first run stops half-way and returns PAUSED."""
    half = result_processor.checkpoint_dir / "half"
    if not result_processor.state:
        half.write_text("done")
        result_processor.save_state({"half": True})
        return Status.PAUSED
    assert half.read_text() == "done"
    return {"total": 2, "attempt": result_processor.attempt, "resumed": 1}


def test_a_paused_row_unpaused_resumes_from_its_directory_and_state(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": [1]}, **RESULTS)
    with Experimenter(path) as exp:
        exp.fill_table_from_config()
        exp.execute(pauses_halfway)
        (row,) = exp.store.rows()
        assert row["status"] == "paused"
        claim = exp.store.claim_id(WorkerIdentity.current(), row["ID"], ["paused"])  # what unpause does
        assert claim is not None
        Worker(exp.config, pauses_halfway, store=exp.store).run_claim(claim)
        (row,) = exp.store.rows()
        assert (row["status"], row["total"], row["resumed"]) == ("done", 2, 1)
        assert not (exp.config.checkpoint_root() / str(row["ID"])).exists()
