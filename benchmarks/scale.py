#!/usr/bin/env python
"""Reading a million rows back: results, export and status, against an earlier revision.

    python benchmarks/scale.py [--rows 1000000] [--backends mysql,sqlite,postgres]
                               [--baseline REV] [--mysql URL] [--postgres URL] [--json out.json]
                               [--buffer-pool-mb MIB]

For each backend and each code version (this checkout, and --baseline installed into its own
virtualenv under benchmarks/.envs/ from `git archive REV`), a table of N rows is filled by that
version's own `pyexp fill`, then set by SQL to the issue's mix: 40% done with results, 20% error
with a realistic traceback, the rest open, and the attempt history those rows would have left
(one attempt per done row, three failed ones per error row). SQL is used only to make the rows (a worker writing
200,000 errors would take minutes and measure nothing of interest); where this version stores an
error summary column, it is filled the way a worker fills it. Then each command runs in a fresh
process under /usr/bin/time, which gives its wall time and peak resident memory:

    results --status done --group-by dataset --agg mean
    results --format csv -o all.csv
    status

and the table shows both versions side by side with the ratio. `--backends postgres` measures
PostgreSQL beside the others (a baseline before PostgreSQL support skips it). Both versions run in the same
invocation, one after the other on the same machine, so the ratio is what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from bench import DEFAULT_MYSQL, DEFAULT_POSTGRES, MySQLTarget, PostgresTarget  # noqa: E402

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/home/user/project/run.py", line 41, in experiment\n'
    "    model.fit(X, y)\n"
    '  File "/opt/conda/lib/python3.11/site-packages/sklearn/base.py", line 1151, in wrapper\n'
    "    return fit_method(estimator, *args, **kwargs)\n" + "    ...\n" * 20
)
POSTGRES_URL = DEFAULT_POSTGRES
ERRORS = ("ValueError: Input contains NaN.", "MemoryError", "RuntimeError: CUDA out of memory.")

COMMANDS: dict[str, list[str]] = {
    "results --group-by dataset --agg mean": ["results", "{config}", "--status", "done", "--group-by", "dataset",
                                              "--agg", "mean"],
    "results --format csv -o all.csv": ["results", "{config}", "--format", "csv", "-o", "{out}"],
    "status": ["status", "{config}"],
    # the same again: its indexes now in the buffer pool (the first one follows the CSV export,
    # which read the whole table through it)
    "status, again": ["status", "{config}"],
}
TARGETS = {"results --group-by dataset --agg mean": (2.0, 200), "results --format csv -o all.csv": (6.0, 200),
           "status": (0.5, None), "status, again": (0.5, None)}


ENV: dict[str, str] = dict(os.environ)  # as_installed() sets it in main()


def log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def baseline_env(rev: str) -> Path:
    """A virtualenv with `rev` of this repository installed (not editable), made once."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev], check=True, capture_output=True,
                         text=True).stdout.strip()
    env = HERE / ".envs" / f"baseline-{sha}"
    if (env / "bin" / "pyexp").exists():
        return env
    src = Path(tempfile.mkdtemp(prefix=f"pyexp-{sha}-"))
    log(f"installing {rev} ({sha}) into {env}")
    archive = subprocess.run(["git", "-C", str(REPO), "archive", sha], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    subprocess.run([str(env / "bin" / "pip"), "install", "-q", str(src)], check=True)
    shutil.rmtree(src, ignore_errors=True)
    return env


def write_config(path: Path, url: str, rows: int) -> None:
    import yaml

    path.write_text(yaml.safe_dump({
        "experiment": {"name": "scale"},
        "database": {"url": url},
        "parameters": {"dataset": [f"dataset{i}" for i in range(10)], "seed": {"start": 0, "stop": rows // 1000},
                       "C": [round(0.01 * i, 2) for i in range(100)]},
        "results": {"accuracy": "DOUBLE", "loss": "DECIMAL(10,4)", "model": "VARCHAR(64)"},
    }, sort_keys=False))


def shape_rows(backend: str, url: str, db_path: Path | None, target: MySQLTarget, database: str) -> None:
    """Make 40% of the rows done and 20% error, as a half-finished sweep looks."""
    if backend == "sqlite":
        import sqlite3

        conn: Any = sqlite3.connect(str(db_path))
        now, p = "strftime('%Y-%m-%d %H:%M:%f', 'now')", "?"

        def mod(n: int) -> str:
            return f"(ID % {n})"
    elif backend == "postgres":
        from pyexperimenter.store.sql.dialect import POSTGRES, quote_bare_id

        conn = _QuotingConnection(PostgresTarget(url).connect(database), quote_bare_id)
        conn.raw.autocommit = False
        now, p = POSTGRES.now, "%s"

        def mod(n: int) -> str:
            return f"MOD(ID, {n})"
    else:
        conn = target.connect(database, autocommit=False)
        now, p = "NOW(6)", "%s"

        def mod(n: int) -> str:  # MOD(), since pymysql reads a bare % as a placeholder
            return f"MOD(ID, {n})"
    cur = conn.cursor()
    cur.execute("SELECT * FROM scale LIMIT 0")
    names = [d[0] for d in cur.description]  # a table of an earlier version has the unprefixed names
    summary_column = next((c for c in ("pyexp_error_summary", "error_summary") if c in names), None)
    has_summary = summary_column is not None
    attempts = "pyexp_attempts" if "pyexp_attempts" in names else "attempts"
    cur.execute(f"UPDATE scale SET status = 'done', start_date = {now}, end_date = {now}, {attempts} = 1, "
                f"accuracy = {mod(10)} / 10.0 + {mod(7)} / 100.0, loss = {mod(89)} / 10.0, model = 'svm', "
                f"machine = 'node1' WHERE {mod(10)} < 4")
    for i, last in enumerate(ERRORS):
        summary = f", {summary_column} = {p}" if has_summary else ""
        args = [TRACEBACK + last] + ([last] if has_summary else [])
        cur.execute(f"UPDATE scale SET status = 'error', start_date = {now}, end_date = {now}, {attempts} = 3, "
                    f"machine = 'node2', error = {p}{summary} WHERE {mod(10)} IN (4, 5) AND {mod(3)} = {i}", args)
    fill_attempts(cur, backend, now)
    conn.commit()
    if backend == "mysql":
        settle(cur)
    if backend == "postgres":  # what autovacuum does to a table finished over hours
        conn.raw.autocommit = True
        cur.execute("VACUUM ANALYZE")
    conn.close()


class _QuotingConnection:
    """A psycopg connection whose statements name the primary key bare, as the others' do."""

    def __init__(self, raw: Any, quote: Any):
        self.raw, self.quote = raw, quote

    def cursor(self) -> Any:
        outer = self

        class Cursor:
            def __init__(self) -> None:
                self.cur = outer.raw.cursor()

            def execute(self, sql: str, args: Any = None) -> Any:
                return self.cur.execute(outer.quote(sql), args)

            @property
            def description(self) -> Any:
                return self.cur.description

        return Cursor()

    def commit(self) -> None:
        self.raw.commit()

    def close(self) -> None:
        self.raw.close()


def fill_attempts(cur: Any, backend: str, now: str) -> None:
    """The attempt history those rows would have left: one attempt per finished row with its
    outcome, two more failed ones per error row (its three attempts), and a quarantined host.
    `pyexp status` counts attempts per outcome, so a table without them would hide that cost."""
    token = {"mysql": "MD5(ID)", "postgres": "MD5(CAST(ID AS TEXT))"}.get(backend, "printf('%032d', ID)")
    history = ("INSERT INTO scale__attempts (experiment_id, attempt, claim_token, worker, machine, start_date, "
               f"end_date, outcome, error) SELECT ID, {{n}}, {token}, 'w1', {{machine}}, {now}, {now}, {{outcome}}, "
               "{error} FROM scale WHERE {rows}")
    cur.execute(history.format(n=1, outcome="CASE status WHEN 'done' THEN 'done' ELSE 'failed' END", error="error", machine="machine",
                               rows="status IN ('done', 'error')"))
    for n in (2, 3):
        cur.execute(history.format(n=n, outcome="'failed'", error="error", machine="machine",
                                   rows="status = 'error'"))
    cur.execute(history.format(n=4, outcome="'quarantined'", error="'node3 quarantined'",
                               machine="'node3'", rows="ID <= 20"))


def settle(cur: Any, most_seconds: float = 180.0) -> None:
    """Wait for InnoDB to purge what the shaping UPDATEs left behind. 600,000 rows changed in
    one second leave old versions in every index that the commands would otherwise step over
    (docs/performance.md); a table finished over hours has none."""
    deadline = time.monotonic() + most_seconds
    while time.monotonic() < deadline:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
        if int(cur.fetchone()[1]) < 5000:
            return
        time.sleep(2)
    log("InnoDB purge still behind after the wait; measuring anyway")


def buffer_pool(target: MySQLTarget, mib: int | None) -> int:
    """MariaDB's buffer pool size in bytes before this call; with `mib`, set to that. Both code
    versions run on the one server, so both see the same pool."""
    conn = target.connect(autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute("SELECT @@innodb_buffer_pool_size")
        before = int(cur.fetchone()[0])
        if mib is not None and mib * 2**20 != before:
            log(f"innodb_buffer_pool_size {before // 2**20} -> {mib} MiB")
            cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {int(mib) * 2**20}")
            time.sleep(5)  # the resize runs in the background
        return before
    finally:
        conn.close()


def as_installed() -> dict[str, str]:
    """The environment commands run in, as a user's would be: with byte code. Under
    PYTHONDONTWRITEBYTECODE (set on some machines) this checkout, installed editable, would
    compile every module at every start (0.5-0.7 s of `status`'s time) while a baseline
    installed by pip has its byte code from the install: a difference of set-up, not code."""
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "pyexperimenter")], check=True, env=env)
    return env


