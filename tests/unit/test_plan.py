"""launch/plan.py: arrays under MaxArraySize and MaxJobCount, parallelism shares, and the
worker count capped at the open rows. Pure decisions: no cluster; the open rows are counted
in a real SQLite table in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.aging import age
from support.configs import config_maker

from pyexperimenter.config import ExperimentConfig, load_config
from pyexperimenter.launch import (
    ArrayPlan,
    ClusterLimits,
    launch,
    parse_cluster_limits,
    plan_arrays,
    slurm,
    split_arrays,
)
from pyexperimenter.launch.plan import assumed_limits
from pyexperimenter.store import Store, WorkerIdentity, open_store


def test_split_respects_max_array_size_conservatively() -> None:
    arrays = split_arrays(250, max_array_size=101, parallelism=1000)
    assert [a.tasks for a in arrays] == [100, 100, 50]
    assert [a.spec for a in arrays] == ["0-99", "0-99", "0-49"]


def test_split_shares_parallelism_among_arrays() -> None:
    arrays = split_arrays(250, max_array_size=101, parallelism=100)
    assert sum(a.parallelism for a in arrays) == 100
    assert [a.spec for a in arrays] == ["0-99%40", "0-99%40", "0-49%20"]
    # every array may run at least one task, even when parallelism is smaller than the arrays
    assert [a.parallelism for a in split_arrays(300, 101, 2)] == [1, 1, 1]


@pytest.mark.parametrize("workers,max_size", [(1, 10001), (20, 10001), (100, 101), (101, 101), (7, 2), (10001, 1001)])
def test_split_covers_every_worker_once(workers: int, max_size: int) -> None:
    arrays = split_arrays(workers, max_size, parallelism=64)
    assert sum(a.tasks for a in arrays) == workers
    assert all(1 <= a.tasks <= max(1, max_size - 1) for a in arrays)
    assert all(1 <= a.parallelism <= a.tasks for a in arrays)


def test_cluster_limits_from_scontrol_text() -> None:
    text = "Configuration data as of 2026-01-01\nMaxArraySize            = 101\nMaxJobCount             = 100000\nMaxStepCount = 40000\n"
    limits = parse_cluster_limits(text)
    assert (limits.max_array_size, limits.max_job_count, limits.source) == (101, 100000, "scontrol show config")
    assumed = parse_cluster_limits("nothing here")
    assert assumed.max_array_size == 1001 and assumed.source.startswith("assumed")


def test_max_job_count_caps_the_workers_and_the_plan_says_why() -> None:
    limits = ClusterLimits(max_array_size=101, max_job_count=250, source="scontrol show config")
    workers, arrays, notes = plan_arrays(1000, limits, parallelism=50)
    assert workers == 250
    assert [a.tasks for a in arrays] == [100, 100, 50] and sum(a.parallelism for a in arrays) == 50
    assert notes[0] == "capped at MaxJobCount 250 worker(s)"
    assert "split into 3 arrays; array_parallelism 50 shared among them" in notes[1]


def test_one_array_needs_no_note_and_assumed_limits_get_one() -> None:
    assert plan_arrays(20, ClusterLimits(1001, None, "scontrol show config"), 40) == (20, [ArrayPlan(20, 20)], [])
    workers, arrays, notes = plan_arrays(20, assumed_limits("not found"), 5)
    assert (workers, [a.spec for a in arrays]) == (20, ["0-19%5"])
    assert notes == ["could not read the cluster's limits: MaxArraySize 1001 assumed (scontrol: not found)"]


def test_no_workers_no_arrays() -> None:
    assert split_arrays(0, 1001, 10) == []


# ----------------------------------------------------------------------------- workers capped at the open rows


@pytest.fixture
def filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ExperimentConfig, Store]:
    """A 20-row SQLite table, and a cluster of one node that allows arrays of 100."""
    monkeypatch.setattr(slurm, "partition_nodes", lambda partition: {"node1"})
    monkeypatch.setattr(slurm, "cluster_limits", lambda: ClusterLimits(101, None, "scontrol show config"))
    path = config_maker(tmp_path, f"sqlite:///{tmp_path / 'experiments.db'}")(experiment={"function": "experiments:noop"})
    config = load_config(path)
    store = open_store(config, create=True)
    store.create()
    store.insert_missing({"x": x, "y": y} for x in range(10) for y in "ab")
    return config, store


def test_workers_are_capped_at_the_open_rows(filled: tuple[ExperimentConfig, Store]) -> None:
    config, store = filled
    result = launch(config, store, workers=500, dry_run=True)
    assert (result.open_rows, result.requested, result.workers) == (20, 500, 20)
    assert [a.spec for a in result.arrays] == ["0-19"]
    assert "capped at 20 worker(s): only 20 open row(s); more would idle" in result.notes


def test_lost_runs_count_as_open_rows(filled: tuple[ExperimentConfig, Store]) -> None:
    config, store = filled
    gone = store.claim(WorkerIdentity("gone", "h", 1), 5)
    done = store.claim(WorkerIdentity("w", "h", 2), 5)
    assert store.finish(done[0].token, [(c.id, {}) for c in done]) == {c.id for c in done}
    assert age(config, "heartbeat", 3600, [c.id for c in gone]) == 5  # an hour without a heartbeat
    result = launch(config, store, workers=500, dry_run=True)
    assert (result.open_rows, result.workers) == (15, 15)  # 10 created + 5 lost


def test_no_open_rows_plans_nothing(filled: tuple[ExperimentConfig, Store]) -> None:
    config, store = filled
    token = store.claim(WorkerIdentity("w", "h", 1), 20)[0].token
    store.finish(token, [(r["ID"], {}) for r in store.rows()])
    result = launch(config, store, workers=5, dry_run=True)
    assert result.mode == "nothing" and result.workers == 0 and result.arrays == []
