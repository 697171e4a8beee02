"""The launcher's acceptance tests, one body for both schedulers: SLURM and Grid Engine.

Each test runs `pyexp` as the ordinary user (Grid Engine refuses root's jobs, and researchers
are never root) in a folder it owns, against the real one-node SLURM cluster and the real
one-node Grid Engine cell of scripts/services.sh, on MariaDB. The table is the source of
truth: nothing here asks sacct or qacct. Fails under CI=true when a scheduler, MariaDB or the
user is missing.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from long_run_fns import expected_total
from support.ordinary_user import OrdinaryUser
from support.paths import ROOT
from support.services import require_sge, require_slurm
from support.workers import wait_for

from pyexperimenter import Experimenter

pytestmark = [pytest.mark.mysql]

WORKER_NAME = re.compile(r"(\d+)_(\d+)@[^:]+:\d+")


# ----------------------------------------------------------------------------- the two schedulers


@dataclass(frozen=True)
class Cluster:
    """What a test does to a scheduler directly: its own commands, never pyexperimenter's."""

    name: str
    label: str
    submit: str

    def require(self) -> None:
        require_slurm() if self.name == "slurm" else require_sge()

    def queued(self, jobs: list[str]) -> list[str]:
        """Tasks of these jobs still pending or running."""
        if not jobs:
            return []
        if self.name == "slurm":
            out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(jobs)], capture_output=True, text=True,
                                 timeout=30)
            return out.stdout.split() if out.returncode == 0 else []
        out = subprocess.run(["qstat", "-u", "*", "-g", "d"], capture_output=True, text=True, timeout=30)
        return [f"{f[0]}.{f[-1]}" for f in (ln.split() for ln in out.stdout.splitlines()[2:]) if f and f[0] in jobs]

    def kill_task(self, job: str, task: str) -> None:
        """Stop one array task the way an admin or the scheduler would (SIGTERM on SLURM;
        USR2, then SIGKILL the notify time later, on Grid Engine)."""
        cmd = ["scancel", f"{job}_{task}"] if self.name == "slurm" else ["qdel", job, "-t", task]
        subprocess.run(cmd, check=True, capture_output=True, timeout=30)

    def remove(self, jobs: list[str]) -> None:
        if jobs:
            cmd = ["scancel", *jobs] if self.name == "slurm" else ["qdel", "-f", *jobs]
            subprocess.run(cmd, capture_output=True, timeout=30)

    @contextlib.contextmanager
    def tasks_per_array(self, n: int) -> Iterator[None]:
        """Lower the cluster's array size limit to `n` tasks an array; restored afterwards."""
        if self.name == "slurm":  # MaxArraySize M allows task ids 0..M-1
            script = str(ROOT / "scripts" / "slurm_max_array_size.sh")
            subprocess.run(["bash", script, str(n + 1)], check=True, capture_output=True, timeout=120)
            try:
                yield
            finally:
                subprocess.run(["bash", script, "10001"], check=True, capture_output=True, timeout=120)
            return
        before = sge_conf_value("max_aj_tasks")
        set_sge_conf("max_aj_tasks", str(n))
        try:
            yield
        finally:
            set_sge_conf("max_aj_tasks", before)


CLUSTERS = {"slurm": Cluster("slurm", "SLURM", "sbatch"), "sge": Cluster("sge", "Grid Engine", "qsub")}


def sge_conf_value(key: str) -> str:
    out = subprocess.run(["qconf", "-sconf"], capture_output=True, text=True, check=True, timeout=30).stdout
    return next(line.split()[1] for line in out.splitlines() if line.split()[:1] == [key])


def set_sge_conf(key: str, value: str) -> None:
    """Change one key of the global configuration (qconf -Mconf reads a file named after it)."""
    text = subprocess.run(["qconf", "-sconf"], capture_output=True, text=True, check=True, timeout=30).stdout
    text = re.sub(rf"^{key}\s+\S+$", f"{key} {value}", text, flags=re.M)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "global"
        path.write_text("".join(line for line in text.splitlines(keepends=True) if not line.startswith("#")))
        subprocess.run(["qconf", "-Mconf", str(path)], check=True, capture_output=True, timeout=30)
    assert sge_conf_value(key) == value


@pytest.fixture(params=[pytest.param("sge", marks=pytest.mark.sge), pytest.param("slurm", marks=pytest.mark.slurm)])
def cluster(request: pytest.FixtureRequest) -> Cluster:
    cluster = CLUSTERS[request.param]
    cluster.require()
    return cluster


@pytest.fixture
def jobs(cluster: Cluster) -> Iterator[list[str]]:
    """Job ids a test submitted; whatever is left of them is removed afterwards."""
    ids: list[str] = []
    yield ids
    cluster.remove(ids)


# ----------------------------------------------------------------------------- helpers