def measure(pyexp: Path, argv: list[str], cwd: Path) -> dict[str, Any]:
    """Wall time and peak RSS of one command in a fresh process."""
    timing = cwd / "time.txt"
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", str(timing), str(pyexp), *argv], cwd=cwd,
                          capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{pyexp} {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    _, rss_kib = timing.read_text().split()[-2:]
    return {"seconds": round(wall, 3), "peak_mib": round(int(rss_kib) / 1024, 1), "stdout_bytes": len(proc.stdout)}


def run_version(label: str, pyexp: Path, backend: str, rows: int, target: MySQLTarget) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"pyexp-scale-{label}-"))
    database = ""
    db_path: Path | None = None
    try:
        if backend == "sqlite":
            db_path = work / "scale.db"
            url = f"sqlite:///{db_path}"
        elif backend == "postgres":
            server = PostgresTarget(POSTGRES_URL)
            database = server.create()
            url = server.url(database)
        else:
            database = target.create()
            url = target.url(database)
        config = work / "scale.yml"
        write_config(config, url, rows)
        log(f"{label}/{backend}: fill {rows:,} rows")
        fill = measure(pyexp, ["fill", str(config)], work)
        shape_rows(backend, url, db_path, target, database)
        figures: dict[str, Any] = {"fill": fill}
        for name, argv in COMMANDS.items():
            args = [a.format(config=config, out=work / "all.csv") for a in argv]
            figures[name] = measure(pyexp, args, work)
            log(f"{label}/{backend}: {name}: {figures[name]['seconds']} s, {figures[name]['peak_mib']} MiB")
        return figures
    finally:
        if database:
            (PostgresTarget(POSTGRES_URL) if backend == "postgres" else target).drop(database)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="a multiple of 1,000")
    parser.add_argument("--backends", default="mysql,sqlite")
    parser.add_argument("--baseline", default=None, help="git revision to compare with (e.g. ece1649)")
    parser.add_argument("--mysql", default=DEFAULT_MYSQL)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--buffer-pool-mb", type=int, default=None,
                        help="run with MariaDB's innodb_buffer_pool_size at this size, restored afterwards")
    args = parser.parse_args()
    global POSTGRES_URL
    POSTGRES_URL = args.postgres
    target = MySQLTarget(args.mysql)
    global ENV
    ENV = as_installed()
    versions = {"this": Path(sys.executable).with_name("pyexp")}
    if args.baseline:
        versions["baseline"] = baseline_env(args.baseline) / "bin" / "pyexp"
    results: dict[str, dict[str, Any]] = {}
    load = [os.getloadavg()[0]]  # the machine is shared: say how busy it was
    pool = buffer_pool(target, args.buffer_pool_mb) if "mysql" in args.backends else None
    try:
        for backend in args.backends.split(","):
            for label, pyexp in versions.items():
                if backend == "postgres" and label == "baseline":
                    continue  # the baseline may predate PostgreSQL
                results[f"{label}/{backend}"] = run_version(label, pyexp, backend, args.rows, target)
                load.append(os.getloadavg()[0])
    finally:
        if pool is not None and args.buffer_pool_mb is not None:
            buffer_pool(target, pool // 2**20)
    used = buffer_pool(target, None) if pool is not None else None
    if used is not None:
        results["innodb_buffer_pool_mib"] = {"during": args.buffer_pool_mb or pool // 2**20,
                                             "after": used // 2**20}
        print(f"MariaDB innodb_buffer_pool_size: {args.buffer_pool_mb or pool // 2**20} MiB during the run "
              f"(both versions), {used // 2**20} MiB after")
    results["load_1min"] = {"samples": load}  # type: ignore[dict-item]
    print(f"\n{args.rows:,} rows (40% done, 20% error); seconds / peak MiB; 1-minute load "
          f"{', '.join(f'{x:.1f}' for x in load)} on {os.cpu_count()} cores\n")
    print("| backend | command | this | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        for name in ("fill", *COMMANDS):
            this = results[f"this/{backend}"][name]
            base = results.get(f"baseline/{backend}", {}).get(name)
            seconds, mib = TARGETS.get(name, (None, None))
            met = "" if seconds is None else (
                "yes" if this["seconds"] <= seconds and (mib is None or this["peak_mib"] <= mib) else "NO")
            target_text = "" if seconds is None else f"<= {seconds} s" + (f", <= {mib} MB" if mib else "")
            base_text = f"{base['seconds']} s / {base['peak_mib']}" if base else "-"
            ratio = f"{base['seconds'] / this['seconds']:.1f}x" if base and this["seconds"] else "-"
            print(f"| {backend} | {name} | {this['seconds']} s / {this['peak_mib']} | {base_text} | {ratio} "
                  f"| {target_text} | {met} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
