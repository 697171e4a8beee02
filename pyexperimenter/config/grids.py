"""The `parameters:` and `grids:` sections of the native format: lists, ranges, `zip`
groups, sampled domains and `random` blocks, and sub-grids whose union is the table.

The key sets here belong to the format as much as those of config/native.py: unknown keys
are errors, and the documentation test reads both modules to check every key is documented.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from ..errors import ValueRefused
from ..params.grid import AnyGrid, Factor, Grid, GridUnion, integer_or_float_range
from ..params.sampling import DISTRIBUTIONS, OPTIONAL_KEYS, Sampled, problem
from ..sqltypes import SqlType, infer_type
from .sections import Section

# Rows a config's grid may have unless `experiment.max_grid_rows` allows more: a typo in a
# range (10**6 for 10**3) is refused before a fill writes for an hour or a list exhausts memory.
DEFAULT_MAX_GRID_ROWS = 10_000_000
CHECKED_VALUES = 100_000  # a longer axis (a range) has its ends checked against the column type
ZIP_KEY = "zip"
RANDOM_KEY = "random"
RANGE_KEYS = frozenset({"start", "stop", "step"})
DOMAIN_KEYS = RANGE_KEYS | {"values", "type"}
# A sampled domain: `distribution`, its arguments (sampling.DISTRIBUTIONS), how many values
# and the seed; inside a `random` block (several parameters drawn jointly, SEML's form)
# samples and seed are the block's.
SAMPLE_KEYS = frozenset({"distribution", "low", "high", "mean", "std", "values", "weights", "samples", "seed", "type"})
BLOCK_KEYS = frozenset({"samples", "seed"})


class _Columns:
    """The parameter columns of all (sub-)grids and their types. A parameter in several
    sub-grids is one column, so it gets one type: inferred types widen (BIGINT and DOUBLE to
    DOUBLE, VARCHAR and TEXT to TEXT), a list of nulls only takes the other's type, a `type`
    given wins over an inferred one of its kind (and a FLOAT over inferred integers);
    anything else is an error."""

    def __init__(self, max_rows: int = DEFAULT_MAX_GRID_ROWS) -> None:
        self.max_rows = max_rows
        self.types: dict[str, SqlType] = {}
        self.where: dict[str, str] = {}
        self.loose: set[str] = set()  # inferred, not given with `type`
        self.nulls: set[str] = set()  # inferred from nulls only: any type will do

    def add(self, sec: Section, name: str, values: list[Any], explicit: SqlType | None) -> None:
        new, loose, nulls = explicit or infer_type(values), explicit is None, all(v is None for v in values)
        if name in self.types:
            if loose and nulls:
                return
            if name not in self.nulls:
                new = self._agree(sec, name, self.types[name], new, loose)
                loose = loose and name in self.loose
        self.types[name] = new
        self.where.setdefault(name, sec.path(name))
        for flag, group in ((loose, self.loose), (loose and nulls, self.nulls)):
            if flag:
                group.add(name)
            else:
                group.discard(name)

    def _agree(self, sec: Section, name: str, have: SqlType, new: SqlType, loose: bool) -> SqlType:
        was_loose = name in self.loose
        if have == new:
            return have
        if have.kind == new.kind and (loose or was_loose):
            if loose and was_loose:
                return new if new.name == "TEXT" else have
            return have if loose else new
        if {have.kind, new.kind} == {"int", "float"}:  # to the float column, if the int side is inferred
            if have.kind == "float" and loose:
                return have
            if new.kind == "float" and was_loose:
                return new
        raise sec.error(f"expected the type it has in {self.where[name]} ({have.name}); give every grid the same "
                        "`type`", new.name, name)


def read_grids(top: Section, max_rows: int = DEFAULT_MAX_GRID_ROWS, limit_key: str = "experiment.max_grid_rows"
               ) -> tuple[dict[str, SqlType], AnyGrid]:
    """The parameter columns and the grid, refused when the grid has more than `max_rows`
    rows or a value its column cannot hold exactly, before anything is written."""
    columns, grid = _read_grids(top, _Columns(max_rows))
    if len(grid) > max_rows:
        raise top.error(f"the grid has {len(grid):,} rows, more than {limit_key} ({max_rows:,}) allows; "
                        f"shrink a range or raise {limit_key}")
    for factor in grid.factors if isinstance(grid, Grid) else [f for g in grid.parts for f in g.factors]:
        check_values(top.child("parameters", top.data.get("parameters")), factor, columns.types)
    return columns.types, grid


def check_values(sec: Section, factor: Factor, types: dict[str, SqlType]) -> None:
    """Each listed value against its column's final type (a value too long for a VARCHAR is
    refused here rather than cut by the database)."""
    rows = factor.values if len(factor.values) <= CHECKED_VALUES else (factor.values[0], factor.values[-1])
    for i, name in enumerate(factor.names):
        sql_type = types[name]
        for row in rows:
            try:
                sql_type.check(row[i])
            except ValueRefused as e:
                raise sec.error(e.detail, None, name) from None


def _read_grids(top: Section, columns: _Columns) -> tuple[_Columns, AnyGrid]:
    """`parameters:` alone is one grid. With `grids:`, each entry is crossed with
    `parameters:` (a parameter the entry gives itself replaces the shared one there) and
    the union of the entries is the table."""
    base_sec = top.section("parameters")
    raw = top.data.get("grids")
    if raw is None and not base_sec.data:
        raise base_sec.error("expected at least one parameter (the grid is empty)")
    base = _factors(base_sec, columns) if base_sec.data else []
    if raw is None:
        return columns, Grid(tuple(base))
    if not isinstance(raw, list) or not raw:
        raise top.error("expected a list of grids, each a mapping like `parameters:`", raw, "grids")
    parts = []
    for i, entry in enumerate(raw):
        sub = top.child(f"grids[{i}]", entry)
        if not sub.data:
            raise sub.error("expected a mapping of parameters (an empty grid adds no rows)")
        own = _factors(sub, columns, shared=True)
        names = {n for f in own for n in f.names}
        shared = [f for f in (b.without(names) for b in base) if f is not None]
        parts.append(Grid((*shared, *own)))
    return columns, GridUnion(tuple(parts))


def _factors(sec: Section, columns: _Columns, shared: bool = False) -> list[Factor]:
    """The axes of one grid. `shared`: a sub-grid, whose parameters may also appear in
    `parameters:` and in other sub-grids."""
    factors: list[Factor] = []
    seen: set[str] = set()
    for key, spec in sec.data.items():
        if key in (ZIP_KEY, RANDOM_KEY):
            groups = spec if isinstance(spec, list) else [spec]
            for i, group in enumerate(groups):
                gsec = sec.child(key if len(groups) == 1 else f"{key}[{i}]", group)
                factors.append((_zip_factor if key == ZIP_KEY else _random_factor)(gsec, columns, seen))
            continue
        col = _new_parameter(sec, key, seen if shared else columns.types, seen)
        values, explicit = read_domain(sec, col, spec, columns.max_rows)
        columns.add(sec, col, values, explicit)
        factors.append(Factor((col,), tuple((v,) for v in values)))
    return factors


def _new_parameter(sec: Section, key: Any, taken: Collection[str], seen: set[str]) -> str:
    col = sec.column(key)
    if col in taken or col in seen:
        raise sec.error("parameter is listed twice", None, col)
    seen.add(col)
    return col


def _zip_factor(zsec: Section, columns: _Columns, seen: set[str]) -> Factor:
    """Lists of equal length, taken side by side: one axis of the product."""
    if not zsec.data:
        raise zsec.error("expected a mapping of parameter lists of equal length")
    names, lists = [], []
    for key, spec in zsec.data.items():
        col = _new_parameter(zsec, key, (), seen)
        values, explicit = read_domain(zsec, col, spec, columns.max_rows)
        columns.add(zsec, col, values, explicit)
        names.append(col)
        lists.append(values)
    lengths = {len(v) for v in lists}
    if len(lengths) != 1:
        detail = ", ".join(f"{n}: {len(v)}" for n, v in zip(names, lists))
        raise zsec.error(f"zipped lists must have equal lengths ({detail})")
    return Factor(tuple(names), tuple(zip(*lists)))


def _random_factor(rsec: Section, columns: _Columns, seen: set[str]) -> Factor:
    """Several parameters sampled jointly: draw i of each makes row i of one axis."""
    samples, seed = _samples_and_seed(rsec, columns.max_rows)
    names, lists = [], []
    for key, spec in rsec.data.items():
        if key in BLOCK_KEYS:
            continue
        col = _new_parameter(rsec, key, (), seen)
        if not isinstance(spec, dict) or "distribution" not in spec:
            raise rsec.error("expected a sampled domain {distribution, ...}", spec, col)
        psec = rsec.child(col, spec, SAMPLE_KEYS - BLOCK_KEYS)
        values = _sampled(psec, col).values(samples)
        columns.add(rsec, col, values, psec.sql_type("type", spec["type"]) if "type" in spec else None)
        names.append(col)
        lists.append(values)
    if not names:
        raise rsec.error("expected samples, an optional seed and at least one sampled parameter")
    return Factor(tuple(names), tuple(zip(*lists)))


def _samples_and_seed(sec: Section, limit: int) -> tuple[int, int | str]:
    samples = sec.get("samples", int, required=True)
    if samples <= 0:
        raise sec.error("expected a positive integer", samples, "samples")
    if samples > limit:
        raise sec.error(f"expected at most {limit:,} samples (experiment.max_grid_rows)", samples, "samples")
    return samples, sec.get("seed", (int, str), 0)


def _sampled(sub: Section, name: str) -> Sampled:
    """A checked sampled domain; its arguments are validated before anything is drawn."""
    dist = sub.get("distribution", str, required=True)
    if dist not in DISTRIBUTIONS:
        raise sub.error(f"expected one of {', '.join(DISTRIBUTIONS)}", dist, "distribution")
    needed, optional = DISTRIBUTIONS[dist], OPTIONAL_KEYS.get(dist, ())
    allowed = {"distribution", "type", *needed, *optional, *BLOCK_KEYS}
    for key in sub.data:
        if key not in allowed:
            raise sub.error(f"unknown key for distribution {dist}; expected one of {', '.join(sorted(allowed))}",
                            None, str(key))
    for key in needed:
        if sub.data.get(key) is None:
            raise sub.error("is required", None, key)
    args = {k: sub.data[k] for k in (*needed, *optional) if sub.data.get(k) is not None}
    bad = problem(dist, args)
    if bad is not None:
        raise sub.error(f"expected {bad[1]}", bad[2], bad[0])
    seed = sub.get("seed", (int, str), 0)
    return Sampled(dist, args, seed, name)


def read_domain(sec: Section, key: str, spec: Any, limit: int = DEFAULT_MAX_GRID_ROWS) -> tuple[list[Any], SqlType | None]:
    """One parameter's values: a list, a range mapping, {values, type}, a sampled domain
    or a fixed scalar; and the SQL type, when one is given (else it is inferred)."""
    if isinstance(spec, list):
        if not spec:
            raise sec.error("expected a non-empty list (the grid would be empty)", spec, key)
        return spec, None
    if isinstance(spec, dict) and "distribution" in spec:
        sub = sec.child(key, spec, SAMPLE_KEYS)
        sql_type = sub.sql_type("type", spec["type"]) if "type" in spec else None
        samples, _ = _samples_and_seed(sub, limit)
        return _sampled(sub, key).values(samples), sql_type
    if isinstance(spec, dict):
        sub = sec.child(key, spec, DOMAIN_KEYS)
        sql_type = sub.sql_type("type", spec["type"]) if "type" in spec else None
        if "values" in spec:
            if RANGE_KEYS & set(spec):
                raise sub.error("give either values or start/stop/step, not both")
            values, _ = read_domain(sec, key, spec["values"], limit)
            return values, sql_type
        return _range(sub, limit), sql_type
    if isinstance(spec, (str, int, float, bool)) or spec is None:
        return [spec], None
    raise sec.error("expected a list, {start, stop[, step]}, {values[, type]}, {distribution, ...} or a single value",
                    spec, key)


def _range(sub: Section, limit: int) -> list[Any]:
    """Python's range(): stop excluded, as PyExperimenter does; floats allowed."""
    numbers = (int, float)
    start = sub.get("start", numbers, 0)
    stop = sub.get("stop", numbers, required=True)
    step = sub.get("step", numbers, 1)
    if step == 0:
        raise sub.error("expected a non-zero number", step, "step")
    span = (stop - start) / step
    if not math.isfinite(span):
        raise sub.error("expected finite start, stop and step", stop, "stop")
    count = math.ceil(span - 1e-9)
    if count > limit:  # counted before a single value is made: 10**12 must not reach MemoryError
        raise sub.error(f"range has {count:,} values, more than experiment.max_grid_rows ({limit:,}) allows")
    values = integer_or_float_range(start, stop, step)
    if not values:
        raise sub.error(f"range is empty (start {start}, stop {stop} excluded, step {step})")
    return values