@dataclass
class Run:
    user: OrdinaryUser
    folder: Path
    config: Path
    cluster: Cluster

    def pyexp(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.user.run(["pyexp", *args], cwd=self.folder, timeout=timeout)

    def launch(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.pyexp("launch", str(self.config), "--scheduler", self.cluster.name, *args, timeout=timeout)

    def executions(self) -> list[int]:
        path = self.folder / "executions.txt"
        return sorted(int(line.split()[0]) for line in path.read_text().splitlines()) if path.exists() else []

    def log_dir(self) -> Path:
        return self.folder / "pyexp_logs" / "exp"


def setup(user: OrdinaryUser, cluster: Cluster, url: str, rows: int, function: str, label: str,
          custom: dict[str, Any] | None = None, slurm: dict[str, Any] | None = None,
          stale_after: float = 5, results: dict[str, str] | None = None) -> tuple[Run, Experimenter]:
    """`stale_after`: a test asserting that each row ran once gives a long one. It checks the
    claim, not the lost-run sweep, which by design runs a row again when a live worker's
    heartbeat comes late."""
    folder = user.workdir(f"{cluster.name}-{label}")
    data = {
        "experiment": {"name": "exp", "function": function, "heartbeat_seconds": 1,
                       "stale_after_seconds": stale_after},
        "database": {"url": url},
        "parameters": {"x": {"start": 0, "stop": rows}, "y": ["a"]},
        "results": results or {"value": "DOUBLE", "label": "VARCHAR(64)"},
        "slurm": {"partition": "debug", "time_minutes": 10, "mem_gb": 0.5, **(slurm or {})},
        "custom": {"record": str(folder / "executions.txt"), **(custom or {})},
    }
    if cluster.name == "sge":  # a partition means nothing to Grid Engine
        data["slurm"].pop("partition")  # type: ignore[attr-defined]
    config = folder / "experiment.yml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    user.give(config)
    run = Run(user, folder, config, cluster)
    filled = run.pyexp("fill", str(config))
    assert filled.returncode == 0, filled.stderr
    return run, Experimenter(config)


def submitted_ids(output: str) -> list[str]:
    line = next((ln for ln in output.splitlines() if ln.startswith("submitted")), "")
    return re.findall(r"(\d+) \(\d+ tasks\)", line)


def dry_run_scripts(output: str, submit: str) -> list[str]:
    parts = re.split(rf"^# ---- {submit} script \d+ of \d+ \(\d+ tasks\) ----\n", output, flags=re.M)[1:]
    return [p.split("\n\ndry run: nothing was submitted")[0].rstrip("\n") + "\n" for p in parts]


def running_rows(exp: Experimenter, n: int) -> dict[int, str] | None:
    table = exp.get_table()
    running = table[table["status"] == "running"]
    return dict(zip(running["ID"], running["pyexp_worker"])) if len(running) >= n else None


# ----------------------------------------------------------------------------- the acceptance tests


def test_twenty_workers_drain_200_rows_each_done_once(cluster: Cluster, jobs: list[str], ordinary_user: OrdinaryUser,
                                                      mysql_url: str) -> None:
    """Also: the script --dry-run prints is the one submitted, and each attempt records the
    scheduler, its job and its task."""
    run, exp = setup(ordinary_user, cluster, mysql_url, 200, "experiments:recording", "drain", custom={"sleep": 0.2},
                     stale_after=60)
    dry = run.launch("--workers", "20", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    out = run.launch("--workers", "20", "--wait", timeout=400)
    jobs += submitted_ids(out.stdout)
    assert out.returncode == 0, out.stderr + out.stdout
    assert len(jobs) == 1 and "drained: done 200, error 0" in out.stdout, out.stdout
    assert f"20 as {cluster.label} array tasks" in out.stdout
    crashed = [p.name for p in run.log_dir().glob(f"{jobs[0]}_*.log") if "Traceback" in p.read_text()]
    assert not crashed, crashed  # a worker that dies leaves its rows to the sweep, which runs them again
    assert run.executions() == list(range(1, 201))  # each row ran exactly once
    table = exp.get_table()
    assert set(table["status"]) == {"done"} and len(table) == 200
    workers = set(table["pyexp_worker"])
    assert len(workers) >= 2 and {WORKER_NAME.fullmatch(w).group(1) for w in workers} == {jobs[0]}  # type: ignore[union-attr]
    attempts = exp.get_attempts()
    assert set(attempts["scheduler"]) == {cluster.name} and set(attempts["array_job_id"].astype(str)) == {jobs[0]}
    assert attempts["array_task_id"].notna().all()
    submitted = (run.log_dir() / f"{jobs[0]}_submission.sh").read_text()
    assert dry_run_scripts(dry.stdout, cluster.submit) == [submitted]
    wait_for("the workers to leave the queue", lambda: not cluster.queued(jobs), 120, every=0.5)
    assert len(list(run.log_dir().glob(f"{jobs[0]}_*.log"))) == 20
    exp.close()


def test_thirty_workers_over_arrays_of_ten_are_three_arrays(cluster: Cluster, jobs: list[str],
                                                            ordinary_user: OrdinaryUser, mysql_url: str) -> None:
    run, exp = setup(ordinary_user, cluster, mysql_url, 30, "experiments:recording", "split", custom={"sleep": 0.2},
                     stale_after=60)
    with cluster.tasks_per_array(10):
        out = run.launch("--workers", "30", "--wait", timeout=400)
        jobs += submitted_ids(out.stdout)
    assert out.returncode == 0, out.stderr + out.stdout
    assert len(jobs) == 3 and "split into 3 arrays" in out.stdout, out.stdout
    assert "drained: done 30, error 0" in out.stdout and run.executions() == list(range(1, 31))
    sizes = [re.findall(r"^#(?:SBATCH --array=0-|\$ -t 1-)(\d+)", (run.log_dir() / f"{j}_submission.sh").read_text(),
                        re.M) for j in jobs]
    assert sizes == ([["9"]] * 3 if cluster.name == "slurm" else [["10"]] * 3)
    exp.close()


def test_a_task_stopped_mid_run_hands_its_row_to_another(cluster: Cluster, jobs: list[str],
                                                          ordinary_user: OrdinaryUser, mysql_url: str) -> None:
    run, exp = setup(ordinary_user, cluster, mysql_url, 4, "experiments:recording", "kill", custom={"sleep": 8})
    out = run.launch("--workers", "4")
    jobs += submitted_ids(out.stdout)
    assert out.returncode == 0 and len(jobs) == 1, out.stderr + out.stdout
    running = wait_for("4 rows running", lambda: running_rows(exp, 4), 90, every=0.5)
    row, worker = sorted(running.items())[0]
    job, task = WORKER_NAME.fullmatch(worker).groups()  # type: ignore[union-attr]
    cluster.kill_task(job, task)
    wait_for("the table to drain", lambda: exp.counts()["created"] + exp.counts()["running"] == 0, 120, every=0.5)
    assert set(exp.get_table()["status"]) == {"done"}
    attempts = exp.get_attempts().sort_values("ID")
    history = list(zip(*(attempts[attempts["experiment_id"] == row][c] for c in ("worker", "outcome"))))
    assert history[0] == (worker, "released" if cluster.name == "sge" else "preempted"), history
    assert history[-1][1] == "done" and history[-1][0] != worker
    assert exp.get_table().set_index("ID").loc[row, "pyexp_attempts"] == 1  # the stop spent no attempt
    exp.close()


def test_the_time_limit_releases_the_running_row_without_spending_an_attempt(
        cluster: Cluster, jobs: list[str], ordinary_user: OrdinaryUser, mysql_url: str) -> None:
    run, exp = setup(ordinary_user, cluster, mysql_url, 1, "experiments:sleepy", "limit", custom={"sleep": 600},
                     slurm={"time_minutes": 1, "max_task_requeues": 0})  # the job ends: no task requeue (long runs)
    out = run.launch("--workers", "1")
    jobs += submitted_ids(out.stdout)
    assert out.returncode == 0 and len(jobs) == 1, out.stderr + out.stdout
    script = (run.log_dir() / f"{jobs[0]}_submission.sh").read_text()
    assert ("#$ -l h_rt=0:01:00" in script and "#$ -notify" in script) if cluster.name == "sge" \
        else "#SBATCH --time=1" in script

    def ended() -> Any:
        attempts = exp.get_attempts()
        return (attempts,) if len(attempts) and attempts["outcome"].iloc[0] != "running" else None

    [attempts] = wait_for("the worker to hand its row back", ended, 180, every=1)
    assert list(attempts["outcome"]) == ["time_limit"], attempts["error"].iloc[0]
    row = exp.get_table().iloc[0]
    assert row["status"] == "created" and row["pyexp_attempts"] == 0  # no attempt spent
    wait_for("the job to end", lambda: not cluster.queued(jobs), 90, every=0.5)
    log = (run.log_dir() / f"{jobs[0]}_{1 if cluster.name == 'sge' else 0}.log").read_text()
    assert ("SIGUSR1" in log) if cluster.name == "sge" else ("SIGUSR2" in log or "SIGTERM" in log)
    exp.close()


@pytest.mark.parametrize("cluster", [pytest.param("sge", marks=pytest.mark.sge)], indirect=True)
@pytest.mark.timeout(1200)
def test_a_grid_engine_task_requeues_itself_at_the_time_limit(cluster: Cluster, jobs: list[str],
                                                               ordinary_user: OrdinaryUser, mysql_url: str) -> None:
    """SLURM's side is tests/acceptance/test_long_runs_slurm.py. On Grid Engine the worker
    stops itself at its deadline (USR1, 40 s into a one-minute job), the experiment saves and
    asks to be requeued, the worker counts the requeue and exits with 99, and Grid Engine runs
    the same task again, which resumes: one `pyexp launch --wait` carries 90 s of work to the
    end. Each run gets the whole h_rt anew (with the soft limit s_rt it would not)."""
    steps = 90
    run, exp = setup(ordinary_user, cluster, mysql_url, 1, "long_run_fns:count_slowly", "requeue",
                     custom={"steps": steps, "every": 3}, slurm={"time_minutes": 1}, stale_after=30,
                     results={"total": "BIGINT", "steps": "INT"})
    out = run.launch("--workers", "1", "--wait", timeout=1000)
    jobs += submitted_ids(out.stdout)
    assert out.returncode == 0 and len(jobs) == 1, out.stderr + out.stdout
    assert "drained: done 1, error 0" in out.stdout, out.stdout
    script = (run.log_dir() / f"{jobs[0]}_submission.sh").read_text()
    assert "#$ -l h_rt=0:01:00\n" in script and "s_rt" not in script
    row = exp.get_table().iloc[0]
    assert (row["status"], row["total"], row["steps"]) == ("done", expected_total(steps, 0), steps)
    assert row["pyexp_attempts"] == 1  # the stops spent no attempt
    attempts = exp.get_attempts().sort_values("ID")
    outcomes = list(attempts["outcome"])
    assert len(outcomes) >= 3 and outcomes[-1] == "done" and set(outcomes[:-1]) == {"requeued"}, outcomes
    assert set(attempts["array_job_id"].astype(str)) == {jobs[0]} and set(attempts["array_task_id"]) == {1}
    assert len(set(attempts["worker"])) == len(outcomes)  # each attempt a new run of the task
    requeues = len(outcomes) - 1
    assert (run.log_dir() / f"{jobs[0]}_1.requeues").read_text() == f"{requeues}\n"
    log = (run.log_dir() / f"{jobs[0]}_1.log").read_text()
    assert log.count("SIGUSR1") >= requeues and log.count("exit code 99, requeue") == requeues, log
    exp.close()


def test_cancel_stops_the_tasks_and_releases_their_rows(cluster: Cluster, jobs: list[str],
                                                       ordinary_user: OrdinaryUser, mysql_url: str) -> None:
    run, exp = setup(ordinary_user, cluster, mysql_url, 8, "experiments:sleepy", "cancel", custom={"sleep": 300},
                     slurm={"array_parallelism": 3})
    out = run.launch("--workers", "4")  # 3 run at once, 1 waits pending
    jobs += submitted_ids(out.stdout)
    assert out.returncode == 0 and len(jobs) == 1, out.stderr + out.stdout
    wait_for("3 rows running", lambda: exp.counts()["running"] >= 3, 90, every=0.3)
    cancelled = run.pyexp("cancel", str(run.config), "--grace", "20")
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert f"cancelled 1 {cluster.label} job(s) ({jobs[0]})" in cancelled.stdout
    assert cluster.queued(jobs) == []
    counts = exp.counts()
    assert counts["running"] == 0 and counts["created"] == 8 and counts["error"] == 0, counts
    assert (exp.get_table()["pyexp_attempts"] == 0).all()  # released, not spent
    attempts = exp.get_attempts()
    assert len(attempts) >= 3 and set(attempts["outcome"]) == {"released"}
    assert set(attempts["error"]) == {"cancelled by pyexp cancel (SIGUSR2)"}
    again = run.pyexp("cancel", str(run.config))
    assert again.returncode == 0 and "nothing to cancel" in again.stdout
    status = json.loads(run.pyexp("status", str(run.config), "--json").stdout)
    assert status["counts"]["created"] == 8
    exp.close()


@pytest.mark.sge
def test_the_plan_warns_when_the_stop_grace_exceeds_the_queues_notify_time(tmp_path: Path) -> None:
    """Grid Engine kills the queue's notify time after USR2, so a longer grace (60 s by
    default) is a promise the cell breaks; a grace within it draws no note."""
    from dataclasses import replace

    from support.configs import config_maker

    from pyexperimenter.config import load_config
    from pyexperimenter.launch.sge import GridEngine

    require_sge()
    base = load_config(config_maker(tmp_path, "sqlite:///t.db")(sge={"queue": "all.q"}))
    assert base.stop_grace_seconds == 60
    [note] = GridEngine().notes(base, base.slurm)
    assert "stop_grace_seconds 60 exceeds queue all.q's notify time of 5 s" in note
    assert GridEngine().notes(replace(base, stop_grace_seconds=4), base.slurm) == []
