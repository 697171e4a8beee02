#!/usr/bin/env python
"""What a code snapshot costs `pyexp launch` and `pyexp run` (docs/snapshots.md).

    python benchmarks/snapshot.py [--files 1000] [--kb 4] [--repeat 7] [--json out.json]

Builds a git work tree of N tracked files (Python modules of about K kB in packages of 50,
plus an untracked file per package that must be left out), then times, alternating:
- `first`: a snapshot into an empty snapshots folder (git ls-files, hash every file, copy);
- `again`: the same code once more (git ls-files and the hashing; the folder exists, nothing
  is written): what every launch of unchanged code pays;
- `git`: `git ls-files` alone, the floor of the first two.
Medians over the repeats, in the same run, so the figures share the machine's load.

With `--attempts N`: what recording the hash costs each attempt. One worker runs N no-op
rows on SQLite, `execute("module:noop")` with a snapshot against `snapshot=False`, in pairs
(alternating which goes first), each in a fresh child process; the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from pyexperimenter import snapshot

NOOP = "def noop(parameters, result_processor, custom):\n    return None\n"
CHILD = """
import sys, time
from pyexperimenter import Experimenter
exp = Experimenter(sys.argv[1])
exp.fill_table_from_config()
started = time.perf_counter()
exp.execute("bench_noop_mod:noop", snapshot=sys.argv[2] == "1")
print(time.perf_counter() - started)
"""


def attempts(rows: int, pairs: int) -> dict[str, list[float]]:
    """Rows per second with and without a snapshot, pair by pair."""
    import sys

    import yaml

    rates: dict[str, list[float]] = {"snapshot": [], "none": []}
    for pair in range(pairs):
        for with_snapshot in ((True, False) if pair % 2 == 0 else (False, True)):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                (folder / "bench_noop_mod.py").write_text(NOOP)
                config = folder / "experiment.yml"
                config.write_text(yaml.safe_dump({
                    "experiment": {"name": "snapbench", "function": "bench_noop_mod:noop"},
                    "database": {"url": f"sqlite:///{folder / 'bench.db'}"},
                    "parameters": {"x": {"start": 0, "stop": rows}}, "results": {"value": "FLOAT"}}))
                out = subprocess.run([sys.executable, "-c", CHILD, str(config), "1" if with_snapshot else "0"],
                                     cwd=folder, capture_output=True, text=True, check=True)
                rates["snapshot" if with_snapshot else "none"].append(rows / float(out.stdout.split()[-1]))
    return rates


def build(root: Path, files: int, kb: float) -> None:
    body = ("def f_{i}(x):\n    return x * {i}  # " + "x" * 60 + "\n") * max(1, int(kb * 1024 / 90))
    for n in range(files):
        package = root / "proj" / f"pkg{n // 50:03d}"
        package.mkdir(parents=True, exist_ok=True)
        name = "__init__.py" if n % 50 == 0 else f"mod{n % 50:02d}.py"
        (package / name).write_text(body.replace("{i}", str(n)))
    (root / "proj" / "__init__.py").unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "bench"], cwd=root, check=True)
    for package in (root / "proj").iterdir():
        (package / "scratch.txt").write_text("untracked\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--kb", type=float, default=4.0, help="size of each file")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--attempts", type=int, default=0, help="also: the per-attempt cost, N no-op rows per run")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--json", default=None)
    ns = parser.parse_args()
    if ns.attempts:
        rates = attempts(ns.attempts, ns.pairs)
        with_, without = statistics.median(rates["snapshot"]), statistics.median(rates["none"])
        ratios = [a / b for a, b in zip(rates["snapshot"], rates["none"])]
        print(f"{ns.attempts:,} no-op rows, one worker, SQLite, {ns.pairs} pairs: with a snapshot {with_:,.0f}/s, "
              f"without {without:,.0f}/s, ratio of medians {with_ / without:.2f} "
              f"(pairs {min(ratios):.2f} to {max(ratios):.2f})")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        build(root, ns.files, ns.kb)
        location = snapshot.locate("pkg000.mod01", [str(root / "proj")])
        assert location is not None
        times: dict[str, list[float]] = {"first": [], "again": [], "git": []}
        taken = None
        for i in range(ns.repeat):
            logs = Path(tmp) / f"logs{i}"
            started = time.perf_counter()
            taken = snapshot.take(snapshot.find_source(location), snapshot.folder_of(logs))
            times["first"].append(time.perf_counter() - started)
            started = time.perf_counter()
            again = snapshot.take(snapshot.find_source(location), snapshot.folder_of(logs))
            times["again"].append(time.perf_counter() - started)
            assert again.hash == taken.hash
            started = time.perf_counter()
            subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
            times["git"].append(time.perf_counter() - started)
            shutil.rmtree(logs)
        assert taken is not None and taken.files == ns.files, taken
        figures = {k: statistics.median(v) for k, v in times.items()}
        print(f"{taken.files:,} files, {taken.size / 1e6:.1f} MB, median of {ns.repeat}:")
        for key, label in (("first", "first snapshot (hash + copy)"), ("again", "unchanged code again (hash only)"),
                           ("git", "git ls-files alone")):
            spread = f"{min(times[key]) * 1000:.0f}-{max(times[key]) * 1000:.0f}"
            print(f"  {label:34} {figures[key] * 1000:7.0f} ms  (range {spread} ms)")
        if ns.json:
            Path(ns.json).write_text(json.dumps({"files": taken.files, "bytes": taken.size, "samples": times,
                                                 "medians": figures}, indent=1))


if __name__ == "__main__":
    main()
