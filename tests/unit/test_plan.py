"""launch/plan.py: arrays under MaxArraySize and MaxJobCount, parallelism shares, and the
worker count capped at the open rows. Pure decisions: no cluster, no database."""

from __future__ import annotations

import pytest

from pyexperimenter.launch import parse_cluster_limits, split_arrays


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
