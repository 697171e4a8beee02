#!/usr/bin/env python
"""`pyexp status` on errors another tool wrote: 1,000,000 rows, 200,000 of them `error` set by
SQL alone (as PyExperimenter 1.4 or a user's UPDATE writes them: a traceback in `error`, no
error summary), against the 0.5 s `status` takes on errors our workers wrote (issue 23).

    python benchmarks/foreign_errors.py [--rows 1000000] [--repeat 5] [--mysql URL]
                                        [--keep] [--database NAME] [--json out.json]

The table is filled by this checkout's `pyexp fill`, then shaped by scale.py's SQL (40% done,
20% error, the attempt history), except that the error summary column is left NULL, as a
foreign tool leaves it. `pyexp status` then runs `--repeat` times, each in a fresh process
under /usr/bin/time (wall time and peak memory, the interpreter's start included), after one
unmeasured run that warms the buffer pool. The median is the figure, printed beside the
floor measured in the same run (`status` of a 1,000-row table: the interpreter, the imports
and a few queries), since on a shared machine the load moves both; the error groups shown
by `status --json` are checked against the traceback's last lines, so a fast wrong answer
cannot pass. `--keep` leaves the database for a later `--database NAME` (no refill).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import DEFAULT_MYSQL, MySQLTarget  # noqa: E402
from scale import ERRORS, TRACEBACK, fill_attempts, measure, settle, write_config  # noqa: E402

TARGET_SECONDS = 0.5


def log(message: str) -> None:
    print(f"[foreign-errors {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def shape(target: MySQLTarget, database: str) -> None:
    """40% done, 20% error with a traceback and no summary: what SQL of another tool leaves."""
    conn = target.connect(database, autocommit=False)
    cur = conn.cursor()
    cur.execute("UPDATE scale SET status = 'done', start_date = NOW(6), end_date = NOW(6), pyexp_attempts = 1, "
                "accuracy = MOD(ID, 10) / 10.0, machine = 'node1' WHERE MOD(ID, 10) < 4")
    for i, last in enumerate(ERRORS):
        cur.execute("UPDATE scale SET status = 'error', start_date = NOW(6), end_date = NOW(6), pyexp_attempts = 3, "
                    "machine = 'node2', error = %s, pyexp_error_summary = NULL "
                    "WHERE MOD(ID, 10) IN (4, 5) AND MOD(ID, 3) = %s", (TRACEBACK + last, i))
    fill_attempts(cur, "mysql", "NOW(6)")
    conn.commit()
    settle(cur)
    cur.execute("SELECT COUNT(*) FROM scale WHERE status = 'error' AND pyexp_error_summary IS NULL")
    log(f"{cur.fetchone()[0]:,} errors without a summary")
    conn.close()


def check_groups(pyexp: Path, config: Path, work: Path, errors: int) -> dict[str, int]:
    """The groups `status --json` reports: the three last lines, all 200,000 rows counted."""
    out = subprocess.run([str(pyexp), "status", str(config), "--json"], cwd=work, capture_output=True, text=True,
                         check=True).stdout
    groups = {g["message"]: int(g["count"]) for g in json.loads(out)["errors"]}
    if set(groups) != set(ERRORS) or sum(groups.values()) != errors:
        raise SystemExit(f"status grouped the errors wrongly: {groups}")
    return groups


def floor_seconds(pyexp: Path, work: Path, repeat: int) -> float:
    """What `pyexp status` costs on this machine right now whatever the table: a small one.
    On a shared machine this moves with the load; the figure to read is the difference."""
    config = work / "small.yml"
    write_config(config, f"sqlite:///{work / 'small.db'}", 1000)
    measure(pyexp, ["fill", str(config)], work)
    measure(pyexp, ["status", str(config)], work)
    return statistics.median(measure(pyexp, ["status", str(config)], work)["seconds"] for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="a multiple of 1,000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mysql", default=DEFAULT_MYSQL)
    parser.add_argument("--database", default=None, help="an existing database of an earlier --keep run")
    parser.add_argument("--keep", action="store_true", help="leave the database for a later run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    target = MySQLTarget(args.mysql)
    pyexp = Path(sys.executable).with_name("pyexp")
    work = Path(tempfile.mkdtemp(prefix="pyexp-foreign-errors-"))
    database = args.database or target.create()
    config = work / "scale.yml"
    write_config(config, target.url(database), args.rows)
    load = [os.getloadavg()[0]]
    try:
        if args.database is None:
            log(f"fill {args.rows:,} rows into {database}")
            measure(pyexp, ["fill", str(config)], work)
            shape(target, database)
        measure(pyexp, ["status", str(config)], work)  # warm the buffer pool, unmeasured
        samples: list[dict[str, Any]] = []
        for _ in range(args.repeat):
            samples.append(measure(pyexp, ["status", str(config)], work))
            log(f"status: {samples[-1]['seconds']} s, {samples[-1]['peak_mib']} MiB")
        load.append(os.getloadavg()[0])
        groups = check_groups(pyexp, config, work, args.rows // 5)
        floor = floor_seconds(pyexp, work, args.repeat)
        median = statistics.median(s["seconds"] for s in samples)
        print(f"\n`pyexp status`, {args.rows:,} rows, {args.rows // 5:,} errors written by SQL (no summary): "
              f"median {median:.3f} s of {args.repeat} (target {TARGET_SECONDS} s: "
              f"{'met' if median <= TARGET_SECONDS else 'NOT met'}); runs "
              f"{', '.join(str(s['seconds']) for s in samples)} s; peak "
              f"{max(s['peak_mib'] for s in samples)} MiB; 1-minute load {', '.join(f'{x:.1f}' for x in load)} "
              f"on {os.cpu_count()} cores; groups {groups}")
        print(f"floor in the same run: `pyexp status` of a 1,000-row SQLite table, median {floor:.3f} s "
              f"(the interpreter, the imports and a few queries); above it: {median - floor:.3f} s")
        if args.json:
            args.json.write_text(json.dumps({"rows": args.rows, "median_seconds": median, "floor_seconds": floor,
                                             "samples": samples,
                                             "groups": groups, "load_1min": load}, indent=2))
    finally:
        if args.keep:
            log(f"kept database {database} (--database {database} to measure again)")
        else:
            target.drop(database)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
