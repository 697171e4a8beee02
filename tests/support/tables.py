"""Tables as an earlier version of pyexperimenter left them."""

from __future__ import annotations

from typing import Any

from pyexperimenter.store.sql.queries import TRIGGER_KINDS


def without_counters(exp: Any) -> None:
    """No counters table and no triggers (store/engine/counters.py, and the error summary's),
    as before 2026-12-05."""
    store: Any = exp.store

    def body(cur: Any) -> None:
        for kind in TRIGGER_KINDS:
            store.session.run(cur, "drop_trigger", trigger_kind=kind)  # each database's own form
        store.session.run(cur, "drop_table", target=store.schema.counts_table)

    store.session.transaction(body)
