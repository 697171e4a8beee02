"""Partitions with real packets: three worker hosts in network namespaces; one host's link is
blackholed (tc `blackhole` on both ends, sockets stay open) while it runs an experiment,
for longer than `stale_after_seconds`, then healed - or renumbered, so that its old
connections can never come back. Its rows are done by others exactly once, its late
writes are refused, nothing stays running, and it works again or exits within 60 s."""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from support.workers import wait_for
from testbed import Testbed, netns, start_testbed

from pyexperimenter import Experimenter

HEARTBEAT, STALE = 1, 6
CUT_SECONDS = 14  # longer than STALE plus a sweep: the cut host's rows are requeued meanwhile


@pytest.fixture(scope="module")
def testbed() -> Iterator[Testbed]:
    yield from start_testbed()


def _configs(tmp_path: Path, bed: Testbed, n: int, record: Path, sleep: float) -> tuple[Path, Path]:
    host_url, local_url = bed.new_database()
    paths = []
    for name, url in (("hosts.yml", host_url), ("local.yml", local_url)):
        data = {
            "experiment": {"name": "part", "heartbeat_seconds": HEARTBEAT, "stale_after_seconds": STALE},
            "database": {"url": url},
            "parameters": {"x": {"start": 0, "stop": n}},
            "results": {"value": "DOUBLE"},
            "custom": {"record": str(record), "sleep": sleep},
        }
        (tmp_path / name).write_text(yaml.safe_dump(data))
        paths.append(tmp_path / name)
    return paths[0], paths[1]


def _first_warning_after(log: Path, since: float) -> float | None:
    """When the worker first logged a lost connection after `since` (epoch seconds)."""
    for line in log.read_text(errors="replace").splitlines():
        m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) WARNING .*connection lost", line)
        if m:
            at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(m.group(2)) / 1000
            if at >= since - 0.01:
                return at
    return None


@pytest.mark.faults
@pytest.mark.slow
@pytest.mark.parametrize("after", ["heal", "renumber"], ids=["healed", "connections-never-back"])
def test_blackholed_worker(testbed: Testbed, tmp_path: Path, after: str, capsys: pytest.CaptureFixture[str]) -> None:
    record = tmp_path / "record.txt"
    hosts_yml, local_yml = _configs(tmp_path, testbed, n=24, record=record, sleep=1.5)
    exp = Experimenter(local_yml)
    exp.fill_table_from_config()
    logs = {h: tmp_path / f"{h}.log" for h in ("h1", "h2", "h3")}
    procs = {h: testbed.worker(h, hosts_yml, "cluster_fns:slow", logs[h]) for h in logs}
    try:
        def held_by_h1() -> list[int]:
            rows = exp.store.rows(where={"status": "running", "machine": "pyexp-h1"})
            return [int(r["ID"]) for r in rows]

        held = wait_for("h1 running an experiment", held_by_h1, 30, every=0.1)
        assert isinstance(held, list)
        time.sleep(0.3)  # mid-experiment
        cut_at = time.time()
        netns("cut", "h1")
        # Its rows are requeued by the others once stale, and finished by them.
        wait_for("h1's rows requeued", lambda: not set(held) & set(held_by_h1()), STALE + 10, every=0.1)
        requeued_after = time.time() - cut_at
        time.sleep(max(0.0, CUT_SECONDS - (time.time() - cut_at)))
        noticed = _first_warning_after(logs["h1"], cut_at)
        if after == "renumber":
            netns("renumber", "h1")
        netns("heal", "h1")
        healed_at = time.time()

        def back() -> float | None:  # h1 started an experiment after the heal, or exited
            starts = [float(line.split()[5]) for line in record.read_text().splitlines()
                      if " pyexp-h1 " in line and " start " in line]
            if any(t > healed_at for t in starts):
                return min(t for t in starts if t > healed_at) - healed_at
            return time.time() - healed_at if procs["h1"].poll() is not None else None

        back_after = wait_for("h1 to work again or exit", back, 60, every=0.1)
        wait_for("every worker to exit", lambda: all(p.poll() is not None for p in procs.values()), 90, every=0.1)
        h1_log = logs["h1"].read_text(errors="replace")
        last_h1 = [line for line in record.read_text().splitlines() if " pyexp-h1 " in line]
        assert procs["h1"].returncode == 0, h1_log[-2000:]
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
        netns("heal", "h1", check=False)
    assert noticed is not None, h1_log[-2000:]
    # Its late write was refused: the row it held was done by someone else, exactly once.
    assert "refused" in h1_log, h1_log[-2000:]
    table = exp.get_table().set_index("ID")
    assert set(table["status"]) == {"done"}, table["status"].value_counts().to_dict()
    assert (table["value"] == table["x"] * 2.0).all()
    attempts = exp.store.rows(exp.store.schema.attempts_table)  # type: ignore[attr-defined]
    done = Counter(int(a["experiment_id"]) for a in attempts if a["outcome"] == "done")
    assert set(done.values()) == {1} and len(done) == 24, done
    assert not [a for a in attempts if a["outcome"] == "running"]
    for rid in held:
        mine = [a for a in attempts if int(a["experiment_id"]) == rid]
        assert [a["outcome"] for a in mine if a["machine"] == "pyexp-h1"] == ["lost"], mine
        assert [a["machine"] for a in mine if a["outcome"] == "done"] != ["pyexp-h1"], mine
    with capsys.disabled():
        print(f"\n[{after}] dead connection noticed after {noticed - cut_at:.1f}s; rows requeued after "
              f"{requeued_after:.1f}s; h1 worked again or exited {back_after:.1f}s after the heal, "
              f"ran {len(last_h1) // 2} experiment(s) in all")
    exp.close()


def test_hosts_have_their_own_names(testbed: Testbed) -> None:
    done = subprocess.run(["bash", str(Path(__file__).resolve().parents[2] / "scripts" / "netns.sh"),
                           "exec", "h2", "hostname"], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "pyexp-h2"


@pytest.mark.faults
def test_broken_host_is_quarantined_by_its_name(testbed: Testbed, tmp_path: Path) -> None:
    """The quarantine by host with real host names: h1's experiments all fail at once."""
    from pyexperimenter.views.status_data import status_report

    record = tmp_path / "record.txt"
    hosts_yml, local_yml = _configs(tmp_path, testbed, n=60, record=record, sleep=0.05)
    for path in (hosts_yml, local_yml):
        data = yaml.safe_load(path.read_text())
        data["custom"]["broken"] = "pyexp-h1"
        path.write_text(yaml.safe_dump(data))
    exp = Experimenter(local_yml)
    exp.fill_table_from_config()
    logs = {h: tmp_path / f"{h}.log" for h in ("h1", "h2", "h3")}
    procs = {h: testbed.worker(h, hosts_yml, "cluster_fns:broken_on", logs[h]) for h in logs}
    try:
        wait_for("every worker to exit", lambda: all(p.poll() is not None for p in procs.values()), 120, every=0.1)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
    assert "quarantined worker" in logs["h1"].read_text(), logs["h1"].read_text()[-2000:]
    assert set(exp.get_table()["status"]) == {"done"}
    report = status_report(exp)
    assert [q["host"] for q in report["quarantined"]] == ["pyexp-h1"]
    assert "failed" not in report["outcomes"]
    exp.close()
