"""`pyexp status` on a table with done, running (one lost), errored and open rows.

The rows are put into each state through the Store interface itself, so the test controls
exactly which row is where; the heartbeat of one running row is left to age past
`stale_after_seconds`, which makes it a lost run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.cli import main
from pyexperimenter.store import WorkerIdentity
from pyexperimenter.views.formatting import format_duration, format_ids
from pyexperimenter.views.status_data import status_report

STALE = 1.0
TRACEBACK = 'Traceback (most recent call last):\n  File "fn.py", line 3, in run\n{}\n'


@pytest.fixture
def mixed(make_config: ConfigMaker) -> tuple[Path, dict[str, Any]]:
    """20 rows: 5 done, 3 error (two kinds), 2 running (one lost), 10 open."""
    path = make_config(experiment={"max_attempts": 1, "heartbeat_seconds": 0.5, "stale_after_seconds": STALE})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 20
    store = exp.store
    me = WorkerIdentity(worker="tester:1", machine="tester", pid=1)

    done = store.claim(me, 5)
    assert store.finish(done[0].token, [(c.id, {"value": float(c.id)}) for c in done]) == {c.id for c in done}
    failed = store.claim(me, 3)
    messages = ["ValueError: x must be even", "ValueError: x must be even", "MemoryError"]
    for claim, message in zip(failed, messages):
        assert store.fail(claim.token, claim.id, TRACEBACK.format(message), max_attempts=1)

    lost = store.claim(WorkerIdentity(worker="4242_7@node-a:99", machine="node-a", pid=99, scheduler="slurm", job_id="4242_7"), 1)
    alive = store.claim(WorkerIdentity(worker="node-b:7", machine="node-b", pid=7), 1)
    time.sleep(STALE + 0.5)  # the lost row's heartbeat ages past stale_after_seconds ...
    assert store.heartbeat(alive[0].token) == 1  # ... while the live worker keeps beating
    ids = {
        "done": [c.id for c in done],
        "error": [c.id for c in failed],
        "lost": lost[0].id,
        "alive": alive[0].id,
    }
    exp.close()
    return path, ids


def test_status_json_has_the_contract_and_the_details(mixed: tuple[Path, dict[str, Any]]) -> None:
    path, ids = mixed
    result = CliRunner().invoke(main, ["status", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    # DESIGN section 4, exactly
    assert report["table"] == "exp"
    assert report["total"] == 20
    assert report["counts"] == {"created": 10, "running": 2, "done": 5, "error": 3, "paused": 0}
    assert report["stale"] == 1

    # running rows: worker, host, SLURM job, runtime, heartbeat age, lost flag (lost first)
    running = report["running"]
    assert [r["id"] for r in running] == [ids["lost"], ids["alive"]]
    lost, alive = running
    assert lost["lost"] is True and alive["lost"] is False
    assert (lost["worker"], lost["host"], lost["slurm_job_id"]) == ("4242_7@node-a:99", "node-a", "4242_7")
    assert (alive["worker"], alive["host"], alive["slurm_job_id"]) == ("node-b:7", "node-b", None)
    assert lost["heartbeat_age_seconds"] > STALE
    assert alive["heartbeat_age_seconds"] < STALE
    assert lost["runtime_seconds"] >= STALE and lost["attempt"] == 1
    assert report["lost_ids"] == [ids["lost"]]

    # errors grouped by the last traceback line, most frequent first, with example ids
    assert report["errors"] == [
        {"message": "ValueError: x must be even", "count": 2, "example_ids": ids["error"][:2]},
        {"message": "MemoryError", "count": 1, "example_ids": ids["error"][2:]},
    ]

    # throughput over the recent window and an ETA for what is open
    assert report["finished"] == 8
    assert report["open"] == 12
    assert report["throughput"]["finished"] == 8
    assert 0 < report["throughput"]["window_seconds"] <= report["throughput"]["max_window_seconds"]
    per_minute = 60 * 8 / report["throughput"]["window_seconds"]
    assert report["throughput_per_minute"] == pytest.approx(per_minute, rel=0.05)
    assert report["eta_seconds"] == pytest.approx(12 / (per_minute / 60), rel=0.05)
    assert report["percent"]["created"] == pytest.approx(50.0)


def test_status_view_shows_every_part(mixed: tuple[Path, dict[str, Any]]) -> None:
    path, ids = mixed
    result = CliRunner().invoke(main, ["status", str(path)], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "8/20 finished (40.0%)" in out
    for status, n, pct in (("created", 10, "50.0%"), ("running", 2, "10.0%"), ("done", 5, "25.0%"),
                           ("error", 3, "15.0%"), ("paused", 0, "0.0%")):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(status))
        assert str(n) in line and pct in line, line
    running_line = next(ln for ln in out.splitlines() if ln.strip().startswith("running "))
    assert "1 LOST" in running_line and "█" in running_line
    lost_row = next(ln for ln in out.splitlines() if "4242_7@node-a:99" in ln)
    assert "node-a" in lost_row and "4242_7" in lost_row and "LOST" in lost_row and "ago" in lost_row
    alive_row = next(ln for ln in out.splitlines() if "node-b:7" in ln)
    assert "LOST" not in alive_row
    assert "pyexp recover" in out
    error_row = next(ln for ln in out.splitlines() if "ValueError: x must be even" in ln)
    assert " 2 " in error_row and ", ".join(map(str, ids["error"][:2])) in error_row
    assert "MemoryError" in out
    assert "throughput" in out and "8 finished in the last" in out
    assert "ETA" in out and "(12 open)" in out
    assert "Traceback" not in out


def test_status_piped_never_wraps_a_command(mixed: tuple[Path, dict[str, Any]]) -> None:
    """Not on a terminal (a pipe, a log, `su -c`) Rich assumes 80 columns: the commands the
    view suggests and the sparkline stay whole lines, so they can be copied."""
    path, _ = mixed
    result = subprocess.run([sys.executable, "-m", "pyexperimenter.cli", "status", str(path)], capture_output=True,
                            text=True, env={k: v for k, v in os.environ.items() if k != "COLUMNS"}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(f"full tracebacks: pyexp results {path} --status error --columns ID,error --format json") > 80
    lines = result.stdout.splitlines()
    for command in (f"pyexp results {path} --status error --columns ID,error --format json",
                    f"pyexp reset {path} --status error", f"pyexp recover {path}"):
        assert any(command in line for line in lines), result.stdout
    spark = [line for line in lines if line.startswith("last hour")]
    assert len(spark) == 1 and spark[0].count("|") == 2 and "finished, at most" in spark[0], result.stdout


def test_recover_requeues_the_lost_row(mixed: tuple[Path, dict[str, Any]]) -> None:
    path, ids = mixed
    result = CliRunner().invoke(main, ["recover", str(path)])
    assert result.exit_code == 0, result.output
    assert "recovered 1 lost run(s)" in result.stdout
    report = json.loads(CliRunner().invoke(main, ["status", str(path), "--json"]).stdout)
    # max_attempts is 1: the lost attempt was the last one, so the row is now an error
    assert report["stale"] == 0
    assert [r["id"] for r in report["running"]] == [ids["alive"]]
    assert report["counts"]["error"] == 4


def test_status_of_a_fresh_and_of_a_finished_table(make_config: ConfigMaker) -> None:
    exp = Experimenter(make_config())
    exp.fill_table_from_config()
    report = status_report(exp)
    assert report["open"] == 20 and report["eta_seconds"] is None
    assert report["throughput"]["finished"] == 0 and report["throughput_per_minute"] == 0
    assert report["running"] == [] and report["errors"] == [] and report["stale"] == 0
    out = CliRunner().invoke(main, ["status", str(exp.config.path)]).stdout
    assert "0/20 finished" in out and "ETA unknown (20 open)" in out and "nothing finished" in out

    store = exp.store
    claims = store.claim(WorkerIdentity("w", "h", 1), 20)
    store.finish(claims[0].token, [(c.id, {"value": 1.0}) for c in claims])
    # wide enough for the header's longest URL (PostgreSQL's) on one line
    out = CliRunner().invoke(main, ["status", str(exp.config.path)], env={"COLUMNS": "120"}).stdout
    assert "20/20 finished (100.0%)" in out and "nothing open" in out


def test_status_watch_refreshes_until_interrupted(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    import yaml

    config = tmp_path / "experiment.yml"
    config.write_text(yaml.safe_dump({"experiment": {"name": "w"}, "parameters": {"x": {"start": 0, "stop": 20}}}))
    exp = Experimenter(config)
    exp.fill_table_from_config()
    pyexp = Path(sys.executable).with_name("pyexp")
    proc = subprocess.Popen([str(pyexp), "status", str(exp.config.path), "--json", "--watch", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    # Interrupted once two refreshes are out, not after a fixed time: on a busy machine the
    # interpreter's start alone can take longer than any sleep chosen here.
    first = [proc.stdout.readline(), proc.stdout.readline()]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = "".join(first).splitlines() + out.splitlines()
    assert len(lines) >= 2  # one JSON object per refresh
    assert all(json.loads(line)["total"] == 20 for line in lines)


def test_format_helpers() -> None:
    assert format_ids([7, 1, 2, 3, 9, 10]) == "1-3, 7, 9-10"
    assert format_ids(list(range(1, 100, 2)), limit=3) == "1, 3, 5, ... (50 ids)"
    assert format_duration(None) == "-"
    assert format_duration(0.25) == "0.2s" or format_duration(0.25) == "0.3s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3 * 3600 + 60) == "3h01m"
    assert format_duration(3 * 86400) == "3d00h"


def test_status_counts_rows_finished_long_ago_or_without_an_end_date(mixed: tuple[Path, dict[str, Any]]) -> None:
    """Without --where, status takes the done count from the finished rows' minute counts
    (their last bucket: before the hour, or no end date) less the errors: it must agree with
    a plain count per status, with --where too."""
    path, ids = mixed
    exp = Experimenter(path)
    store: Any = exp.store
    done, error = ids["done"], ids["error"]
    for sql in (f"UPDATE {exp.config.name} SET end_date = '2020-01-01 00:00:00' WHERE ID IN ({done[0]}, {error[0]})",
                f"UPDATE {exp.config.name} SET end_date = NULL WHERE ID = {done[1]}"):
        store.session.transaction(lambda cur, sql=sql: store.session.execute(cur, sql))
    expected = {k: v for k, v in store.counts().items() if k != "stale"}
    report = status_report(exp)
    assert report["counts"] == expected and expected["done"] == 5 and expected["error"] == 3
    assert sum(report["finished_last_hour"]) == 5  # the old and the undated ones are not in the last hour
    row = exp.get_table().set_index("ID").loc[done[0]]
    only = status_report(exp, where=[f"x={row['x']}", f"y={row['y']}"])
    assert only["counts"]["done"] == 1 and sum(only["counts"].values()) == 1
    exp.close()
