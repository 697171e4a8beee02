#!/usr/bin/env python
"""`pyexp report` on a million rows: the page is built from aggregates, so it must stay fast.

    python benchmarks/report_scale.py [--rows 1000000] [--backends sqlite,mysql] [--mysql URL]
                                      [--baseline main] [--json out.json]

The table is made as benchmarks/scale.py makes it (this version's `pyexp fill`, then SQL sets
40% done with results and 20% error with a realistic traceback), with end dates spread over
the last hour and one attempt-history row per finished row, so every chart has data. Then
`pyexp report` runs in a fresh process under /usr/bin/time (wall time, peak resident memory),
with and without `--over seed` (1,000 seeds: the largest GROUP BY the report makes), first
this checkout's code, then --baseline's on the same table: a git revision checked out once
into a detached worktree under /tmp (or a directory holding one), run with this virtualenv.
Both versions run in the same invocation, so the ratio is what to read on a loaded machine.
Target: <= 10 s each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
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


def baseline_checkout(rev: str) -> Path:
    """`rev` checked out (detached) into /tmp once; a directory is taken as it is."""
    if Path(rev).is_dir():
        return Path(rev).resolve()
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev], check=True, capture_output=True,
                         text=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"pyexp-report-base-{sha}"
    if not (path / "pyexperimenter").is_dir():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), sha], check=True,
                       capture_output=True)
    return path


def report(version: Path | None, argv: list[str], cwd: Path) -> dict[str, Any]:
    """One `pyexp` command of this checkout (None) or of the checkout at `version`."""
    if version is None:
        return measure(Path(sys.executable).with_name("pyexp"), argv, cwd)
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(version)  # found before this checkout's editable install
    try:
        return measure(Path(sys.executable), ["-m", "pyexperimenter.cli", *argv], cwd)
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def run(backend: str, rows: int, target: MySQLTarget, versions: dict[str, Path | None]) -> dict[str, Any]:
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
        figures: dict[str, Any] = {}
        for label, version in versions.items():
            for name, argv in COMMANDS.items():
                args = [a.format(config=config, out=work / "report.html") for a in argv]
                f = figures[f"{label}\0{name}"] = report(version, args, work)
                log(f"{label}/{backend}: {name}: {f['seconds']} s, {f['peak_mib']} MiB")
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
    parser.add_argument("--baseline", default=None, help="git revision (or checkout directory) to compare with")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    target = MySQLTarget(args.mysql)
    versions: dict[str, Path | None] = {"this": None}
    if args.baseline:
        versions["baseline"] = baseline_checkout(args.baseline)
    backends = args.backends.split(",")
    results = {backend: run(backend, args.rows, target, versions) for backend in backends}
    load = os.getloadavg()
    print(f"\n{args.rows:,} rows (40% done, 20% error); seconds / peak MiB; load {load[0]:.1f} {load[1]:.1f}\n")
    print("| backend | command | this | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|---|")
    for backend in backends:
        for name in COMMANDS:
            this = results[backend][f"this\0{name}"]
            base = results[backend].get(f"baseline\0{name}")
            base_text = f"{base['seconds']} s / {base['peak_mib']}" if base else "-"
            ratio = f"{base['seconds'] / this['seconds']:.1f}x" if base and this["seconds"] else "-"
            met = "yes" if this["seconds"] <= TARGET_SECONDS else "NO"
            print(f"| {backend} | {name} | {this['seconds']} s / {this['peak_mib']} | {base_text} | {ratio} "
                  f"| <= {TARGET_SECONDS:g} s | {met} |")
    if args.json:
        args.json.write_text(json.dumps({b: {k.replace("\0", " "): v for k, v in f.items()}
                                         for b, f in results.items()}, indent=2))


if __name__ == "__main__":
    main()
