#!/usr/bin/env python
"""Paired, alternating throughput comparison of this checkout against any git revision.

    python benchmarks/paired.py --baseline d322faf [--pairs 5] [--only sqlite1,mysql16,floor]
                                [--rows 10000] [--mysql URL] [--postgres URL] [--json out.json]
    python benchmarks/paired.py --only pg-vs-mysql16,pg-vs-mysql-fill   # PostgreSQL beside MariaDB

PostgreSQL beside MariaDB: `pg-vs-mysql16` (and `pg-vs-mysql-fill`) alternate the same
workload on both servers with this tree, pair by pair, and report PostgreSQL's median over
MariaDB's; `postgres16` and `fill-postgres` measure PostgreSQL alone (no baseline: earlier
revisions have no PostgreSQL).

Why paired: on a shared 2-core machine the same code measures 20-30% apart from one run to
the next, so "within noise" across runs once hid a 30% loss. Here every workload runs as a
pair (this tree, then the baseline, then the next pair the other way round), each in a fresh
child process on a fresh database, and the figure reported is the ratio of the medians over
the pairs, beside each pair's own ratio. Both sides run the same child code from this file
through the public API only (`Experimenter(config).fill_table_from_config()`,
`.execute(noop, n_jobs=N)`), so any revision with that API can be measured.

The baseline's source is exported once (`git archive`) into benchmarks/.envs/rev-<sha>/ and
imported ahead of the installed package through PYTHONPATH; the dependencies are this
environment's. The bare-SQL floor (bench.py's minimal pymysql claim/finish loop in 16
processes, claims of 16 rows) runs in the same alternation, so "at least 0.8x the floor" is
measured under the same load as the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench import DEFAULT_MYSQL, DEFAULT_POSTGRES, MySQLTarget, PostgresTarget, fill_grid, write_config  # noqa: E402

WORKLOADS: dict[str, tuple[str, int]] = {"sqlite1": ("sqlite", 1), "mysql16": ("mysql", 16),
                                         "fill-sqlite": ("sqlite", 0), "fill-mysql": ("mysql", 0),
                                         "postgres16": ("postgres", 16), "fill-postgres": ("postgres", 0)}
# Two workloads of this tree alternated pair by pair: the first's median over the second's.
ACROSS: dict[str, tuple[str, str]] = {"pg-vs-mysql16": ("postgres16", "mysql16"),
                                      "pg-vs-mysql-fill": ("fill-postgres", "fill-mysql")}
CHILD_TIMEOUT = 600.0


def noop(parameters: dict[str, Any], result_processor: Any, custom_config: dict[str, Any]) -> None:
    return None


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in the interpreter whose PYTHONPATH picks the version measured."""
    import pyexperimenter
    from pyexperimenter import Experimenter

    n, jobs = int(spec["rows"]), int(spec["jobs"])
    if not jobs:  # a fill of a realistic grid (bench.py's), timed, then timed again (all rows present)
        config = write_config(Path(spec["workdir"]), spec["url"], fill_grid(n))
        with Experimenter(config) as exp:
            started = time.perf_counter()
            added = exp.fill_table_from_config()
            seconds = time.perf_counter() - started
            exp.fill_table_from_config()
        return {"rate": n / seconds, "seconds": seconds, "ok": added == n, "package": str(Path(pyexperimenter.__file__).parent)}
    config = write_config(Path(spec["workdir"]), spec["url"], {"i": {"start": 0, "stop": n}})
    filler = Experimenter(config)
    filler.fill_table_from_config()
    filler.close()
    exp = Experimenter(config)
    started = time.perf_counter()
    codes = exp.execute(noop, n_jobs=jobs)
    seconds = time.perf_counter() - started
    done = int(exp.get_table().eval("status == 'done'").sum())
    exp.close()
    return {"rate": done / seconds, "seconds": seconds, "done": done, "ok": done == n and not any(codes),
            "package": str(Path(pyexperimenter.__file__).parent)}


