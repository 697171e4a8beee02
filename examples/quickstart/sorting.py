"""Sort a random list with one algorithm; count comparisons and time it."""

from __future__ import annotations

import random
import time
from typing import Any


def insertion_sort(items: list[float], counter: list[int]) -> list[float]:
    items = list(items)
    for i in range(1, len(items)):
        current, j = items[i], i - 1
        while j >= 0:
            counter[0] += 1
            if items[j] <= current:
                break
            items[j + 1] = items[j]
            j -= 1
        items[j + 1] = current
    return items


def merge_sort(items: list[float], counter: list[int]) -> list[float]:
    if len(items) <= 1:
        return list(items)
    middle = len(items) // 2
    left, right = merge_sort(items[:middle], counter), merge_sort(items[middle:], counter)
    merged, i, j = [], 0, 0
    while i < len(left) and j < len(right):
        counter[0] += 1
        if left[i] <= right[j]:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    return merged + left[i:] + right[j:]


class Counted(float):
    """A float that counts how often the built-in sort compares it."""

    counter = [0]

    def __lt__(self, other: object) -> bool:
        Counted.counter[0] += 1
        return float(self) < float(other)  # type: ignore[arg-type]


def builtin_sort(items: list[float], counter: list[int]) -> list[float]:
    Counted.counter = counter
    return [float(x) for x in sorted(Counted(x) for x in items)]


ALGORITHMS = {"insertion": insertion_sort, "merge": merge_sort, "builtin": builtin_sort}


def run(parameters: dict[str, Any], result_processor: Any, custom_config: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(parameters["seed"])
    items = [rng.random() for _ in range(parameters["length"])]
    counter = [0]
    started = time.perf_counter()
    result = ALGORITHMS[parameters["algorithm"]](items, counter)
    seconds = time.perf_counter() - started
    assert result == sorted(items), "not sorted"  # a failed check would mark the row `error`
    return {"seconds": seconds, "comparisons": counter[0]}
