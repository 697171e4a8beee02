#!/usr/bin/env python
"""Claim throughput with `--where` against an unfiltered run (issue 13: within 20%).

    python benchmarks/where_claims.py [--rows 2000] [--jobs 4] [--repeat 2] [--mysql URL] [--only sqlite,mysql]

Both runs execute ROWS no-op experiments with the same number of local workers, through
the public API, on the same table of 4 x ROWS rows (x, and y in a, b, c, d). The
unfiltered run claims in id order and stops after ROWS rows (`max_experiments` per
worker); the filtered run claims the ROWS rows of `y=a`, which interleave with the others
(y varies fastest), so every claim has to pass over rows it may not take: the case the
`ix_where_<column>` index is for. The figure is the filtered run's rows per second as a
percentage of the unfiltered one's (best of `--repeat`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

DEFAULT_MYSQL = os.environ.get("PYEXP_BENCH_MYSQL") or os.environ.get("PYEXP_TEST_MYSQL") or "mysql://root@127.0.0.1:3306"


def noop(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> None:
    """The experiment: nothing, so the figure is the claim and write-back path alone."""


def _config(workdir: Path, url: str, name: str, values: list[str], rows: int) -> Path:
    path = workdir / f"{name}.yml"
    data = {
        "experiment": {"name": name},
        "database": {"url": url},
        "parameters": {"x": {"start": 0, "stop": rows}, "y": values},
        "results": {"value": "DOUBLE"},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _rate(path: Path, jobs: int, where: list[str], each: int = -1) -> tuple[float, int]:
    from pyexperimenter import Experimenter

    exp = Experimenter(path)
    exp.fill_table_from_config()
    started = time.perf_counter()
    exp.execute(noop, n_jobs=jobs, where=where, max_experiments=each)
    seconds = time.perf_counter() - started
    done = exp.counts(where)["done"]
    exp.delete_table()
    exp.close()
    return done / seconds, done


def _mysql_database(server: str) -> tuple[str, Any]:
    import pymysql

    parts = urlsplit(server)
    name = f"pyexp_bench_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306, user=parts.username or "root",
                           password=parts.password or "", autocommit=True)
    conn.cursor().execute(f"CREATE DATABASE `{name}`")
    return f"{server.rstrip('/')}/{name}", lambda: (conn.cursor().execute(f"DROP DATABASE `{name}`"), conn.close())


def measure(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    drop = None
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        url, drop = _mysql_database(args.mysql)
    try:
        plain = where = 0.0
        for i in range(args.repeat):
            each = args.rows // args.jobs
            rate, done = _rate(_config(workdir, url, f"plain{i}", ["a", "b", "c", "d"], args.rows), args.jobs, [], each)
            assert done == each * args.jobs, done
            plain = max(plain, rate)
            rate, done = _rate(_config(workdir, url, f"where{i}", ["a", "b", "c", "d"], args.rows), args.jobs, ["y=a"])
            assert done == args.rows, done
            where = max(where, rate)
    finally:
        if drop is not None:
            drop()
    return {"unfiltered_per_s": plain, "where_per_s": where, "percent": 100.0 * where / plain}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=8000, help="experiments run in each measurement")
    parser.add_argument("--jobs", type=int, default=4, help="local worker processes")
    parser.add_argument("--repeat", type=int, default=2, help="measurements of each kind; the best counts")
    parser.add_argument("--mysql", default=DEFAULT_MYSQL, help="server URL, a user who may create databases")
    parser.add_argument("--only", default="sqlite,mysql", help="comma-separated backends")
    args = parser.parse_args()
    ok = True
    for backend in args.only.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            got = measure(backend, args, Path(tmp))
        ok = ok and got["percent"] >= 80.0
        print(f"{backend:7} unfiltered {got['unfiltered_per_s']:7.0f} rows/s   --where y=a {got['where_per_s']:7.0f} rows/s"
              f"   {got['percent']:5.1f}%", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
