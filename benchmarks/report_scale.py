#!/usr/bin/env python
"""`pyexp report` on a million rows: the page is built from aggregates, so it must stay fast.

    python benchmarks/report_scale.py [--rows 1000000] [--backends sqlite,mysql] [--mysql URL]

The table is made as benchmarks/scale.py makes it (this version's `pyexp fill`, then SQL sets
40% done with results and 20% error with a realistic traceback), with end dates spread over
the last hour and one attempt-history row per finished row, so every chart has data. Then
`pyexp report` runs in a fresh process under /usr/bin/time, with and without `--over seed`
(1,000 seeds: the largest GROUP BY the report makes). Target: <= 10 s each.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import DEFAULT_MYSQL, MySQLTarget  # noqa: E402
from scale import log, measure, shape_rows, write_config  # noqa: E402

TARGET_SECONDS = 10.0
COMMANDS = {
    "report": ["report", "{config}", "-o", "{out}"],
    "report --over seed": ["report", "{config}", "-o", "{out}", "--over", "seed", "--error-bars", "ci95"],
}


def spread_and_attempts(backend: str, db_path: Path | None, target: MySQLTarget, database: str) -> None:
    """End dates over the last hour, and the attempt history a worker would have written."""
    if backend == "sqlite":
        import sqlite3

        conn: Any = sqlite3.connect(str(db_path))
        ago = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (ID % 3600) || ' seconds')"
    else:
        conn = target.connect(database, autocommit=False)
        ago = "NOW(6) - INTERVAL MOD(ID, 3600) SECOND"
    cur = conn.cursor()
    cur.execute(f"UPDATE scale SET end_date = {ago} WHERE status IN ('done', 'error')")
    cur.execute("INSERT INTO scale__attempts (experiment_id, attempt, claim_token, worker, machine, start_date, "
                "end_date, outcome) SELECT ID, 1, 'bench', machine, machine, start_date, end_date, status FROM scale "
                "WHERE status IN ('done', 'error')")
    conn.commit()
    conn.close()


def run(backend: str, rows: int, target: MySQLTarget) -> dict[str, Any]:
    pyexp = Path(sys.executable).with_name("pyexp")
    work = Path(tempfile.mkdtemp(prefix="pyexp-report-scale-"))
    database = ""
    db_path: Path | None = None
    try:
        if backend == "sqlite":
            db_path = work / "scale.db"
            url = f"sqlite:///{db_path}"
        else:
            database = target.create()
            url = target.url(database)
        config = work / "scale.yml"
        write_config(config, url, rows)
        log(f"{backend}: fill {rows:,} rows")
        measure(pyexp, ["fill", str(config)], work)
        shape_rows(backend, url, db_path, target, database)
        spread_and_attempts(backend, db_path, target, database)
        figures = {}
        for name, argv in COMMANDS.items():
            figures[name] = measure(pyexp, [a.format(config=config, out=work / "report.html") for a in argv], work)
            log(f"{backend}: {name}: {figures[name]['seconds']} s, {figures[name]['peak_mib']} MiB")
        return figures
    finally:
        if database:
            target.drop(database)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="a multiple of 1,000")
    parser.add_argument("--backends", default="sqlite,mysql")
    parser.add_argument("--mysql", default=DEFAULT_MYSQL)
    args = parser.parse_args()
    target = MySQLTarget(args.mysql)
    results = {backend: run(backend, args.rows, target) for backend in args.backends.split(",")}
    print(f"\n{args.rows:,} rows (40% done, 20% error); seconds / peak MiB\n")
    print("| backend | command | seconds | peak MiB | target | met |")
    print("|---|---|---|---|---|---|")
    for backend, figures in results.items():
        for name, f in figures.items():
            met = "yes" if f["seconds"] <= TARGET_SECONDS else "NO"
            print(f"| {backend} | {name} | {f['seconds']} | {f['peak_mib']} | <= {TARGET_SECONDS:g} s | {met} |")


if __name__ == "__main__":
    main()
