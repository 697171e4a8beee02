"""Parameter domains -> rows, lazily, and the stable hash that makes filling idempotent."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..sqltypes import SqlType


@dataclass(frozen=True)
class Factor:
    """One axis of the cartesian product: a single parameter, or a zip group of several."""

    names: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]

    def without(self, names: Collection[str]) -> Factor | None:
        """This axis minus some parameters (a sub-grid gives them itself); None if none is left."""
        keep = [i for i, n in enumerate(self.names) if n not in names]
        if len(keep) == len(self.names):
            return self
        if not keep:
            return None
        return Factor(tuple(self.names[i] for i in keep), tuple(tuple(v[i] for i in keep) for v in self.values))


@dataclass(frozen=True)
class Grid:
    """The cartesian product of its factors, in the order written; the last varies fastest.

    Rows are generated on demand, so a 1,000,000-row grid costs the memory of its domains only.
    """

    factors: tuple[Factor, ...]

    def __len__(self) -> int:
        return math.prod(len(f.values) for f in self.factors) if self.factors else 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.factors:
            return
        for combo in itertools.product(*(f.values for f in self.factors)):
            row: dict[str, Any] = {}
            for factor, values in zip(self.factors, combo):
                row.update(zip(factor.names, values))
            yield row

    @property
    def names(self) -> list[str]:
        return [n for f in self.factors for n in f.names]


@dataclass(frozen=True)
class GridUnion:
    """Sub-grids (`grids:`) one after the other, into one table: a row leaves the parameters
    its sub-grid does not have unset, and they are stored as NULL (and hashed as null, so a
    refill finds the row again)."""

    parts: tuple[Grid, ...]

    def __len__(self) -> int:
        return sum(len(g) for g in self.parts)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for grid in self.parts:
            yield from grid

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(n for g in self.parts for n in g.names))


AnyGrid = Grid | GridUnion


def integer_or_float_range(start: Any, stop: Any, step: Any) -> list[Any]:
    """Python's range() semantics (stop excluded), extended to floats without drift."""
    if all(isinstance(x, int) and not isinstance(x, bool) for x in (start, stop, step)):
        return list(range(start, stop, step))
    count = math.ceil((stop - start) / step - 1e-9)
    return [round(start + i * step, 12) for i in range(max(0, count))]


def normalise(value: Any, sql_type: SqlType | None) -> Any:
    """A value as its column type stores it, so that equal values hash alike here and in the
    store's fill (1 and 1.0 in a FLOAT column are one row)."""
    kind = sql_type.kind if sql_type else None
    if value is None:
        return None
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "int" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if kind == "bool":
        return bool(value)
    if kind == "decimal":
        return str(value)
    return value


def parameter_hash(row: Mapping[str, Any], columns: Mapping[str, SqlType]) -> str:
    """A digest of the row's parameter values that is the same on every machine and run.

    Values are normalised by column type first (1 and 1.0 in a FLOAT column are one row).
    """
    canonical = {name: normalise(row.get(name), columns.get(name)) for name in sorted(columns)}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode()).hexdigest()
