"""What each attempt used (worker/usage.py): a 300 MB allocation is the child's own peak with
isolation, at least the process peak without, an out-of-memory attempt shows its peak beside
the limit in `pyexp status`, and a batch of fast rows closes every attempt with its measures."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.cli import main
from pyexperimenter.worker import Worker

MB = 1024 * 1024


def _rss_mb() -> float:
    found = re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())
    assert found is not None
    return int(found.group(1)) / 1024


def allocates_300_mb(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
    baseline = _rss_mb()
    block = bytearray(300 * MB)
    for i in range(0, len(block), 4096):  # touched: resident, not only reserved
        block[i] = 1
    return {"baseline": baseline}


def allocates_until_refused(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> None:
    kept = []
    while True:
        chunk = bytearray(20 * MB)
        for i in range(0, len(chunk), 4096):
            chunk[i] = 1
        kept.append(chunk)


def _attempts(exp: Experimenter) -> list[dict[str, Any]]:
    return list(exp.store.rows(exp.store.schema.attempts_table))  # type: ignore[attr-defined]


def test_with_isolation_the_peak_is_the_childs_own(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"isolation": "process"}, parameters={"x": [1, 2]}, results={"baseline": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    assert Worker(exp.config, allocates_300_mb).run().done == 2
    baselines = {int(r["ID"]): float(r["baseline"]) for _, r in exp.get_table().iterrows()}
    attempts = _attempts(exp)
    assert len(attempts) == 2
    for a in attempts:
        above = float(a["peak_rss_mb"]) - baselines[int(a["experiment_id"])]
        assert abs(above - 300) <= 30, (a["peak_rss_mb"], baselines)
        assert float(a["wall_seconds"]) > 0 and float(a["cpu_seconds"]) > 0
        assert a["gpu_peak_mb"] is None and a["snapshot"] is None  # no GPU here; launched without a snapshot
    exp.close()


def test_without_isolation_the_peak_is_the_process_peak(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": [1]}, results={"baseline": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    assert Worker(exp.config, allocates_300_mb).run().done == 1
    (a,) = _attempts(exp)
    assert float(a["peak_rss_mb"]) >= 300
    exp.close()


def test_an_out_of_memory_attempt_shows_its_peak_and_the_limit(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"isolation": "process", "memory_limit_mb": 1024, "max_attempts": 1},
                       parameters={"x": [1]}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    Worker(exp.config, allocates_until_refused).run()
    (a,) = _attempts(exp)
    assert a["outcome"] == "oom" and float(a["peak_rss_mb"]) >= 100, a
    out = CliRunner().invoke(main, ["status", str(path)], env={"COLUMNS": "160"}).stdout
    peak = f"{round(float(a['peak_rss_mb']), 1):g}"
    assert re.search(rf"oom max {re.escape(peak)} MB of memory_limit_mb=1024", out), out
    shown = json.loads(CliRunner().invoke(main, ["status", str(path), "--json"]).stdout)
    assert shown["peak_rss_mb"] == {"oom": round(float(a["peak_rss_mb"]), 1)} and shown["memory_limit_mb"] == 1024
    exp.close()


def test_a_batch_of_fast_rows_closes_each_attempt_with_its_measures(make_config: ConfigMaker) -> None:
    """Without isolation an attempt of under 1 ms is not measured (worker/usage.py): its wall
    and CPU seconds and its peak are NULL; a longer one in the same batch has its own, from a
    reading at most 1 ms older than its start."""
    path = make_config(parameters={"x": {"start": 0, "stop": 300}}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()

    def fast(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
        if parameters["x"] % 50 == 7:  # 5 ms of CPU
            until = time.process_time() + 0.005
            while time.process_time() < until:
                pass
        return {"value": parameters["x"]}

    assert Worker(exp.config, fast).run().done == 300
    attempts = _attempts(exp)
    assert len(attempts) == 300
    assert len({a["claim_token"] for a in attempts}) < 300  # batches: one statement closed several
    assert all(a["outcome"] == "done" for a in attempts)
    assert sum(a["wall_seconds"] is not None for a in attempts) >= 6  # the six of 5 ms at least
    for a in attempts:
        wall, cpu, peak = a["wall_seconds"], a["cpu_seconds"], a["peak_rss_mb"]
        assert (cpu is None) == (wall is None) == (peak is None), a
        assert wall is None or float(wall) >= 0.001, a
        if int(a["experiment_id"]) % 50 == 8:  # x = ID - 1
            assert float(peak) > 10, a  # the worker process's peak
            assert 0.005 <= float(cpu) <= float(wall) + 0.002, a  # its own 5 ms, and at most 1 ms from before it
    exp.close()


def test_the_report_data_carries_usage_per_outcome(make_config: ConfigMaker) -> None:
    from pyexperimenter.views.html.sections import sections
    from pyexperimenter.views.report_data import ReportOptions, report_data

    path = make_config(parameters={"x": [1]}, results={"baseline": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    Worker(exp.config, allocates_300_mb).run()
    usage = report_data(exp, ReportOptions())["usage"]
    assert usage["done"]["attempts"] == 1 and usage["done"]["peak_rss_mb_max"] >= 300
    assert usage["done"]["gpu_peak_mb_max"] is None
    html = sections(report_data(exp, ReportOptions()))["usage"]
    assert "<td>done</td><td>1</td>" in html and f"<td>{usage['done']['peak_rss_mb_max']:.4g}</td>" in html, html
    exp.close()


def _attempt_indexes(exp: Experimenter) -> set[str]:
    store: Any = exp.store
    table, kind = exp.store.schema.attempts_table, exp.config.database.kind
    sql = {"sqlite": f"SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}'",
           "mysql": f"SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() "
                    f"AND table_name = '{table}'",
           "postgres": f"SELECT indexname FROM pg_indexes WHERE tablename = '{table}'"}[kind]
    names = store.session.transaction(lambda cur: store.session.execute(cur, sql).fetchall())
    return {str(n[0]).removeprefix(f"{table}__") for n in names}


def test_a_refill_replaces_the_outcome_index_of_an_earlier_version(make_config: ConfigMaker) -> None:
    """Status finds each outcome's peak on (outcome, peak_rss_mb); a table filled by an earlier
    version has the outcome index alone, which the next fill replaces (never a read-only command)."""
    path = make_config(parameters={"x": [1, 2]}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    assert {"ix_outcome_peak"} <= _attempt_indexes(exp) and "ix_outcome" not in _attempt_indexes(exp)
    store: Any = exp.store
    table, mysql = exp.store.schema.attempts_table, exp.config.database.kind == "mysql"
    dialect = store.session.dialect
    for sql in (f"DROP INDEX {dialect.index_name(table, 'ix_outcome_peak')}" + (f" ON {table}" if mysql else ""),
                f"CREATE INDEX {dialect.index_name(table, 'ix_outcome')} ON {dialect.q(table)} (outcome)"):
        store.session.transaction(lambda cur, sql=sql: store.session.execute(cur, sql))
    assert "ix_outcome" in _attempt_indexes(exp)
    exp.fill_table_from_config()
    found = _attempt_indexes(exp)
    assert "ix_outcome_peak" in found and "ix_outcome" not in found, found
    exp.close()


def test_the_upgrade_to_version_5_replaces_the_outcome_index_at_once(make_config: ConfigMaker) -> None:
    """A table of version 4 has the outcome index alone: the upgrade that adds the usage
    columns makes (outcome, peak_rss_mb) too, so the first `pyexp status` after it does not
    read every attempt for each outcome's peak, as it would until the next fill."""
    path = make_config(parameters={"x": [1, 2]}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    store: Any = exp.store
    table, mysql = exp.store.schema.attempts_table, exp.config.database.kind == "mysql"
    dialect = store.session.dialect
    for sql in (f"DROP INDEX {dialect.index_name(table, 'ix_outcome_peak')}" + (f" ON {table}" if mysql else ""),
                f"CREATE INDEX {dialect.index_name(table, 'ix_outcome')} ON {dialect.q(table)} (outcome)",
                f"UPDATE pyexp_schema SET version = 4 WHERE table_name = '{exp.config.name}'"):
        store.session.transaction(lambda cur, sql=sql: store.session.execute(cur, sql))
    exp.close()
    assert CliRunner().invoke(main, ["status", str(path)]).exit_code == 0  # opens the store: upgrades
    exp = Experimenter(path)
    found = _attempt_indexes(exp)
    assert "ix_outcome_peak" in found and "ix_outcome" not in found, found
    exp.close()
