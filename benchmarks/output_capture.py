#!/usr/bin/env python
"""What capturing each attempt's output costs: no-op experiments per second with and
without it, in the worker's process and in an isolated child.

    python benchmarks/output_capture.py --base /tmp/base [--rows N] [--rounds R]

`--base` is a checkout of the code to compare against (e.g. `git worktree add --detach
/tmp/base main`). Each measurement runs in its own interpreter, alternating between the two
trees, R rounds; the ratios of the medians are printed (above 1: this tree is slower).
Modes: `none` (no-op, in-process: the tee's fixed cost), `print` (ten lines per experiment,
in-process: a file per attempt and its tail stored), `process` (no-op in a forked child: the
pipes), all on a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, tempfile, time, json
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import yaml
from pyexperimenter import Experimenter
from pyexperimenter.worker import Worker

mode, rows = sys.argv[2], int(sys.argv[3])

def noop(p, rp, c):
    return {"value": 1.0}

def chatty(p, rp, c):
    for i in range(10):
        print("line", i, "of experiment", p["x"])
    return {"value": 1.0}

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "b.yml"
    path.write_text(yaml.safe_dump({
        "experiment": {"name": "b", "isolation": "process" if mode == "process" else "none"},
        "database": {"url": f"sqlite:///{tmp}/b.db"},
        "parameters": {"x": {"start": 0, "stop": rows}}, "results": {"value": "DOUBLE"}}))
    exp = Experimenter(path)
    exp.fill_table_from_config()
    fn = chatty if mode == "print" else noop
    started = time.perf_counter()
    stats = Worker(exp.config, fn).run()
    took = time.perf_counter() - started
    assert stats.done == rows, stats
    print(json.dumps(took / rows), file=sys.stderr)
"""


def measure(tree: str, mode: str, rows: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, tree, mode, str(rows)], capture_output=True, text=True,
                         check=True)
    return float(out.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the tree to compare against")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    ns = parser.parse_args()
    found: dict[str, dict[str, list[float]]] = {}
    for _ in range(ns.rounds):
        for mode in ("none", "print", "process"):
            rows = ns.rows if mode != "process" else max(50, ns.rows // 10)
            for name, tree in (("base", ns.base), ("this", str(HERE))):
                found.setdefault(mode, {}).setdefault(name, []).append(measure(tree, mode, rows))
    report = {}
    for mode, per in found.items():
        base, this = statistics.median(per["base"]), statistics.median(per["this"])
        report[mode] = {"base_per_second": round(1 / base), "this_per_second": round(1 / this),
                        "this_ms_per_experiment": round(1000 * this, 3), "ratio_this_over_base": round(this / base, 3)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
