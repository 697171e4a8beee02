"""Tables as an earlier version of pyexperimenter left them."""

from __future__ import annotations

from typing import Any


def without_counters(exp: Any) -> None:
    """No counters table and no triggers (store/engine/counters.py), as before 2026-12-05."""
    store: Any = exp.store

    def body(cur: Any) -> None:
        for kind in ("upd", "del", "ains", "aupd", "adel"):
            store.session.run(cur, "drop_trigger", trigger_kind=kind)  # each database's own form
        store.session.run(cur, "drop_table", target=store.schema.counts_table)

    store.session.transaction(body)
