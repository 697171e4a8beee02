"""The `pyexp` command line, driven as users drive it: click's CliRunner for most checks,
real subprocesses of the installed entry point for a new user's first session, progress
bars on a pseudo-terminal, shell completion and Ctrl-C.

Bad input must give exit code 2, exactly one line on stderr, no traceback, and leave the
database exactly as it was (DESIGN section 4)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from click.testing import CliRunner, Result
from support.configs import ConfigMaker
from support.services import mysql_connect, postgres_connect

from pyexperimenter import Experimenter, __version__
from pyexperimenter.cli import main

PYEXP = Path(sys.executable).with_name("pyexp")

FUNCTIONS = '''
def ok(parameters, result_processor, custom):
    return {"value": parameters["x"] * 2.0, "label": f"{parameters['x']}{parameters['y']}"}


def flaky(parameters, result_processor, custom):
    if parameters["x"] == 3:
        raise ValueError("three is bad")
    return ok(parameters, result_processor, custom)
'''


def cli(*args: str, **kwargs: Any) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="pyexp", **kwargs)


def pyexp(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real entry point, with output going to pipes (not a terminal)."""
    if not PYEXP.exists():
        pytest.skip(f"{PYEXP} is not installed (pip install -e .)")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYEXP_")}
    full_env.update(env or {})
    return subprocess.run([str(PYEXP), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def one_line_error(result: Result | subprocess.CompletedProcess[str], code: int = 2) -> str:
    exit_code = result.exit_code if isinstance(result, Result) else result.returncode
    assert exit_code == code, (exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert lines[0].startswith("pyexp")
    return lines[0]


def snapshot(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the database with all its rows: compared before and after bad input."""
    if db_url.startswith("sqlite:///"):
        path = Path(db_url[len("sqlite:///"):])
        if not path.exists():
            return {}
        with sqlite3.connect(path) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            return {n: conn.execute(f'SELECT * FROM "{n}" ORDER BY 1').fetchall() for n in names}
    database = urlsplit(db_url).path.lstrip("/")
    postgres = db_url.startswith(("postgresql://", "postgres://"))
    conn = postgres_connect(database) if postgres else mysql_connect(database)
    try:
        cur = conn.cursor()
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'" if postgres else "SHOW TABLES")
        names = sorted(r[0] for r in cur.fetchall())
        out = {}
        for n in names:
            cur.execute(f'SELECT * FROM "{n}" ORDER BY 1' if postgres else f"SELECT * FROM `{n}` ORDER BY 1")
            out[n] = list(cur.fetchall())
        return out
    finally:
        conn.close()


@pytest.fixture
def filled(make_config: ConfigMaker, tmp_path: Path) -> Path:
    (tmp_path / "fns.py").write_text(FUNCTIONS)
    path = make_config(experiment={"function": "fns:flaky", "max_attempts": 1})
    assert cli("fill", str(path)).exit_code == 0
    return path


# ----------------------------------------------------------------------------- a new user's session


def test_a_new_users_first_session(tmp_path: Path) -> None:
    """README's five minutes, as real processes: init, fill, run, status, results."""
    init = pyexp("init", "demo", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "wrote demo/experiment.yml" in init.stdout and "wrote demo/estimate.py" in init.stdout
    assert "pyexp fill experiment.yml" in init.stdout
    demo = tmp_path / "demo"
    assert "#" in (demo / "experiment.yml").read_text()  # the config teaches its format

    fill = pyexp("fill", "experiment.yml", cwd=demo)
    assert fill.returncode == 0, fill.stderr
    assert fill.stdout.startswith("estimate_pi: added 30 of 30 grid rows (0 already present)")
    assert fill.stderr == ""  # no progress bar when not on a terminal

    run = pyexp("run", "experiment.yml", "-j", "2", cwd=demo)
    assert run.returncode == 0, run.stderr
    assert "30 experiment(s) finished" in run.stdout and "(30 done, 0 failed)" in run.stdout
    assert run.stderr == ""

    status = pyexp("status", "experiment.yml", cwd=demo)
    assert status.returncode == 0, status.stderr
    assert "estimate_pi" in status.stdout and "30/30 finished (100.0%)" in status.stdout
    assert "throughput" in status.stdout and "nothing open" in status.stdout

    results = pyexp("results", "experiment.yml", "--group-by", "method", "--group-by", "samples", "--agg", "mean", cwd=demo)
    assert results.returncode == 0, results.stderr
    lines = results.stdout.splitlines()
    assert lines[0].split() == ["method", "samples", "n", "estimate", "abs_error", "seconds"]
    assert len(lines) == 7
    for line in lines[1:]:
        method, samples, n, estimate = line.split()[:4]
        assert method in ("uniform", "stratified") and n == "5"
        assert abs(float(estimate) - 3.14159) < 0.2

    again = pyexp("fill", "experiment.yml", cwd=demo)
    assert "added 0 of 30 grid rows (30 already present)" in again.stdout
    assert pyexp("init", "demo", cwd=tmp_path).returncode == 2  # never overwrites silently
    assert pyexp("init", "demo", "--force", cwd=tmp_path).returncode == 0


def test_fill_run_status_results_on_each_database(filled: Path) -> None:
    again = cli("fill", str(filled))
    assert again.exit_code == 0 and "added 0 of 20 grid rows (20 already present)" in again.stdout

    run = cli("run", str(filled), "--jobs", "2")
    assert run.exit_code == 0, run.output
    assert "20 experiment(s) finished" in run.stdout and "(18 done, 2 failed)" in run.stdout
    assert "done 18, error 2, created 0, running 0" in run.stdout
    assert f"pyexp status {filled}" in run.stderr  # where to look at the errors

    status = json.loads(cli("status", str(filled), "--json").stdout)
    assert status["counts"] == {"created": 0, "running": 0, "done": 18, "error": 2, "paused": 0}
    assert status["errors"][0]["message"] == "ValueError: three is bad" and status["errors"][0]["count"] == 2

    results = cli("results", str(filled), "--group-by", "y", "--agg", "mean", "--format", "json")
    rows = {r["y"]: r for r in json.loads(results.stdout)}
    # value = 2x over x in 0..9 without 3: (90 - 6) / 9 for each y
    assert rows["a"]["value"] == pytest.approx(84 / 9) and rows["a"]["n"] == 9


def test_run_with_max_experiments_and_function_override(filled: Path) -> None:
    run = cli("run", str(filled), "--max-experiments", "3", "--function", "fns:ok")
    assert run.exit_code == 0, run.output
    assert "3 experiment(s) finished" in run.stdout and "created 17" in run.stdout


def test_version_help_and_usage_errors() -> None:
    assert cli("--version").stdout.strip() == f"pyexp {__version__}"
    assert cli("-V").stdout.strip() == f"pyexp {__version__}"
    helptext = cli("--help").stdout
    for command in ("init", "fill", "run", "launch", "status", "reset", "recover", "results", "delete", "completion"):
        assert f"  {command} " in helptext
    assert "Missing argument 'CONFIG'" in one_line_error(cli("fill"))
    assert "No such option" in one_line_error(cli("status", "x.yml", "--colour"))
    assert "No such command" in one_line_error(cli("fly"))
    assert "is not one of" in one_line_error(cli("reset", "x.yml", "--status", "broken"))


# ----------------------------------------------------------------------------- bad input

BAD_CONFIGS = {
    "yaml syntax": ("experiment: {name: a\nparameters: [x\n", "invalid YAML: line"),
    "unknown key": ({"experiment": {"name": "a", "colour": "red"}, "parameters": {"x": [1]}}, "experiment.colour: unknown key"),
    "bad domain": ({"experiment": {"name": "a"}, "parameters": {"x": {"start": 0, "stop": "ten"}}}, "parameters.x.stop: expected"),
    "unsafe table name": ({"experiment": {"name": "exp; DROP TABLE exp"}, "parameters": {"x": [1]}}, "experiment.name: table name must match"),
    "unsafe column": ({"experiment": {"name": "a"}, "parameters": {"x`) --": [1]}}, "column name must match"),
    "bad SQL type": ({"experiment": {"name": "a"}, "parameters": {"x": [1]}, "results": {"y": "DOUBLE; DROP TABLE exp"}},
                     "results.y: expected a column type"),
    "reserved column": ({"experiment": {"name": "a"}, "parameters": {"status": [1]}}, "a column pyexperimenter keeps itself"),
    "empty grid": ({"experiment": {"name": "a"}, "parameters": {"x": []}}, "parameters.x: expected a non-empty list"),
    "empty range": ({"experiment": {"name": "a"}, "parameters": {"x": {"start": 5, "stop": 5}}}, "range is empty"),
    "stale before heartbeat": ({"experiment": {"name": "a", "heartbeat_seconds": 10, "stale_after_seconds": 5},
                                "parameters": {"x": [1]}}, "stale_after_seconds: must be larger than heartbeat_seconds"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_one_line_exit_2_and_changes_nothing(filled: Path, db_url: str, tmp_path: Path, case: str) -> None:
    content, expected = BAD_CONFIGS[case]
    bad = tmp_path / "bad.yml"
    if isinstance(content, dict):
        content = {**content, "database": {"url": db_url}}
        bad.write_text(yaml.safe_dump(content))
    else:
        bad.write_text(content)
    before = snapshot(db_url)
    for command in (["fill"], ["run"], ["status"], ["results"], ["reset", "--status", "all", "--yes"], ["delete", "--yes"]):
        line = one_line_error(cli(command[0], str(bad), *command[1:]))
        assert "bad.yml" in line and expected in line, line
    assert snapshot(db_url) == before


def test_unimportable_function_is_one_line_exit_2_and_runs_nothing(filled: Path, db_url: str) -> None:
    before = snapshot(db_url)
    line = one_line_error(cli("run", str(filled), "--function", "no_such_module:run"))
    assert "cannot import module 'no_such_module'" in line
    line = one_line_error(cli("run", str(filled), "--function", "fns:missing"))
    assert "has no attribute 'missing'" in line
    line = one_line_error(cli("run", str(filled), "--function", "no_colon"))
    assert "expected 'module:function'" in line
    # The value came from the flag: the error names the flag, not the config key.
    for args in (("run", "--function", "no_such_module:run"), ("launch", "--workers", "2", "--dry-run", "--function",
                                                              "fns:missing")):
        line = one_line_error(cli(args[0], str(filled), *args[1:]))
        assert "--function: " in line and "experiment.function" not in line, line
    assert snapshot(db_url) == before


def test_missing_table_and_missing_config(make_config: ConfigMaker) -> None:
    path = make_config()
    for command in ("status", "results", "recover", "reset"):
        line = one_line_error(cli(command, str(path), "--status", "all") if command == "reset" else cli(command, str(path)))
        assert "does not exist" in line, line
        assert "`pyexp fill" in line and "first" in line, line
    assert "experiment.function: no experiment function given" in one_line_error(cli("run", str(path)))
    assert "nowhere.yml: file not found" in one_line_error(cli("status", "nowhere.yml"))


@pytest.mark.mysql
def test_wrong_mariadb_password_is_one_line_exit_2(make_config: ConfigMaker, mysql_url: str, tmp_path: Path) -> None:
    parts = urlsplit(mysql_url)
    good = make_config(file="good.yml")  # db_url may be sqlite; use the MariaDB database directly
    assert cli("fill", str(good), "--db", mysql_url).exit_code == 0
    before = snapshot(mysql_url)
    wrong = f"mysql://root:wrong@{parts.hostname}:{parts.port or 3306}{parts.path}"
    for command in (["fill"], ["status"], ["reset", "--status", "all", "--yes"], ["delete", "--yes"]):
        line = one_line_error(cli(command[0], str(good), "--db", wrong, *command[1:]))
        assert "access denied" in line.lower() and "wrong" not in line  # never print the password
    line = one_line_error(cli("status", str(good), env={"PYEXP_DB_URL": wrong}))
    assert "access denied" in line.lower()
    assert snapshot(mysql_url) == before


def test_unreachable_server_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump({"experiment": {"name": "exp"}, "parameters": {"x": [1, 2]}}))
    unreachable = "mysql://root@127.0.0.1:1/nothing"  # nothing listens on port 1
    line = one_line_error(pyexp("fill", str(path), cwd=tmp_path, env={"PYEXP_DB_URL": unreachable}))
    assert "cannot reach MySQL/MariaDB at 127.0.0.1:1" in line
    assert "expected sqlite:///FILE, mysql://" in one_line_error(cli("fill", str(path), "--db", "postgres-db"))


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("experiment: [")
    quiet = pyexp("fill", str(bad), cwd=tmp_path)
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    loud = pyexp("--debug", "fill", str(bad), cwd=tmp_path)
    assert loud.returncode == 2
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1].startswith("pyexp: error: ")
    assert "Traceback" in pyexp("fill", str(bad), cwd=tmp_path, env={"PYEXP_DEBUG": "1"}).stderr


# ----------------------------------------------------------------------------- --db and PYEXP_DB_URL


def test_db_option_and_environment_override_the_config(make_config: ConfigMaker, tmp_path: Path) -> None:
    path = make_config()
    other = tmp_path / "elsewhere" / "other.db"
    other.parent.mkdir()
    fill = cli("fill", str(path), "--db", f"sqlite:///{other}")
    assert fill.exit_code == 0 and str(other) in fill.stdout
    assert Experimenter(path, db=f"sqlite:///{other}").counts()["created"] == 20
    env = {"PYEXP_DB_URL": f"sqlite:///{other}"}
    status = json.loads(cli("status", str(path), "--json", env=env).stdout)
    assert status["total"] == 20 and str(other) in status["database"]
    for command in ("fill", "run", "launch", "status", "reset", "recover", "results", "delete"):
        assert "--db URL" in cli(command, "--help").stdout, command
        assert "PYEXP_DB_URL" in cli(command, "--help").stdout, command


# ----------------------------------------------------------------------------- reset, recover, delete


def test_reset_prints_what_it_reset_and_asks_above_10_rows(filled: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("run", str(filled)).exit_code == 0
    reset = cli("reset", str(filled), "--status", "error")
    assert reset.exit_code == 0, reset.output
    assert "reset 2 row(s) to created" in reset.stdout
    line = next(ln for ln in reset.stdout.splitlines() if ln.strip().startswith("error"))
    assert line.split()[1] == "2"
    ids = sorted(Experimenter(filled).results(where=["x=3"])["ID"])
    assert f"ids {ids[0]}-{ids[1]}" in line if ids[1] == ids[0] + 1 else f"ids {ids[0]}, {ids[1]}" in line

    assert "no rows match" in cli("reset", str(filled), "--status", "error").stdout

    # more than 10 rows: refuses without a terminal, asks on one
    before = snapshot(db_url)
    line = one_line_error(cli("reset", str(filled), "--status", "done"))
    assert "would reset 18 rows" in line and "--yes" in line
    monkeypatch.setattr("pyexperimenter.cli.options.stdin_interactive", lambda: True)
    no = cli("reset", str(filled), "--status", "done", input="n\n")
    assert no.exit_code == 1 and "Reset 18 rows of exp (done 18) to created?" in no.stdout
    assert snapshot(db_url) == before
    yes = cli("reset", str(filled), "--status", "done", input="y\n")
    assert yes.exit_code == 0 and "reset 18 row(s) to created" in yes.stdout
    assert Experimenter(filled).counts()["created"] == 20

    by_id = cli("reset", str(filled), "--id", "1", "--id", "2")
    assert by_id.exit_code == 0 and "reset 2 row(s)" in by_id.stdout and "ids 1-2" in by_id.stdout
    assert "nothing to reset" in one_line_error(cli("reset", str(filled)))
    assert cli("reset", str(filled), "--status", "all", "--yes").exit_code == 0


def test_recover_and_delete(filled: Path, db_url: str) -> None:
    recover = cli("recover", str(filled))
    assert recover.exit_code == 0 and "recovered 0 lost run(s)" in recover.stdout

    before = snapshot(db_url)
    assert "--yes" in one_line_error(cli("delete", str(filled)))
    assert snapshot(db_url) == before
    delete = cli("delete", str(filled), "--yes")
    assert delete.exit_code == 0 and "dropped exp" in delete.stdout
    assert not [t for t in snapshot(db_url) if t.startswith("exp")]
    assert "does not exist" in one_line_error(cli("status", str(filled)))


# ----------------------------------------------------------------------------- completion


def test_shell_completion(tmp_path: Path, filled: Path) -> None:
    bash = cli("completion", "bash")
    assert bash.exit_code == 0 and "_pyexp_completion" in bash.stdout and "complete " in bash.stdout
    assert "#compdef pyexp" in cli("completion", "zsh").stdout
    assert "complete --no-files --command pyexp" in cli("completion", "fish").stdout
    assert "#compdef pyexp" in cli("completion", env={"SHELL": "/usr/bin/zsh"}).stdout
    assert "cannot tell the shell" in one_line_error(cli("completion", env={"SHELL": "/bin/tcsh"}))

    # click's own variable gives the same script, and completes commands and columns
    source = pyexp(cwd=tmp_path, env={"_PYEXP_COMPLETE": "bash_source"})
    assert source.stdout.strip() == bash.stdout.strip()
    env = {"_PYEXP_COMPLETE": "bash_complete", "COMP_WORDS": "pyexp re", "COMP_CWORD": "1"}
    assert pyexp(cwd=tmp_path, env=env).stdout.split() == ["plain,recover", "plain,report", "plain,reset", "plain,results"]
    env = {"_PYEXP_COMPLETE": "bash_complete", "COMP_WORDS": f"pyexp results {filled} --group-by ", "COMP_CWORD": "4"}
    assert {"plain,x", "plain,y", "plain,value"} <= set(pyexp(cwd=tmp_path, env=env).stdout.split())


# ----------------------------------------------------------------------------- progress bars


def on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run `pyexp` with stdout and stderr on a pseudo-terminal; returns (exit code, output)."""
    pty = pytest.importorskip("pty")
    import select

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYEXP_")}
    env.update({"COLUMNS": "120", "TERM": "xterm"})
    proc = subprocess.Popen([str(PYEXP), *args], cwd=cwd, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_progress_bars_on_a_terminal_and_quiet_in_pipes(tmp_path: Path) -> None:
    if not PYEXP.exists():
        pytest.skip("pyexp is not installed")
    (tmp_path / "slow.py").write_text(
        "import time\n\ndef run(parameters, result_processor, custom):\n    time.sleep(0.03)\n    return {'v': 1.0}\n"
    )
    config = tmp_path / "experiment.yml"
    config.write_text(yaml.safe_dump({
        "experiment": {"name": "slow", "function": "slow:run"},
        "parameters": {"x": {"start": 0, "stop": 40}},
        "results": {"v": "DOUBLE"},
    }))
    code, out = on_a_terminal(["fill", "experiment.yml"], tmp_path)
    assert code == 0 and "added 40 of 40" in out
    for jobs in ("1", "2"):
        assert pyexp("reset", "experiment.yml", "--status", "all", "--yes", cwd=tmp_path).returncode == 0
        code, out = on_a_terminal(["run", "experiment.yml", "-j", jobs], tmp_path)
        assert code == 0, out
        assert "running" in out and "/40" in out and "━" in out  # the bar was drawn ...
        assert any(f"{n}/40" in out for n in range(1, 41)), out  # ... and it moved
        assert "40 experiment(s) finished" in out
    assert pyexp("reset", "experiment.yml", "--status", "all", "--yes", cwd=tmp_path).returncode == 0
    piped = pyexp("run", "experiment.yml", "-j", "2", cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == "" and "━" not in piped.stdout
    assert piped.stdout.count("\n") == 1
