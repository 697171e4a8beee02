"""experiment.priority on SQLite and a real MariaDB: the expression is applied at fill time,
`fill --priority N` overrides it, and workers claim higher priorities first."""

from __future__ import annotations

from pathlib import Path

import experiments
import pandas as pd
from click.testing import CliRunner
from conftest import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.cli import main


def test_expression_priority_is_claimed_first(make_config: ConfigMaker, tmp_path: Path) -> None:
    record = tmp_path / "executions.txt"
    path = make_config(experiment={"priority": "10 if y == 'high' else -x"},
                       parameters={"x": {"start": 0, "stop": 40}, "y": ["low", "high"]},
                       # 0.06 s: one row per claim (shorter experiments are claimed 16 at a time, and
                       # then concurrent batches stamp their start times in any order)
                       custom={"record": str(record), "sleep": 0.06})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 80
    table = exp.get_table().set_index("ID")
    assert (table[table["y"] == "high"]["pyexp_priority"] == 10).all()
    low = table[table["y"] == "low"]
    assert list(low["pyexp_priority"]) == [-x for x in low["x"]]
    assert exp.execute(experiments.recording, n_jobs=8) == [0] * 8
    table = exp.get_table()
    assert (table["status"] == "done").all() and len(table) == 80
    starts = pd.to_datetime(table["start_date"])
    high_starts = starts[table["y"] == "high"]
    # when a low row was claimed, every high row was taken (or being taken by the other 7)
    assert max(int((high_starts > t).sum()) for t in starts[table["y"] == "low"]) <= 7
    # one claim stamps its whole batch with one start time: ties go in claim order (priority)
    low = table[table["y"] == "low"].sort_values(["start_date", "pyexp_priority"], ascending=[True, False])
    first_low = list(low["x"])[:8]
    assert set(first_low) <= set(range(16))  # lower x, higher priority: claimed among the first


def test_fill_priority_overrides_the_expression(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"priority": "-x"}, parameters={"x": [1, 2, 3], "y": ["a"]})
    result = CliRunner().invoke(main, ["fill", str(path), "--priority", "7"])
    assert result.exit_code == 0, result.output
    exp = Experimenter(path)
    assert set(exp.get_table()["pyexp_priority"]) == {7}


def test_expression_failing_for_a_row_is_one_clear_line(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"priority": "x - 1"}, parameters={"x": [1, None], "y": ["a"]})
    result = CliRunner().invoke(main, ["fill", str(path)])
    assert result.exit_code == 2
    assert "experiment.priority: 'x - 1' fails for {" in result.output
