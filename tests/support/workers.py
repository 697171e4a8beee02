"""Worker processes for recovery and fault tests, and the checks on what they left behind."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from pyexperimenter import Experimenter
from pyexperimenter.config import ExperimentConfig
from pyexperimenter.worker import ExperimentFunction
from pyexperimenter.worker.local import _child
from support.paths import TESTS


def _logging_child(config: ExperimentConfig, fn: ExperimentFunction, max_experiments: int) -> None:
    # pytest's log capture sits on the root logger, which a fork inherits: log to stderr.
    logging.getLogger("pyexperimenter").addHandler(logging.StreamHandler(sys.stderr))
    _child(config, fn, max_experiments, False)


def spawn(config: ExperimentConfig, fn: ExperimentFunction, n: int, max_experiments: int = -1) -> list[BaseProcess]:
    """Start `n` worker processes (forked, like `run_workers`) that a test may SIGKILL."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_logging_child, args=(config, fn, max_experiments), daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    return procs


def stop_all(procs: list[BaseProcess]) -> None:
    """Teardown: never leave a worker behind, whatever the test did."""
    for p in procs:
        if p.is_alive() and p.pid is not None:
            os.kill(p.pid, signal.SIGKILL)
        p.join(5)


def wait_for(what: str, cond: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def join_all(procs: list[BaseProcess], timeout: float) -> list[int | None]:
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.1, deadline - time.monotonic()))
    alive = [p.pid for p in procs if p.is_alive()]
    assert not alive, f"workers still running after {timeout:g}s: {alive}"
    return [p.exitcode for p in procs]


class Record:
    """The side file written by `experiments.tracked` / `experiments.zombie`."""

    def __init__(self, path: Path):
        self.path = path

    def lines(self) -> list[tuple[int, int, int, str]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4:
                out.append((int(parts[0]), int(parts[1]), int(parts[2]), parts[3]))
        return out

    def events(self, event: str) -> list[tuple[int, int, int]]:
        return [(rid, pid, attempt) for rid, pid, attempt, ev in self.lines() if ev == event]


def count(exp: Experimenter) -> dict[str, int]:
    return exp.store.counts(exp.config.stale_after_seconds)


def attempts_by_row(exp: Experimenter) -> dict[int, list[dict[str, Any]]]:
    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in exp.store.rows(exp.store.schema.attempts_table):
        history[int(a["experiment_id"])].append(a)
    for rows in history.values():
        rows.sort(key=lambda a: a["ID"])
    return history


def assert_each_result_written_once(exp: Experimenter, record: Record, killed: Collection[int] = ()) -> None:
    """Every row is done with its own correct result, written by exactly one execution:

    - the attempt history holds exactly one `done` attempt per row, and no attempt is left
      `running`; an attempt by a surviving worker is never `lost`;
    - no attempt (row, attempt number) was executed twice;
    - the `done` attempt's execution (same pid and attempt number) finished, and the row's
      label names it; any other finished execution of the row is a killed worker's whose
      attempt is `lost` (it died before its result was committed).
    """
    table = exp.get_table().set_index("ID")
    assert set(table["status"]) == {"done"}, table["status"].value_counts().to_dict()
    assert (table["value"] == table["x"] * 2.0).all()
    history = attempts_by_row(exp)
    starts = Counter((rid, attempt) for rid, _, attempt in record.events("start"))
    assert all(n == 1 for n in starts.values()), [k for k, n in starts.items() if n > 1]
    ends: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for rid, pid, attempt in record.events("end"):
        ends[rid].append((pid, attempt))
    for index, row in table.iterrows():
        rid = int(str(index))
        attempts = history[rid]
        outcomes = [a["outcome"] for a in attempts]
        done = [a for a in attempts if a["outcome"] == "done"]
        assert len(done) == 1, (rid, outcomes)
        assert "running" not in outcomes, (rid, outcomes)
        for a in attempts:
            if a["outcome"] == "lost":
                assert int(a["pid"]) in killed, (rid, a)
        # The done attempt's execution finished; any other finished execution of this row
        # was a victim's, killed before its result was committed (that attempt is `lost`).
        done_key = (int(done[0]["pid"]), int(done[0]["attempt"]))
        assert done_key in ends[rid], (rid, ends[rid], outcomes)
        by_number = {int(a["attempt"]): a["outcome"] for a in attempts}
        for pid, attempt in ends[rid]:
            if (pid, attempt) != done_key:
                assert pid in killed and by_number.get(attempt) == "lost", (rid, pid, attempt, outcomes)
        assert row["label"] == f"attempt {int(done[0]['attempt'])}"
        assert int(row["pyexp_attempts"]) == int(done[0]["attempt"])


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env
