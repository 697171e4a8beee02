"""A table made and half run by PyExperimenter 1.4.2 itself (from the package index, in a
side virtualenv) is adopted in place: ids and results kept, our workers and `pyexp status`
run on it, and 1.4.2 still reads it afterwards. On SQLite and MariaDB."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from compat_support import pe142_python, pe_config_fixture  # noqa: F401 - the pe_config fixture

CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 1
  Database:
    provider: {provider}
    database: {database}
    table:
      name: adopted
      keyfields:
        seed:
          type: INT
          values: [1, 2, 3, 4]
        model:
          type: VARCHAR(50)
          values: [a, b]
      resultfields:
        score: DOUBLE
    logtables:
      steps:
        step: INT
"""

PE142_SCRIPT = """
import json, sys
from py_experimenter.experimenter import PyExperimenter

def run(parameters, result_processor, custom_config):
    result_processor.process_logs({"steps": {"step": parameters["seed"]}})
    result_processor.process_results({"score": parameters["seed"] * 10.0})

exp = PyExperimenter(sys.argv[1], use_codecarbon=False)
if sys.argv[2] == "make":
    exp.fill_table_from_config()
    exp.execute(run, max_experiments=3)
table = exp.get_table()
logs = exp.get_logtable("steps")
print(json.dumps({"rows": table[["ID", "status", "score"]].to_dict("records"), "logs": len(logs),
                  "columns": list(table.columns)}, default=str))
"""


def run_pe142(folder: Path, config: Path, what: str) -> dict:
    script = folder / "pe142.py"
    script.write_text(textwrap.dedent(PE142_SCRIPT))
    out = subprocess.run([str(pe142_python()), str(script), str(config), what], cwd=folder,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def ours(parameters: dict, result_processor, custom_config: dict) -> None:
    result_processor.process_logs({"steps": {"step": parameters["seed"]}})
    result_processor.process_results({"score": parameters["seed"] * 100.0})


@pytest.mark.slow
def test_a_table_made_by_pyexperimenter_142_is_adopted_in_place(pe_config, tmp_path: Path) -> None:
    from pyexperimenter.experimenter import PyExperimenter

    config, creds = pe_config(CONFIG)
    before = run_pe142(tmp_path, config, "make")
    assert [r["status"] for r in before["rows"]].count("done") == 3
    done_before = {r["ID"]: r["score"] for r in before["rows"] if r["status"] == "done"}

    exp = PyExperimenter(str(config), str(creds) if creds else "x", use_codecarbon=False)
    assert exp.fill_table_from_config() == 0  # adopted: the grid's rows are there already
    status = subprocess.run([str(Path(sys.executable).parent / "pyexp"), "status", str(config), "--json"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["total"] == 8 and report["counts"]["done"] == 3 and report["counts"]["created"] == 5

    exp.execute(ours, n_jobs=2)
    table = exp.get_table().set_index("ID")
    assert sorted(table.index) == sorted(r["ID"] for r in before["rows"])  # ids kept
    assert set(table["status"]) == {"done"}
    for row_id, score in done_before.items():
        assert table.loc[row_id, "score"] == score  # 1.4.2's results untouched
    assert len(exp.get_logtable("steps")) == 8

    after = run_pe142(tmp_path, config, "read")  # 1.4.2 reads the adopted table
    assert len(after["rows"]) == 8 and {r["status"] for r in after["rows"]} == {"done"}
    assert after["columns"][:9] == before["columns"][:9] and after["logs"] == 8
