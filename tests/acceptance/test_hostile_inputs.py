"""Inputs people really mistype (issue 23, cases 6 and 8): absurd sizes are refused before
anything is written, and every error is one line with the documented exit code (2: bad
input) naming the file, key or value, never a traceback's last line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.cli import main


def one_line_error(args: list[str], code: int = 2, within: float = 20.0) -> str:
    """Run `pyexp ARGS`: exit `code`, one line on stderr, no traceback, quickly; the line."""
    started = time.monotonic()
    result = CliRunner().invoke(main, args)
    took = time.monotonic() - started
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code == code, (result.exit_code, result.output)
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert len(lines[0]) < 500, lines[0][:1000]
    assert took < within, took
    return lines[0]


def _tables(db_url: str) -> list[str]:
    """The tables in the test's database (none may be made by a refused command)."""
    if db_url.startswith("sqlite:///"):
        import sqlite3

        file = Path(db_url[len("sqlite:///"):])
        if not file.exists():
            return []
        with sqlite3.connect(file) as conn:
            return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    from support.services import mysql_connect

    conn = mysql_connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (db_url.rsplit("/", 1)[1],))
        return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


@pytest.mark.parametrize("parameters,words", [
    ({"a": {"start": 0, "stop": 10**6}, "b": {"start": 0, "stop": 10**6}}, "the grid has 1,000,000,000,000 rows"),
    ({"a": {"start": 0, "stop": 10**12}}, "range has 1,000,000,000,000 values"),
    ({"a": {"distribution": "uniform", "low": 0, "high": 1, "samples": 10**9}}, "at most 10,000,000 samples"),
])
def test_absurd_grids_are_refused_before_anything_is_written(make_config: ConfigMaker, db_url: str,
                                                             parameters: dict[str, Any], words: str) -> None:
    path = make_config(parameters=parameters)
    line = one_line_error(["fill", str(path)])
    assert words in line and "max_grid_rows" in line and str(path) in line
    assert _tables(db_url) == []


def test_max_grid_rows_raises_the_limit(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"a": {"start": 0, "stop": 30}}, experiment={"max_grid_rows": 20})
    assert "more than experiment.max_grid_rows (20)" in one_line_error(["fill", str(path)])
    path = make_config(parameters={"a": {"start": 0, "stop": 30}}, experiment={"max_grid_rows": 30})
    assert CliRunner().invoke(main, ["fill", str(path)]).exit_code == 0


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    lines = ["experiment: {name: bomb}", "parameters:", "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = tmp_path / "bomb.yml"
    path.write_text("\n".join(lines) + "\n")
    line = one_line_error(["fill", str(path)], within=5.0)
    assert str(path) in line and "aliases expand to more than" in line


def test_too_many_local_workers_are_refused_before_any_starts(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"function": "experiments:noop"})
    assert CliRunner().invoke(main, ["fill", str(path)]).exit_code == 0
    line = one_line_error(["run", str(path), "--jobs", "100000"])
    assert "100,000 local workers" in line
    assert Experimenter(path).counts()["created"] == 20  # nothing ran


def test_a_priority_expression_cannot_build_huge_values(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": ["a"], "n": [1]}, experiment={"priority": "'%999999999d' % n"})
    line = one_line_error(["fill", str(path)], within=10.0)
    assert "experiment.priority" in line and "% takes numbers" in line
    path = make_config(parameters={"x": ["a" * 5000], "n": [1]}, experiment={"priority": "x + x + x + x"})
    line = one_line_error(["fill", str(path)], within=10.0)
    assert "grows past" in line and len(line) < 400


def test_a_config_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("experiment: {name: caf\u00e9}\nparameters: {x: [1]}\n".encode("latin-1"))
    line = one_line_error(["fill", str(path)])
    assert str(path) in line and "not UTF-8" in line and "line 1" in line


def test_a_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.yml"
    path.write_text("experiment: {name: twice}\nparameters:\n  x: [1, 2]\n  x: [3]\n")
    line = one_line_error(["fill", str(path)])
    assert str(path) in line and "'x' given twice" in line and "line 4" in line


def test_bad_flags_and_paths_are_one_line(make_config: ConfigMaker, tmp_path: Path) -> None:
    path = str(make_config())
    assert CliRunner().invoke(main, ["fill", path]).exit_code == 0
    assert "ID" in one_line_error(["logs", path, "1" * 20])
    assert "/no/such/dir" in one_line_error(["report", path, "-o", "/no/such/dir/r.html"])
    assert "/no/such/dir/r.csv" in one_line_error(["results", path, "-o", "/no/such/dir/r.csv"])
    assert "--db" in one_line_error(["status", path, "--db", "mysql://[::1"])
    assert "slurm.partition" in one_line_error(["launch", path, "--workers", "2", "--dry-run", "--partition",
                                                "debug\n#SBATCH --wrap=evil"])


def test_where_on_a_text_column_works_on_every_database(make_config: ConfigMaker) -> None:
    """MariaDB indexes no TEXT column whole (error 1170/1071): `run --where` on one must
    still make its index (by a prefix) and run the matching rows."""
    path = make_config(parameters={"t": {"values": ["a" * 300, "b"], "type": "TEXT"},
                                   "v": {"values": ["x"], "type": "VARCHAR(2000)"}, "j": [[1], [2]]},
                       experiment={"function": "experiments:noop"})
    assert CliRunner().invoke(main, ["fill", path.as_posix()]).exit_code == 0
    for where, done in (("t=b", 2), ("j=[1]", 3), ("v=x", 4)):  # each runs what it matches of what is open
        result = CliRunner().invoke(main, ["run", str(path), "--where", where])
        assert result.exit_code == 0, (where, result.output)
        assert Experimenter(path).counts()["done"] == done, where


def test_a_config_file_of_a_missing_folder_or_a_folder(tmp_path: Path) -> None:
    assert "is a directory" in one_line_error(["fill", str(tmp_path)])
    data = {"experiment": {"name": "x"}, "parameters": {"x": [1]}}
    (tmp_path / "ok.yml").write_text(yaml.safe_dump(data))
    assert "file not found" in one_line_error(["fill", str(tmp_path / "nope" / "ok.yml")])
