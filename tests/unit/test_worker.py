"""The worker loop (worker/loop.py) on a real SQLite store in a temporary folder: results,
failures and retries, fencing, max_experiments and stop signals, in well under a second each.

A run is made "lost" without sleeping: the test ages its heartbeat in the database file
(support/aging.py), and the store's own sweep finds it stale by the database's time.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.aging import age
from support.configs import config_maker

from pyexperimenter.config import ExperimentConfig, load_config
from pyexperimenter.errors import FencedOut
from pyexperimenter.status import Status
from pyexperimenter.store import Store, WorkerIdentity, open_store
from pyexperimenter.worker import Worker

ME = WorkerIdentity("me", "host", 1)
OTHER = WorkerIdentity("other", "host", 2)
# Beats far apart: a test that ages the heartbeat is not undone by a beat before its sweep.
SLOW_BEATS = {"heartbeat_seconds": 60, "stale_after_seconds": 120}


def setup(tmp_path: Path, **experiment: Any) -> tuple[ExperimentConfig, Store]:
    """A config and its SQLite table, filled with 10 rows, as `pyexp fill` leaves them."""
    path = config_maker(tmp_path, f"sqlite:///{tmp_path / 'experiments.db'}")(
        experiment=experiment, parameters={"x": {"start": 0, "stop": 5}, "y": ["a", "b"]},
        logtables={"steps": {"step": "INT"}})
    config = load_config(path)
    store = open_store(config, create=True)
    store.create()
    assert store.insert_missing({"x": x, "y": y} for x in range(5) for y in "ab") == 10
    return config, store


def run(config: ExperimentConfig, store: Store, fn: Any, **kwargs: Any) -> Any:
    return Worker(config, fn, store=store, identity=ME, deadline=None, **kwargs).run()


def by_params(store: Store) -> dict[tuple[int, str], dict[str, Any]]:
    return {(r["x"], r["y"]): r for r in store.rows()}


def lose_the_running_row(config: ExperimentConfig, store: Store) -> int:
    """An hour without a heartbeat for the running row, then the real sweep requeues it."""
    assert age(config, "heartbeat", 3600) == 1
    return store.requeue_stale(config.stale_after_seconds, config.max_attempts)


def test_results_are_written_and_every_row_runs_once(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    seen: list[tuple[int, str]] = []

    def double(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
        seen.append((parameters["x"], parameters["y"]))
        rp.process_logs({"steps": {"step": parameters["x"]}})
        return {"value": parameters["x"] * 2.0, "label": parameters["y"]}

    stats = run(config, store, double)
    assert (stats.executed, stats.done, stats.failed, stats.fenced) == (10, 10, 0, 0)
    assert sorted(seen) == sorted(by_params(store))
    assert all(r["status"] == "done" and r["value"] == r["x"] * 2.0 and r["label"] == r["y"] and r["pyexp_attempts"] == 1
               and r["pyexp_worker"] == "me" for r in store.rows())
    assert len(store.rows(store.schema.logtable("steps"))) == 10
    assert Counter(a["outcome"] for a in store.rows(store.schema.attempts_table)) == {"done": 10}
    assert store.counts() == {**store.counts(), "done": 10, "created": 0, "running": 0}


def test_short_experiments_are_claimed_in_batches(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    claims: list[int] = []
    claim = store.claim

    def counted(*args: Any, **kwargs: Any) -> Any:
        claims.append(1)
        return claim(*args, **kwargs)

    store.claim = counted  # type: ignore[method-assign]
    assert run(config, store, lambda p, rp, c: None).done == 10
    assert len(claims) < 10


def test_an_exception_fails_the_row_with_its_traceback(tmp_path: Path) -> None:
    config, store = setup(tmp_path, max_attempts=1)

    def odd_fails(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> None:
        if parameters["x"] == 3:
            raise ValueError(f"bad x {parameters['x']}")

    stats = run(config, store, odd_fails)
    assert (stats.executed, stats.done, stats.failed) == (10, 8, 2)
    rows = by_params(store)
    for y in "ab":
        row = rows[(3, y)]
        assert row["status"] == "error" and row["pyexp_attempts"] == 1
        assert row["error"].startswith("Traceback (most recent call last):")
        assert "ValueError: bad x 3" in row["error"] and "odd_fails" in row["error"]
    assert store.counts()["done"] == 8


def test_a_failing_row_is_retried_up_to_max_attempts(tmp_path: Path) -> None:
    config, store = setup(tmp_path, max_attempts=3)
    calls: Counter[tuple[int, str]] = Counter()

    def flaky(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> None:
        key = (parameters["x"], parameters["y"])
        calls[key] += 1
        if key == (0, "a") or (key == (1, "b") and calls[key] < 2):
            raise RuntimeError("boom")

    stats = run(config, store, flaky)
    assert calls[(0, "a")] == 3 and calls[(1, "b")] == 2
    assert stats.failed == 4 and stats.done == 9
    rows = by_params(store)
    assert (rows[(0, "a")]["status"], rows[(0, "a")]["pyexp_attempts"]) == ("error", 3)
    assert (rows[(1, "b")]["status"], rows[(1, "b")]["pyexp_attempts"]) == ("done", 2)
    history = [a["outcome"] for a in store.rows(store.schema.attempts_table) if a["experiment_id"] == rows[(0, "a")]["ID"]]
    assert history == ["failed", "failed", "failed"]


def test_late_writes_after_a_requeue_are_refused(tmp_path: Path) -> None:
    """The row is declared lost and handed to another worker while it still runs here: this
    worker's results, logs and final write are all refused, the other worker's stand."""
    config, store = setup(tmp_path, **SLOW_BEATS)
    refused: list[str] = []

    def overtaken(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
        assert lose_the_running_row(config, store) == 1
        [other] = store.claim(OTHER, 1)
        assert store.finish(other.token, [(other.id, {"value": 42.0})]) == {other.id}
        for what, write in (("results", lambda: rp.process_results({"label": "late"})),
                            ("logs", lambda: rp.process_logs({"steps": {"step": 1}}))):
            try:
                write()
            except FencedOut:
                refused.append(what)
        return {"value": -1.0}

    stats = run(config, store, overtaken, max_experiments=1)
    assert refused == ["results", "logs"]
    assert (stats.executed, stats.done, stats.fenced) == (1, 0, 1)
    [row] = store.rows(where={"status": "done"})
    assert (row["value"], row["label"], row["pyexp_worker"], row["pyexp_attempts"]) == (42.0, None, "other", 2)
    assert store.rows(store.schema.logtable("steps")) == []
    outcomes = [a["outcome"] for a in store.rows(store.schema.attempts_table) if a["experiment_id"] == row["ID"]]
    assert outcomes == ["lost", "done"]


def test_a_fenced_out_experiment_is_counted_not_failed(tmp_path: Path) -> None:
    config, store = setup(tmp_path, **SLOW_BEATS)

    def overtaken(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> None:
        lose_the_running_row(config, store)
        store.claim(OTHER, 1)
        rp.process_results({"label": "late"})  # raises FencedOut: the worker moves on

    stats = run(config, store, overtaken, max_experiments=1)
    assert (stats.executed, stats.failed, stats.fenced) == (1, 0, 1)
    assert store.counts()["running"] == 1 and store.counts()["error"] == 0


def test_max_experiments_stops_the_worker(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    stats = run(config, store, lambda p, rp, c: {"value": 1.0}, max_experiments=3)
    assert stats.executed == 3
    counts = store.counts()
    assert (counts["done"], counts["created"], counts["running"]) == (3, 7, 0)


def test_a_status_returned_by_the_experiment_is_kept(tmp_path: Path) -> None:
    config, store = setup(tmp_path, max_attempts=1)
    stats = run(config, store, lambda p, rp, c: Status.PAUSED if p["y"] == "a" else 3)
    assert stats.failed == 5  # an int is no result: those rows fail, one line saying why
    assert store.counts()["paused"] == 5
    errors = [r["error"] for r in store.rows(where={"y": "b"})]
    assert all("the experiment function returned int" in e for e in errors)


def test_a_signal_during_an_experiment_releases_its_row(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    started: list[int] = []
    before = signal.getsignal(signal.SIGUSR2)

    def stopped_on_the_third(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
        started.append(rp.experiment_id)
        if len(started) == 3:
            os.kill(os.getpid(), signal.SIGUSR2)  # the SLURM time limit is near
            raise AssertionError("the signal did not interrupt the experiment")
        return {"value": 1.0}

    stats = run(config, store, stopped_on_the_third)
    assert stats.interrupted_by == "SIGUSR2" and len(started) == 3
    assert stats.done == 2 and stats.failed == 0 and stats.released >= 1
    [third] = store.rows(where={"ID": started[2]})
    assert (third["status"], third["pyexp_attempts"], third["pyexp_worker"]) == ("created", 0, None)
    counts = store.counts()
    assert (counts["done"], counts["created"], counts["running"]) == (2, 8, 0)
    assert signal.getsignal(signal.SIGUSR2) == before  # the previous handler is back


def test_a_stop_flag_ends_the_loop_after_the_current_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal that lands inside a database call only sets the flag: the running experiment
    ends normally, its result is written, and no further row is claimed."""
    config, store = setup(tmp_path)
    monkeypatch.setattr(store, "in_call", lambda: True)

    def signalled(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
        os.kill(os.getpid(), signal.SIGTERM)
        return {"value": 7.0}

    stats = run(config, store, signalled)
    assert stats.interrupted_by == "SIGTERM"
    assert (stats.executed, stats.done) == (1, 1)
    counts = store.counts()
    assert (counts["done"], counts["created"], counts["running"]) == (1, 9, 0)


def test_run_claim_runs_one_row_claimed_elsewhere_to_its_end(tmp_path: Path) -> None:
    """PyExperimenter's add-and-run and unpause claim one given row, then hand it to a worker."""
    config, store = setup(tmp_path, max_attempts=1)
    ok_id, bad_id = by_params(store)[(4, "a")]["ID"], by_params(store)[(4, "b")]["ID"]
    worker = Worker(config, lambda p, rp, c: {"value": 8.0} if p["y"] == "a" else 1 / 0, store=store, identity=ME)
    for row_id in (ok_id, bad_id):
        claim = store.claim_id(ME, row_id, ["created"])
        assert claim is not None
        stats = worker.run_claim(claim)
    assert (stats.executed, stats.done, stats.failed) == (2, 1, 1)
    [ok], [bad] = store.rows(where={"ID": ok_id}), store.rows(where={"ID": bad_id})
    assert (ok["status"], ok["value"], bad["status"]) == ("done", 8.0, "error")
    assert "ZeroDivisionError" in bad["error"]
    assert store.counts()["created"] == 8  # nothing else was claimed
