"""Tables as an earlier version of pyexperimenter left them."""

from __future__ import annotations

from typing import Any

from pyexperimenter.store.sql.queries import trigger_name

TRIGGER_KINDS = ("upd", "del", "ains", "aupd", "adel")


def without_counters(exp: Any) -> None:
    """No counters table and no triggers (store/engine/counters.py), as before 2026-12-05."""
    store: Any = exp.store

    def body(cur: Any) -> None:
        for kind in TRIGGER_KINDS:
            store.session.execute(cur, f"DROP TRIGGER IF EXISTS {store.q(trigger_name(store.schema.name, kind))}")
        store.session.run(cur, "drop_table", target=store.schema.counts_table)

    store.session.transaction(body)
