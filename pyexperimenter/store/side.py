"""The side tables: installed-package lists (provenance) and launch records (`pyexp cancel`).

Both are small and written rarely (once per worker process, once per launch), so they
live next to the experiment table instead of in files: any login node that reaches the
database sees which jobs a launch submitted, and a package list is kept once however many
attempts ran with it. Each call first makes sure the tables and the attempts' provenance
columns exist (`ddl.ensure_side`), so tables filled by an earlier version need no refill.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from . import ddl
from .reports import decode_row

T = TypeVar("T")
Cursor = Any


class SideTables:
    """Mixed into SqlStore: uses its `_transaction`, `_run` and `_fetch_dicts`."""

    _side_ready = False  # ensure_side ran on this store

    def _side(self, body: Callable[[Cursor], T]) -> T:
        store: Any = self

        def run(cur: Cursor) -> T:
            if not self._side_ready:
                ddl.ensure_side(store, cur)
            return body(cur)

        result: T = store._transaction(run)
        self._side_ready = True
        return result

    def record_packages(self, packages_hash: str, packages: str) -> None:
        store: Any = self

        def body(cur: Cursor) -> None:
            if store._run(cur, "known_packages", (packages_hash,)).fetchone() is None:
                store._run(cur, "record_packages", (packages_hash, packages))

        self._side(body)

    def provenance(self) -> list[dict[str, Any]]:
        store: Any = self
        found = self._side(lambda cur: store._fetch_dicts(store._run(cur, "latest_provenance")))
        return [decode_row(store, row) for row in found]

    def record_launch(self, kind: str, job_ids: Sequence[str], host: str) -> list[int]:
        store: Any = self

        def body(cur: Cursor) -> list[int]:
            ids = []
            for job_id in job_ids:
                ids.append(int(store._run(cur, "record_launch", (kind, str(job_id), host)).lastrowid))
            return ids

        return self._side(body)

    def launches(self) -> list[dict[str, Any]]:
        store: Any = self
        found = self._side(lambda cur: store._fetch_dicts(store._run(cur, "active_launches")))
        return [decode_row(store, row) for row in found]

    def launch_ended(self, job_id: str) -> bool:
        store: Any = self
        return bool(self._side(lambda cur: store._run(cur, "launch_ended", (job_id,)).fetchone()[0]))

    def end_launches(self, ids: Sequence[int]) -> None:
        store: Any = self
        if ids:
            self._side(lambda cur: store._run(cur, "end_launches", list(ids), ids=len(ids)))

    def reopen_launches(self, ids: Sequence[int]) -> None:
        store: Any = self
        if ids:
            self._side(lambda cur: store._run(cur, "reopen_launches", list(ids), ids=len(ids)))
