"""Simulated annealing on the Rastrigin function: a stand-in for a real experiment.

Each row of the table is one (dimensions, cooling, steps, seed) combination; one call of
`run` takes a fraction of a second to a few seconds, like a small model fit. Only the
standard library is used, so the nodes need nothing beyond pyexperimenter.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any


def rastrigin(x: list[float]) -> float:
    return 10 * len(x) + sum(v * v - 10 * math.cos(2 * math.pi * v) for v in x)


def run(parameters: dict[str, Any], result_processor: Any, custom_config: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    rng = random.Random(parameters["seed"])
    dims, steps, cooling = parameters["dimensions"], parameters["steps"], parameters["cooling"]
    x = [rng.uniform(-5.12, 5.12) for _ in range(dims)]
    value = best = rastrigin(x)
    temperature = float(custom_config.get("start_temperature", 10.0))
    every = max(1, steps // int(custom_config.get("log_points", 10)))
    for step in range(1, steps + 1):
        candidate = [v + rng.gauss(0, 0.3) for v in x]
        cand_value = rastrigin(candidate)
        if cand_value < value or rng.random() < math.exp((value - cand_value) / max(temperature, 1e-12)):
            x, value = candidate, cand_value
            best = min(best, value)
        temperature *= cooling
        if step % every == 0:  # a time series per experiment, in table anneal__progress
            result_processor.process_logs({"progress": {"step": step, "best": best, "temperature": temperature}})
    return {"best": best, "final": value, "seconds": time.perf_counter() - started}