def export_revision(revision: str) -> Path:
    """The revision's tree, exported once and kept (git-ignored) for later comparisons."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout.strip()
    target = HERE / ".envs" / f"rev-{sha[:12]}"
    if not (target / "pyexperimenter" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", "--format=tar", sha, "pyexperimenter"], cwd=REPO, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


class Runner:
    def __init__(self, args: argparse.Namespace, baseline_tree: Path):
        self.args = args
        self.mysql = MySQLTarget(args.mysql)
        self.postgres = PostgresTarget(args.postgres)
        self.trees = {"this": REPO, "baseline": baseline_tree}
        self.t0 = time.perf_counter()

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f}s] {message}", file=sys.stderr, flush=True)

    def measure(self, side: str, workload: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="pyexp-paired-") as tmp:
            backend, jobs = WORKLOADS.get(workload, ("mysql", 16))
            server = self.postgres if backend == "postgres" else self.mysql
            database = server.create() if backend != "sqlite" else None
            try:
                url = server.url(database) if database else f"sqlite:///{tmp}/bench.db"
                rows = self.args.fill_rows if workload.startswith("fill") else self.args.rows
                spec = {"rows": rows, "jobs": jobs, "workdir": tmp, "url": url}
                if workload == "floor":
                    return self._floor(database)
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(self.trees[side]), str(HERE)])}
                # Both sides start from byte code, as an installed package does (scale.py says why).
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                proc = subprocess.run([sys.executable, str(Path(__file__)), "--child", json.dumps(spec)], env=env,
                                      capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=tmp)
                for line in proc.stdout.splitlines():
                    if line.startswith("PAIRED_RESULT "):
                        result: dict[str, Any] = json.loads(line[len("PAIRED_RESULT "):])
                        expected = self.trees[side].resolve() / "pyexperimenter"
                        if Path(result["package"]).resolve() != expected:
                            raise SystemExit(f"{side} imported {result['package']}, not {expected}")
                        return result
                raise SystemExit(f"{side} {workload} failed: exit {proc.returncode}: {proc.stderr.strip()[-800:]}")
            finally:
                if database:
                    server.drop(database)

    def _across(self, first: str, second: str) -> dict[str, Any]:
        """`first` and `second` on this tree, alternated pair by pair: `this` holds the first's
        samples, `baseline` the second's, so the report's ratio is first over second."""
        samples: dict[str, list[float]] = {first: [], second: []}
        for pair in range(self.args.pairs):
            for workload in ((first, second) if pair % 2 == 0 else (second, first)):
                result = self.measure("this", workload)
                if not result["ok"]:
                    raise SystemExit(f"{workload}: not every row done once: {result}")
                samples[workload].append(result["rate"])
                self.log(f"{workload} pair {pair + 1}: {result['rate']:.0f}/s")
        return {"this": {"median": statistics.median(samples[first]), "samples": samples[first]},
                "baseline": {"median": statistics.median(samples[second]), "samples": samples[second]},
                "ratio_of_medians": statistics.median(samples[first]) / statistics.median(samples[second]),
                "pair_ratios": [a / b for a, b in zip(samples[first], samples[second])]}

    def _floor(self, database: str | None) -> dict[str, Any]:
        from bench import task_floor

        assert database is not None
        result = task_floor({"mysql": self.args.mysql, "database": database, "n": self.args.rows, "procs": 16,
                             "batch": 16})
        return {"rate": result["rate"], "ok": result["ok"]}

    def run(self) -> dict[str, Any]:
        report: dict[str, Any] = {}
        for workload in self.args.only:
            if workload in ACROSS:
                report[workload] = self._across(*ACROSS[workload])
                continue
            alone = workload == "floor" or WORKLOADS[workload][0] == "postgres"
            sides = ["this"] if alone else ["this", "baseline"]
            samples: dict[str, list[float]] = {side: [] for side in sides}
            for pair in range(self.args.pairs):
                order = sides if pair % 2 == 0 else sides[::-1]
                for side in order:
                    result = self.measure(side, workload)
                    if not result["ok"]:
                        raise SystemExit(f"{side} {workload}: not every row done once: {result}")
                    samples[side].append(result["rate"])
                    self.log(f"{workload} pair {pair + 1} {side}: {result['rate']:.0f} exp/s")
            report[workload] = {side: {"median": statistics.median(v), "samples": v} for side, v in samples.items()}
            if "baseline" in samples:
                report[workload]["ratio_of_medians"] = (statistics.median(samples["this"])
                                                        / statistics.median(samples["baseline"]))
                report[workload]["pair_ratios"] = [a / b for a, b in zip(samples["this"], samples["baseline"])]
        if "floor" in report and "mysql16" in report:
            report["mysql16"]["ratio_to_floor"] = report["mysql16"]["this"]["median"] / report["floor"]["this"]["median"]
        return report


def print_report(report: dict[str, Any], baseline: str, load: tuple[float, ...]) -> None:
    print(f"\nPaired, this tree against {baseline} (load at the end {load[0]:.1f}): no-op experiments per second,"
          f" rows filled per second\n")
    print("| workload | this (median /s) | baseline | ratio of medians | per-pair ratios |")
    print("|---|---|---|---|---|")
    for name, figures in report.items():
        if name in ACROSS:
            name = f"{name} ({' over '.join(ACROSS[name])}: 'baseline' is the second)"
        base = figures.get("baseline", {}).get("median")
        ratio = figures.get("ratio_of_medians")
        pairs = ", ".join(f"{r:.2f}" for r in figures.get("pair_ratios", []))
        print(f"| {name} | {figures['this']['median']:.0f} | {'' if base is None else f'{base:.0f}'} | "
              f"{'' if ratio is None else f'{ratio:.2f}x'} | {pairs} |")
    if "ratio_to_floor" in report.get("mysql16", {}):
        print(f"\nMariaDB 16 workers against the bare-SQL floor (16 processes, claims of 16): "
              f"{report['mysql16']['ratio_to_floor']:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="HEAD", help="a git revision to compare against (default HEAD)")
    parser.add_argument("--pairs", type=int, default=5, help="alternating pairs per workload (default 5)")
    parser.add_argument("--only", default="sqlite1,mysql16,floor",
                        help="comma-separated subset of sqlite1 (SQLite, 1 worker), mysql16 (MariaDB, 16 workers), "
                             "postgres16, floor (bare SQL, MariaDB), fill-sqlite, fill-mysql, fill-postgres (rows "
                             "filled per second), pg-vs-mysql16, pg-vs-mysql-fill (PostgreSQL over MariaDB, paired)")
    parser.add_argument("--rows", type=int, default=10_000, help="no-op experiments per measurement (default 10,000)")
    parser.add_argument("--fill-rows", type=int, default=100_000,
                        help="rows of the fill workloads, a multiple of 1,000 (default 100,000)")
    parser.add_argument("--mysql", default=DEFAULT_MYSQL, help=f"server URL (default {DEFAULT_MYSQL})")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help=f"PostgreSQL server URL (default {DEFAULT_POSTGRES})")
    parser.add_argument("--json", help="write every sample to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("PAIRED_RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    args.only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in args.only if w not in (*WORKLOADS, *ACROSS, "floor")]
    if unknown:
        parser.error(f"unknown workload {unknown[0]!r}; expected some of {','.join([*WORKLOADS, *ACROSS, 'floor'])}")
    runner = Runner(args, export_revision(args.baseline))
    report = runner.run()
    print_report(report, args.baseline, os.getloadavg())
    if args.json:
        Path(args.json).write_text(json.dumps({"baseline": args.baseline, "report": report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
