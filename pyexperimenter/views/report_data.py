"""What `pyexp report` and `pyexp dashboard` show, as JSON-ready data built from aggregates.

Every number comes from a GROUP BY in the database, never from the rows, so a table of a
million rows reports as fast as one of sixty: counts per status, rows finished per minute,
errors per summary (store/reports.py, as `pyexp status` groups them), attempts per host and
worker, the best rows, logtable steps, and the effect of each parameter on each numeric
result. The effects read store/select.py's aggregates (count, mean and spread of done rows)
over a few parameters at once, and combine those joint groups here into one mean and spread
per parameter value; docs/report.md says how.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import InputError
from ..experiment import Experimenter
from ..params.grid import AnyGrid, Grid
from ..results.query import decoder, selection
from .status_data import finished_per_minute, usage_by_outcome

NUMERIC_KINDS = frozenset({"int", "float", "decimal"})
ERROR_BARS = ("std", "ci95")
RATE_MINUTES = 5
MAX_GROUPS = 200_000  # values of one parameter drawn; more are cut
# Groups one GROUP BY may return: parameters are grouped jointly while the product of their
# domains stays under this, so a small grid takes one pass over the table, a large one a few.
MAX_CELLS = 50_000
PARALLEL = 4  # queries run at once beside the first, each on a connection of its own
TAIL_GROUPS = 20  # error groups shown with the last lines of an example traceback
_TAIL_LINES = 3


@dataclass(frozen=True)
class ReportOptions:
    """What the user chose: the parameter error bars run over, their kind, the logtable and
    how the best rows are picked."""

    over: str | None = None
    error_bars: str = "std"
    logtable: str | None = None
    best: int = 10
    best_by: str | None = None
    minimize: bool = False


def check_options(exp: Experimenter, opts: ReportOptions) -> None:
    """Bad choices fail before any query, with the names the user could have given."""
    cfg = exp.config
    if opts.over is not None and opts.over not in cfg.parameters:
        raise InputError(f"--over {opts.over}: not a parameter; expected one of {', '.join(cfg.parameters)}")
    if opts.error_bars not in ERROR_BARS:
        raise InputError(f"--error-bars {opts.error_bars}: expected one of {', '.join(ERROR_BARS)}")
    if opts.logtable is not None and opts.logtable not in cfg.logtables:
        known = ", ".join(cfg.logtables) or "(the config has no logtables)"
        raise InputError(f"--logtable {opts.logtable}: not a logtable; expected one of {known}")
    if opts.best_by is not None and opts.best_by not in numeric_results(exp):
        raise InputError(f"--best-by {opts.best_by}: not a numeric result; expected one of "
                         f"{', '.join(numeric_results(exp)) or '(none)'}")


def numeric_results(exp: Experimenter) -> list[str]:
    return [name for name, t in exp.config.results.items() if t.kind in NUMERIC_KINDS]


def report_data(exp: Experimenter, opts: ReportOptions) -> dict[str, Any]:
    """Everything the report page draws, as plain data (the dashboard sends it as JSON)."""
    check_options(exp, opts)
    cfg = exp.config
    effect_reads, combine = effect_queries(exp, opts)
    tasks: list[Task] = [  # the passes over the whole table first, so that they run together
        lambda e: e.store.counts(cfg.stale_after_seconds),
        *effect_reads,
        lambda e: best_rows(e, opts),
        outcomes,
        lambda e: finished_per_minute(e, None),
        error_groups,
        lambda e: log_curves(e, opts.logtable) if opts.logtable else None,
        usage_by_outcome,
    ]
    counts, *effect_rows, best, hosts, minutes, errors, logtable, usage = parallel(exp, tasks)
    lost = counts.pop("stale", 0)
    total = sum(counts.values())
    per_minute = recent_rate(minutes)
    remaining = counts["created"] + counts["running"]
    per_second = per_minute / 60.0
    return {
        "table": cfg.name,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "total": total,
        "counts": counts,
        "lost": lost,
        "per_minute": round(per_minute, 2),
        "eta_seconds": round(remaining / per_second, 1) if per_second > 0 and remaining else None,
        "minutes": minutes,
        "errors": errors,
        "usage": usage,  # what ended attempts used, per outcome (status_data.usage_by_outcome)
        "memory_limit_mb": cfg.memory_limit_mb,
        **hosts,
        "error_bars": opts.error_bars,
        "over": opts.over,
        "effects": combine(effect_rows),
        "best": best,
        "logtable": logtable,
    }


Task = Callable[[Experimenter], Any]


def parallel(exp: Experimenter, tasks: Sequence[Task]) -> list[Any]:
    """The tasks' answers, the first on `exp`'s connection, the others at the same time on
    connections of their own. Concurrent passes over one MariaDB table share the pages read
    (three passes over 1M rows: 2.3 s together, 5.8 to 6.9 s one after the other), and
    SQLite's readers run side by side under WAL."""
    def run(task: Task) -> Any:
        own = Experimenter(exp.config)
        try:
            return task(own)
        finally:
            own.close()

    if len(tasks) < 2:
        return [task(exp) for task in tasks]
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = [pool.submit(run, task) for task in tasks[1:]]
        first = tasks[0](exp)
        return [first, *(f.result() for f in futures)]


