"""Sampled parameter domains (random search), drawn so that a grid can grow without moving.

Value i of a domain is drawn from a generator of its own, seeded with the domain's seed,
the parameter's name and i, and nothing else. So the first k values never change when
`samples` grows: re-running a fill adds nothing, and raising `samples` from 5 to 10 adds
exactly the rows of the five new values. Two parameters with the same seed still draw
independent values, because the name is part of each generator's seed.

Only `random.Random(str)` seeding (SHA-512 of the text), `random()` and `getrandbits()` are
used: their output is the same on every platform and Python 3 version, which a table filled
on a laptop and refilled on a cluster relies on. The transforms (inverse CDFs, Box-Muller)
are written here for the same reason, rather than borrowed from `random`'s helpers, whose
algorithms are not promised to stay.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# distribution -> the keys it needs, besides `distribution`, `samples`, `seed` and `type`
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "normal": ("mean", "std"),
    "randint": ("low", "high"),
    "choice": ("values",),
}
OPTIONAL_KEYS: dict[str, tuple[str, ...]] = {"choice": ("weights",)}


@dataclass(frozen=True)
class Sampled:
    """A checked sampled domain: `draw(i)` is value i, for any i, in any order."""

    distribution: str
    args: Mapping[str, Any]
    seed: int | str
    name: str

    def draw(self, index: int) -> Any:
        rng = random.Random(f"{self.seed}:{self.name}:{index}")
        return _DRAW[self.distribution](rng, self.args)

    def values(self, samples: int) -> list[Any]:
        return [self.draw(i) for i in range(samples)]


def _uniform(rng: random.Random, a: Mapping[str, Any]) -> float:
    return float(a["low"] + (a["high"] - a["low"]) * rng.random())


def _loguniform(rng: random.Random, a: Mapping[str, Any]) -> float:
    low, high = math.log(a["low"]), math.log(a["high"])
    return math.exp(low + (high - low) * rng.random())


def _normal(rng: random.Random, a: Mapping[str, Any]) -> float:
    u1 = 1.0 - rng.random()  # in (0, 1]: log() is defined
    u2 = rng.random()
    return float(a["mean"] + a["std"] * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2))


def below(rng: random.Random, n: int) -> int:
    """Uniform in [0, n) by rejection on `getrandbits`, free of modulo bias."""
    bits = max(1, n.bit_length())
    while True:
        r = rng.getrandbits(bits)
        if r < n:
            return r


def _randint(rng: random.Random, a: Mapping[str, Any]) -> int:
    return int(a["low"] + below(rng, a["high"] - a["low"] + 1))  # both ends included


def _choice(rng: random.Random, a: Mapping[str, Any]) -> Any:
    values: Sequence[Any] = a["values"]
    weights: Sequence[float] | None = a.get("weights")
    if weights is None:
        return values[below(rng, len(values))]
    cumulative = list(itertools.accumulate(weights))
    return values[min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(values) - 1)]


_DRAW: dict[str, Callable[[random.Random, Mapping[str, Any]], Any]] = {
    "uniform": _uniform,
    "loguniform": _loguniform,
    "normal": _normal,
    "randint": _randint,
    "choice": _choice,
}


def problem(distribution: str, args: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    """What is wrong with the arguments of a distribution, as (key, expected, got); None if
    nothing. Checked before any value is drawn, so a bad domain never half-fills a table."""
    number = (int, float)
    if distribution == "choice":
        return _choice_problem(args)
    for key in DISTRIBUTIONS[distribution]:
        value = args[key]
        integral = distribution == "randint"
        if isinstance(value, bool) or not isinstance(value, int if integral else number):
            return key, "an integer" if integral else "a number", value
    if distribution in ("uniform", "randint") and args["high"] < args["low"]:
        return "high", f"a number >= low ({args['low']})", args["high"]
    if distribution == "loguniform":
        if args["low"] <= 0:
            return "low", "a number > 0", args["low"]
        if args["high"] < args["low"]:
            return "high", f"a number >= low ({args['low']})", args["high"]
    if distribution == "normal" and args["std"] < 0:
        return "std", "a number >= 0", args["std"]
    return None


def _choice_problem(args: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    values, weights = args["values"], args.get("weights")
    if not isinstance(values, list) or not values:
        return "values", "a non-empty list", values
    if weights is None:
        return None
    if not isinstance(weights, list) or len(weights) != len(values):
        return "weights", f"a list of {len(values)} numbers (one per value)", weights
    if any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in weights) or sum(weights) <= 0:
        return "weights", "numbers >= 0, not all 0", weights
    return None
