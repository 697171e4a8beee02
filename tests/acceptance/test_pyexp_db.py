"""`pyexp db`: a PostgreSQL of the researcher's own, started by `pip install` and one command,
run as an ordinary user (PostgreSQL refuses root), and a SLURM launch that finds it through
`database.url: pyexp-db://DIR`. The password lives in the 0600 connection file and the
server's data directory, and nowhere else: no config, log, script or job environment.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.ordinary_user import OrdinaryUser
from support.services import require_slurm
from test_ordinary_user import executions, not_owned_by, status_counts, write_config

from pyexperimenter.cli import main

pytestmark = pytest.mark.postgres


def start(user: OrdinaryUser, folder: Path, *args: str) -> dict[str, object]:
    out = user.run(["pyexp", "db", "start", "db", *args], cwd=folder, timeout=240)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "answering" in out.stdout and "not answering" not in out.stdout, out.stdout
    assert "Warning" not in out.stderr, out.stderr  # e.g. no runtime directory under `su -`: none of ours
    info: dict[str, object] = json.loads((folder / "db" / "connection.json").read_text())
    return info


def stop(user: OrdinaryUser, folder: Path) -> None:
    user.run(["pyexp", "db", "stop", "db"], cwd=folder, timeout=120)


def files_holding(folder: Path, secret: str, allowed: list[Path]) -> list[Path]:
    found = []
    for path in [folder, *folder.rglob("*")]:
        if path.is_file() and not any(path == a or a in path.parents for a in allowed):
            if secret.encode() in path.read_bytes():
                found.append(path)
    return found


def test_root_is_refused_with_what_to_do(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    result = CliRunner().invoke(main, ["db", "start", str(tmp_path / "db")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "PostgreSQL will not run as root" in lines[0] and "non-root" in lines[0], lines
    assert not (tmp_path / "db").exists()


def test_start_status_url_stop_and_restart_keeps_the_data(ordinary_user: OrdinaryUser) -> None:
    folder = ordinary_user.workdir("pgdb")
    info = start(ordinary_user, folder)
    try:
        connection_file = folder / "db" / "connection.json"
        assert stat.S_IMODE(connection_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((folder / "db").stat().st_mode) == 0o700
        password = str(info["password"])
        assert len(password) >= 24 and info["host"] not in ("0.0.0.0", "*")
        hba = (folder / "db" / "data" / "pg_hba.conf").read_text()
        methods = {line.split()[-1] for line in hba.splitlines() if line.strip() and not line.startswith("#")}
        assert methods == {"scram-sha-256"}, methods  # no trust, no md5, no peer
        url = ordinary_user.run(["pyexp", "db", "url", "db"], cwd=folder)
        assert url.returncode == 0 and url.stdout.strip() == f"postgresql://pyexp@{info['host']}:{info['port']}/pyexp"
        assert password not in url.stdout
        config = write_config(ordinary_user, folder, "pyexp-db://db", rows=6)
        filled = ordinary_user.run(["pyexp", "fill", str(config)], cwd=folder)
        assert filled.returncode == 0, filled.stderr
        again = ordinary_user.run(["pyexp", "db", "start", "db"], cwd=folder)
        assert again.returncode == 2 and "runs already" in again.stderr
        stop(ordinary_user, folder)
        down = ordinary_user.run(["pyexp", "db", "status", "db"], cwd=folder)
        assert "stopped" in down.stdout and "not answering" in down.stdout, down.stdout
        refused = ordinary_user.run(["pyexp", "status", str(config)], cwd=folder)
        assert refused.returncode == 2 and "pyexp db start" in refused.stderr, refused.stderr
        restarted = start(ordinary_user, folder)
        assert restarted["password"] == password and restarted["port"] == info["port"]
        assert status_counts(ordinary_user, folder, config).get("created") == 6  # the data stayed
        assert password not in (folder / "db" / "server.log").read_text()
        assert not_owned_by(ordinary_user, folder) == []
    finally:
        stop(ordinary_user, folder)


@pytest.mark.slurm
def test_launch_20_workers_on_slurm_against_pyexp_db(ordinary_user: OrdinaryUser) -> None:
    """The acceptance flow: db start, a config naming pyexp-db://DIR, fill, launch --workers 20
    --wait: every row done once; the password in no file but the connection file and the data
    directory, nor in SLURM's state (where a job's environment is kept)."""
    require_slurm()
    folder = ordinary_user.workdir("pgslurm")
    info = start(ordinary_user, folder)
    password = str(info["password"])
    jobs: list[str] = []
    try:
        config = write_config(ordinary_user, folder, "pyexp-db://db", rows=60)
        assert ordinary_user.run(["pyexp", "fill", str(config)], cwd=folder).returncode == 0
        out = ordinary_user.run(["pyexp", "launch", str(config), "--workers", "20", "--wait"], cwd=folder, timeout=600)
        jobs = re.findall(r"(\d+) \(\d+ tasks\)", out.stdout)
        assert out.returncode == 0, out.stderr + out.stdout
        counts = status_counts(ordinary_user, folder, config)
        assert counts.get("done") == 60 and sum(counts.values()) == 60, counts
        assert executions(folder) == list(range(1, 61))  # each row once
        assert password not in out.stdout + out.stderr
        db = folder / "db"
        assert files_holding(folder, password, [db / "connection.json", db / "data"]) == []
        spool = [Path(p) for p in ("/var/spool/slurmctld", "/var/spool/slurmd") if Path(p).is_dir()]
        for place in spool:
            assert files_holding(place, password, []) == [], place
    finally:
        if jobs:
            subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)
        stop(ordinary_user, folder)


@pytest.mark.slurm
def test_server_as_a_slurm_job_then_launch(ordinary_user: OrdinaryUser) -> None:
    """`pyexp db start --slurm`: the server runs as a job of its own, the connection file
    gets its address once it answers, workers find it there; `stop` ends the job."""
    require_slurm()
    folder = ordinary_user.workdir("pgjob")
    jobs: list[str] = []
    try:
        out = ordinary_user.run(["pyexp", "db", "start", "db", "--slurm", "--time-minutes", "30", "--wait-seconds",
                                 "240"], cwd=folder, timeout=300)
        assert out.returncode == 0, out.stderr + out.stdout
        assert "answering" in out.stdout and "not answering" not in out.stdout, out.stdout
        info = json.loads((folder / "db" / "connection.json").read_text())
        server_job = str(info["slurm_job"])
        assert info["state"] == "ready" and server_job.isdigit()
        queue = subprocess.run(["squeue", "-h", "-j", server_job, "-o", "%j %T"], capture_output=True, text=True)
        assert "pyexp-db RUNNING" in queue.stdout, queue.stdout
        config = write_config(ordinary_user, folder, "pyexp-db://db", rows=12)
        assert ordinary_user.run(["pyexp", "fill", str(config)], cwd=folder).returncode == 0
        launched = ordinary_user.run(["pyexp", "launch", str(config), "--workers", "3", "--wait"], cwd=folder,
                                     timeout=300)
        jobs = re.findall(r"(\d+) \(\d+ tasks\)", launched.stdout)
        assert launched.returncode == 0, launched.stderr + launched.stdout
        assert status_counts(ordinary_user, folder, config).get("done") == 12
        assert executions(folder) == list(range(1, 13))
        password = str(info["password"])
        assert files_holding(folder, password, [folder / "db" / "connection.json", folder / "db" / "data"]) == []
        stopped = ordinary_user.run(["pyexp", "db", "stop", "db"], cwd=folder, timeout=180)
        assert stopped.returncode == 0, stopped.stderr
        gone = subprocess.run(["squeue", "-h", "-j", server_job], capture_output=True, text=True)
        assert server_job not in gone.stdout
        assert json.loads((folder / "db" / "connection.json").read_text())["state"] == "stopped"
    finally:
        if jobs:
            subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)
        info = json.loads((folder / "db" / "connection.json").read_text()) if (folder / "db" / "connection.json").exists() else {}
        if info.get("slurm_job"):
            subprocess.run(["scancel", str(info["slurm_job"])], capture_output=True, timeout=30)