def recent_rate(minutes: Sequence[Mapping[str, int]], window: int = RATE_MINUTES) -> float:
    """Rows finished per minute over the last few minutes, read off the per-minute counts
    (one query fewer than `pyexp status`'s finer measure, which scans the table per window)."""
    recent = minutes[-window:]
    return sum(m["done"] + m["error"] for m in recent) / len(recent) if recent else 0.0


def error_groups(exp: Experimenter, examples: int = 5) -> list[dict[str, Any]]:
    """Failed rows by the last line of their traceback (the summary kept with each error, as
    `pyexp status` groups them), with example ids and, for the largest groups, the last lines
    of the first example's traceback."""
    store = exp.store
    groups = store.error_groups(examples=examples)
    for i, group in enumerate(groups):
        group["tail"] = []
        if i < TAIL_GROUPS and group["example_ids"]:
            found = store.rows(None, {"ID": group["example_ids"][0]})
            text = str(found[0].get("error") or "") if found else ""
            group["tail"] = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()][-_TAIL_LINES:]
    return groups


def outcomes(exp: Experimenter) -> dict[str, Any]:
    """Attempts per host and per worker by outcome; a host where most finished attempts did
    not end `done` is flagged, since a broken node fails every run sent to it."""
    hosts: dict[str, dict[str, int]] = {}
    workers: dict[str, dict[str, int]] = {}
    kinds: set[str] = set()
    for row in exp.store.host_outcomes():
        outcome, n = str(row["outcome"]), int(row["n"])
        kinds.add(outcome)
        for table, key in ((hosts, row["machine"]), (workers, row["worker"])):
            entry = table.setdefault(str(key or "?"), {})
            entry[outcome] = entry.get(outcome, 0) + n
    order = sorted(kinds, key=lambda k: (k not in ("done", "error", "running"), k))

    def listed(table: dict[str, dict[str, int]], limit: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, seen in table.items():
            ended = sum(v for k, v in seen.items() if k != "running")
            bad = ended - seen.get("done", 0)
            out.append({"name": name, "counts": seen, "total": sum(seen.values()),
                        "suspect": ended >= 3 and bad * 2 > ended})
        out.sort(key=lambda e: (not e["suspect"], -e["total"], e["name"]))
        return out[:limit]

    return {"outcome_kinds": order, "hosts": listed(hosts, 200), "workers": listed(workers, 50)}


Moments = tuple[int, float, float]  # count, mean, sum of squared deviations (M2)


def _merge(a: Moments | None, b: Moments) -> Moments:
    """Two groups' moments as one (Chan, Golub and LeVeque's pairwise update): exact up to
    rounding, without the cancellation of subtracting squared means."""
    if a is None:
        return b
    n = a[0] + b[0]
    delta = b[1] - a[1]
    return n, a[1] + delta * b[0] / n, a[2] + b[2] + delta * delta * a[0] * b[0] / n


def _spread(m: Moments) -> float:
    """Sample standard deviation (ddof=1, as pandas)."""
    return math.sqrt(max(m[2], 0.0) / (m[0] - 1)) if m[0] > 1 else 0.0


def _bar(std: float, n: int, kind: str) -> float:
    return 1.96 * std / math.sqrt(n) if kind == "ci95" and n > 0 else std


def domain_sizes(grid: AnyGrid) -> dict[str, int]:
    """How many values each parameter can take (at most), from the config's grid."""
    sizes: dict[str, int] = {}
    for part in grid.parts if not isinstance(grid, Grid) else (grid,):
        for factor in part.factors:
            for name in factor.names:
                sizes[name] = sizes.get(name, 0) + len(factor.values)
    return sizes


def batches(params: Sequence[str], sizes: Mapping[str, int], over: str | None) -> list[list[str]]:
    """Parameters grouped for joint GROUP BYs, smallest domains first, each batch's groups
    (times --over's values) under MAX_CELLS; a parameter too large alone gets its own."""
    unknown = MAX_CELLS + 1
    out: list[list[str]] = []
    cells = base = sizes.get(over, unknown) if over else 1
    for p in sorted(params, key=lambda p: sizes.get(p, unknown)):
        size = max(sizes.get(p, unknown), 1)
        if out and out[-1] and cells * size <= MAX_CELLS:
            out[-1].append(p)
            cells *= size
        else:
            out.append([p])
            cells = base * size
    return out


def effect_queries(exp: Experimenter, opts: ReportOptions) -> tuple[list[Task], Callable[[list[Any]], Any]]:
    """The GROUP BYs behind `effects` (one per batch of parameters, to run on any connection)
    and the function combining their rows, in the same order, into the effects."""
    results = numeric_results(exp)
    params = [p for p in exp.config.parameters if p != opts.over]
    if not results or not params:
        return [], lambda rows: []
    store = exp.store
    sel = selection(store, status=["done"])
    spread = "std" if "std" in store.aggregates_in_sql() else "sq"
    plan = tuple((func, r) for r in results for func in ("count", "mean", spread))
    shifts = _shifts(exp, results) if spread == "sq" else dict.fromkeys(results, 0.0)
    # SQLite's mean squares bind their shift twice, before the WHERE's values
    args = [*(v for r in results for v in (shifts[r], shifts[r]) if spread == "sq"), *sel.args]
    keyed = [[*batch, *([opts.over] if opts.over else [])]
             for batch in batches(params, domain_sizes(exp.config.grid), opts.over)]

    def read(keys: list[str]) -> Task:
        groups = tuple((c, sel.kinds[c]) for c in keys)
        return lambda e: e.store.select_groups(groups, plan, sel.where_parts(), args)

    def combine(answers: list[Any]) -> list[dict[str, Any]]:
        # (parameter, result) -> value -> moments; with --over, value -> over's value -> moments
        found: dict[tuple[str, str], dict[Any, Any]] = {(p, r): {} for p in params for r in results}
        for keys, rows in zip(keyed, answers):
            batch = keys[:-1] if opts.over else keys
            decoders = [decoder(store, c) for c in keys]
            for row in rows:
                key = [v if f is None or v is None else f(v) for f, v in zip(decoders, row[: len(keys)])]
                values = row[len(keys) + 1:]
                for j, r in enumerate(results):
                    cell = _moments(values[3 * j: 3 * j + 3], spread, shifts[r])
                    if cell is None:
                        continue
                    for p, value in zip(batch, key):
                        by_value = found[(p, r)]
                        if opts.over is None:
                            by_value[value] = _merge(by_value.get(value), cell)
                        else:
                            nested = by_value.setdefault(value, {})
                            nested[key[-1]] = _merge(nested.get(key[-1]), cell)
        return [{"parameter": p, "result": r, "points": _points(found[(p, r)], opts.over is not None, opts.error_bars)}
                for p in params for r in results]

    return [read(keys) for keys in keyed], combine


def _shifts(exp: Experimenter, results: Sequence[str]) -> dict[str, float]:
    """Per result, a value of some done row: SQLite's mean squares are taken about it, since
    about zero a mean 1e6 times the spread leaves the spread no significant digit."""
    shifts = dict.fromkeys(results, 0.0)
    for row in reversed(exp.store.sample_rows(list(results), limit=10)):
        for r in results:
            if row[r] is not None and math.isfinite(float(row[r])):
                shifts[r] = float(row[r])
    return shifts


def _moments(values: Sequence[Any], spread: str, shift: float = 0.0) -> Moments | None:
    """One group's (count, mean, M2) from SQL's count, mean and either std (MariaDB) or the
    mean square about `shift` (SQLite)."""
    n = int(values[0] or 0)
    if not n:
        return None
    mean = float(values[1])
    if spread == "std":
        m2 = (n - 1) * float(values[2] or 0.0) ** 2
    else:
        m2 = max(n * (float(values[2]) - (mean - shift) ** 2), 0.0)
    return n, mean, m2


def _points(by_value: Mapping[Any, Any], nested: bool, kind: str) -> list[dict[str, Any]]:
    points = []
    for value in _sorted(by_value)[:MAX_GROUPS]:
        if nested:  # one mean per value of --over; the bar spans them
            means = [m[1] for m in by_value[value].values()]
            total: Moments | None = None
            for m in means:
                total = _merge(total, (1, m, 0.0))
            assert total is not None
        else:
            total = by_value[value]
        n, mean, std = total[0], total[1], _spread(total)
        points.append({"value": value, "mean": mean, "error": _bar(std, n, kind), "n": n})
    return points


def _sorted(values: Iterable[Any]) -> list[Any]:
    """Parameter values in order, missing ones first (as SQL's ORDER BY put them)."""
    items = list(values)
    try:
        return sorted(items, key=lambda v: (v is not None, v))
    except TypeError:  # values of mixed types (a JSON column): by their text
        return sorted(items, key=lambda v: (v is not None, str(v)))


def best_rows(exp: Experimenter, opts: ReportOptions) -> dict[str, Any] | None:
    results = numeric_results(exp)
    by = opts.best_by or (results[0] if results else None)
    if by is None or opts.best <= 0:
        return None
    columns = [*exp.config.parameters, *exp.config.results]
    rows = exp.store.best_rows(columns, by, descending=not opts.minimize, limit=opts.best)
    return {"by": by, "minimize": opts.minimize, "columns": ["ID", *columns],
            "rows": [[_plain(r[c]) for c in ["ID", *columns]] for r in rows]}


def log_curves(exp: Experimenter, name: str) -> dict[str, Any]:
    """Per numeric column of the logtable: mean and std band per step over all runs."""
    columns = [c for c, t in exp.config.logtables[name].items() if t.kind in NUMERIC_KINDS]
    curves: dict[str, list[dict[str, Any]]] = {c: [] for c in columns}
    if columns:
        store = exp.store
        spread = "std" if "std" in store.aggregates_in_sql() else "sq"
        plan = tuple((func, c) for c in columns for func in ("count", "mean", spread))
        shifts = [0.0] * (2 * len(columns) if spread == "sq" else 0)  # steps' spreads: about zero
        rows = store.log_curve(name, columns, plan, shifts, 100_000)
        for row in rows:
            for j, c in enumerate(columns):
                m = _moments(row[2 + 3 * j: 5 + 3 * j], spread)  # after the step and COUNT(*)
                if m is not None:
                    curves[c].append({"step": int(row[0]), "mean": m[1], "n": m[0], "std": _spread(m)})
    return {"name": name, "curves": curves}


def _plain(value: Any) -> Any:
    """JSON-ready: numbers and text stay, anything else (dates, decimals) becomes text."""
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)
