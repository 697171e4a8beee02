#!/usr/bin/env python
"""Per-experiment overhead of `experiment.isolation: process` (and `spawn`) against in-process.

    python benchmarks/isolation.py [--rows N] [--mysql URL]

One worker runs N no-op experiments from a fresh SQLite file (or MariaDB database) three
times: `isolation: none`, `process` (a forked child per experiment), `spawn` (a fresh
interpreter per experiment, N/10 rows). The overhead is the difference in seconds per
experiment; the database work is the same in every mode.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from pyexperimenter import Experimenter
from pyexperimenter.worker import Worker


def noop(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    return {"value": 1.0}


def run(folder: Path, isolation: str, rows: int, url: str | None) -> float:
    name = f"bench_{isolation}"
    path = folder / f"{name}.yml"
    data = {
        "experiment": {"name": name, "isolation": isolation},
        "database": {"url": url or f"sqlite:///{folder / name}.db"},
        "parameters": {"x": {"start": 0, "stop": rows}},
        "results": {"value": "DOUBLE"},
    }
    path.write_text(yaml.safe_dump(data))
    exp = Experimenter(path)
    exp.fill_table_from_config()
    started = time.perf_counter()
    stats = Worker(exp.config, noop).run()
    took = time.perf_counter() - started
    assert stats.done == rows, stats
    exp.store.drop()
    exp.close()
    return took / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--mysql", default=None, help="a mysql:// URL of a database to use instead of SQLite")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        per = {mode: run(Path(tmp), mode, ns.rows if mode != "spawn" else max(5, ns.rows // 10), ns.mysql)
               for mode in ("none", "process", "spawn")}
    out = {f"{mode}_ms_per_experiment": round(1000 * s, 3) for mode, s in per.items()}
    out["process_overhead_ms"] = round(1000 * (per["process"] - per["none"]), 3)
    out["spawn_overhead_ms"] = round(1000 * (per["spawn"] - per["none"]), 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
