"""Durations and id lists as short text, alike in the terminal views and the HTML report.

Kept apart from the data (status_data.py) so that the renderings format without importing
the Experimenter and the store behind it.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_duration(seconds: float | None) -> str:
    """5.2s, 42s, 3m07s, 5h02m, 3d04h: the two leading units, enough to read at a glance."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{max(seconds, 0):.1f}s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{m:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def format_ids(ids: Sequence[int], limit: int = 12) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'; long lists end in '... (N ids)'."""
    runs: list[str] = []
    ordered = sorted(ids)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        runs.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    if len(runs) > limit:
        return ", ".join(runs[:limit]) + f", ... ({len(ordered)} ids)"
    return ", ".join(runs)
