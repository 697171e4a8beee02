"""Issue 10 item 9: result and log timestamps as PyExperimenter 1.4.2 writes them (the
worker's local time to the second, `<result>_timestamp` as text), and one `process_logs`
call stamping every log table with the same time, on SQLite and MariaDB."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pymysql
from compat_support import pe_config_fixture  # noqa: F401 - the pe_config fixture
from conftest import ConfigMaker

from pyexperimenter import Experimenter

CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 1
  Database:
    provider: {provider}
    database: {database}
    table:
      name: stamps
      keyfields:
        seed:
          type: INT
          values: [1, 2]
      result_timestamps: True
      resultfields:
        score: DOUBLE
    logtables:
      first:
        a: INT
      second:
        b: INT
"""

SECOND = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def stamping(parameters: dict, result_processor, custom_config: dict) -> None:
    result_processor.process_results({"score": parameters["seed"] / 2})
    for step in range(3):
        result_processor.process_logs({"first": {"a": step}, "second": {"b": step}})
        time.sleep(0.01)


def raw(exp, sql: str) -> list[tuple]:
    """Rows as the database holds them, bypassing every decoding of ours."""
    db = exp.config.database
    if db.kind == "sqlite":
        with sqlite3.connect(db.path) as conn:
            return list(conn.execute(sql).fetchall())
    conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password or "", database=db.database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def test_result_and_log_stamps_read_as_pyexperimenter_wrote_them(pe_config, backend: str) -> None:
    from pyexperimenter.experimenter import PyExperimenter

    config, creds = pe_config(CONFIG)
    exp = PyExperimenter(str(config), str(creds) if creds else "config/database_credentials.yml", use_codecarbon=False)
    exp.fill_table_from_config()
    before = time.strftime("%Y-%m-%d %H:%M:%S")
    exp.execute(stamping, max_experiments=-1)
    after = time.strftime("%Y-%m-%d %H:%M:%S")

    stamps = [r[0] for r in raw(exp, "SELECT score_timestamp FROM stamps")]
    assert len(stamps) == 2 and all(isinstance(s, str) and SECOND.match(s) for s in stamps), stamps
    assert all(before <= s <= after for s in stamps)  # the worker's local clock
    table = exp.get_table()
    assert pd.api.types.is_string_dtype(table["score_timestamp"]) and set(table["score_timestamp"]) == set(stamps)

    for name in ("first", "second"):
        for (value,) in raw(exp, f"SELECT timestamp FROM stamps__{name}"):
            text = value if isinstance(value, str) else value.isoformat(sep=" ")
            assert SECOND.match(text), text  # to the second, no fraction

    first, second = exp.get_logtable("first"), exp.get_logtable("second")
    assert len(first) == len(second) == 6
    pairs = first.merge(second, left_on=["experiment_id", "a"], right_on=["experiment_id", "b"])
    assert len(pairs) == 6 and (pairs["timestamp_x"] == pairs["timestamp_y"]).all()


def native_logging(parameters: dict, result_processor, custom: dict) -> None:
    for step in range(3):
        result_processor.process_logs({"first": {"a": step}, "second": {"b": step}})
        time.sleep(0.005)  # SQLite's clock reads milliseconds: keep the calls apart


def test_one_process_logs_call_has_one_stamp_on_the_native_api(make_config: ConfigMaker, tmp_path: Path) -> None:
    path = make_config(parameters={"x": [1, 2]}, logtables={"first": {"a": "INT"}, "second": {"b": "INT"}})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    exp.execute(native_logging, n_jobs=1)
    first, second = exp.get_logtable("first"), exp.get_logtable("second")
    pairs = first.merge(second, left_on=["experiment_id", "a"], right_on=["experiment_id", "b"])
    assert len(pairs) == 6 and (pairs["timestamp_x"] == pairs["timestamp_y"]).all()
    assert first["timestamp"].nunique() > 1  # the server's clock, fine-grained across calls
