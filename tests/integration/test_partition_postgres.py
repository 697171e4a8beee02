"""test_partition.py's blackholed worker on PostgreSQL: the same three hosts in network
namespaces, a private PostgreSQL in the database namespace, one host's link blackholed (tc
`blackhole` on both ends, sockets stay open) mid-experiment for longer than
`stale_after_seconds`, then healed or renumbered. The worker notices the dead link within
its limits (keepalive and `tcp_user_timeout`, sized from the stale limit as on MariaDB:
store/backends/timeouts.py) and says so in one log line, reconnects or gives up; its rows are
done by others exactly once, its late writes refused, nothing stays running."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_partition as on_mariadb
import yaml
from support.paths import ROOT
from testbed import NETNS, PostgresTestbed, start_postgres_testbed

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def testbed() -> Iterator[PostgresTestbed]:
    yield from start_postgres_testbed()


@pytest.mark.faults
@pytest.mark.slow
@pytest.mark.parametrize("after", ["heal", "renumber"], ids=["healed", "connections-never-back"])
def test_blackholed_worker(testbed: PostgresTestbed, tmp_path: Path, after: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    on_mariadb.test_blackholed_worker(testbed, tmp_path, after, capsys)


def test_hosts_reach_the_server_by_its_address(testbed: PostgresTestbed, tmp_path: Path) -> None:
    """The workers' URL works from a host: a fill from h2 over its link."""
    host_url, _ = testbed.new_database()
    path = tmp_path / "e.yml"
    path.write_text(yaml.safe_dump({"experiment": {"name": "reach"}, "database": {"url": host_url},
                                    "parameters": {"x": [1, 2]}, "results": {"v": "DOUBLE"}}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", str(NETNS), "exec", "h2", sys.executable, "-m", "pyexperimenter.cli", "fill",
                           str(path)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and "added 2 of 2" in done.stdout, done.stdout + done.stderr
