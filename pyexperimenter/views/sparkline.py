"""A row of block characters for a series of counts: throughput at a glance in a terminal."""

from __future__ import annotations

from collections.abc import Sequence

_BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[int]) -> str:
    """One character per value, scaled to the largest; a zero is a blank, any non-zero value
    at least the lowest block, so a single finished row in a quiet hour still shows."""
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    steps = len(_BLOCKS) - 1
    return "".join(_BLOCKS[0] if v <= 0 else _BLOCKS[max(1, round(steps * v / top))] for v in values)
