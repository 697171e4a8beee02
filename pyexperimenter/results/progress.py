"""Progress bars for the commands that take a while: fill, run, launch --wait and exports.

A bar shows on stderr only when it is a terminal, so pipes and log files get the final
summary line alone. rich is imported when a bar is made, not with this module.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping


class ProgressBar:
    """A rich progress bar on stderr when it is a terminal; silent otherwise, so pipes and
    log files get only the final summary line."""

    def __init__(self, total: int, description: str, enabled: bool | None = None):
        self.enabled = (sys.stderr.isatty() if enabled is None else enabled) and total > 0
        self.total = total
        self._lock = threading.Lock()
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        # No refresh thread: workers are forked while the bar is shown, and forking a
        # process with extra threads is asking for deadlocks. We refresh on every update.
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
            auto_refresh=False,
        )
        self._task = self._bar.add_task(description, total=total, extra="")

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()

    def advance(self, n: int) -> None:
        if self.enabled and n:
            with self._lock:
                self._bar.advance(self._task, n)
                self._bar.refresh()

    def update(self, completed: int, extra: str = "") -> None:
        if self.enabled:
            with self._lock:
                total = max(self.total, completed)
                self._bar.update(self._task, completed=completed, total=total, extra=extra)
                self._bar.refresh()


def follow_counts(bar: ProgressBar, before: Mapping[str, int], show_failed: bool = True) -> Callable[[dict[str, int]], None]:
    """An `on_progress(counts)` callback that moves `bar` by the rows finished since `before`
    (done or error), with the failures among them in red."""

    def update(now: dict[str, int]) -> None:
        failed = now["error"] - before["error"]
        extra = f"[red]{failed} failed[/]" if show_failed and failed > 0 else ""
        bar.update((now["done"] + now["error"]) - (before["done"] + before["error"]), extra=extra)

    return update
