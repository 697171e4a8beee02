"""Adopting a table PyExperimenter 1.4 made: our bookkeeping columns are added in place and
its rows hashed, so fills, workers and `pyexp status` work on it while PyExperimenter 1.4.2
can still read it. Nothing here rewrites a row's ids, parameters or results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..params.grid import parameter_hash
from ..sqltypes import SqlType
from .base import Claim, WorkerIdentity, new_token
from .dialect import Dialect
from .schema import MAIN_HEAD, MAIN_TAIL

if TYPE_CHECKING:
    from .sql import SqlStore

Cursor = Any

_ID_TYPE = SqlType("INT", "int")

# What PyExperimenter 1.4 puts in every table besides the parameters and results.
PYEXPERIMENTER_COLUMNS = frozenset({"id", *(c.name.lower() for c in MAIN_HEAD), "end_date", "error"})


def adoptable(have: Set[str]) -> bool:
    """Whether a table without our columns (lower-cased names `have`) is PyExperimenter's."""
    return PYEXPERIMENTER_COLUMNS <= have


def add_columns(store: SqlStore, cur: Cursor, have: set[str]) -> None:
    """Our bookkeeping columns the table lacks, added in place; its rows stay untouched."""
    for col in MAIN_TAIL:
        if col.name.lower() not in have:
            store._run(cur, "adopt_column", internal_column=col.name)
            have.add(col.name.lower())


def internal_column(dialect: Dialect, name: str) -> str:
    """A bookkeeping column added to an adopted table. The parameter hash may be NULL there:
    PyExperimenter 1.4, which keeps writing to the table, inserts rows without one."""
    col = next((c for c in MAIN_TAIL if c.name == name), None)
    if col is None:
        raise InputError(f"{name!r} is not a bookkeeping column")
    if col.name == "param_hash":
        col = replace(col, not_null=False)
    return dialect.column(col)


def hash_unhashed(store: SqlStore, cur: Cursor, rank: Callable[[], int]) -> int:
    """Give rows without a parameter hash (an adopted table's, or rows PyExperimenter 1.4
    added since) their hash, so fills skip them. A row that repeats another's parameters
    (PyExperimenter does not prevent that) is hashed with its id, so the unique index holds."""
    schema = store.schema
    rows = store._fetch_dicts(store._run(cur, "adopt_unhashed"))
    if not rows:
        return 0
    digests = [parameter_hash(store._decode_params(r), schema.parameters) for r in rows]
    taken: set[str] = set()
    unique = sorted(set(digests))
    for start in range(0, len(unique), 500):
        part = unique[start : start + 500]
        taken.update(r[0] for r in store._run(cur, "existing_hashes", part, hashes=len(part)).fetchall())
    with_id = {**schema.parameters, "ID": _ID_TYPE}
    updates = []
    for row, digest in zip(rows, digests):
        if digest in taken:
            digest = parameter_hash({**store._decode_params(row), "ID": row["ID"]}, with_id)
        taken.add(digest)
        updates.append((digest, rank(), row["ID"]))
    store._run(cur, "adopt_hash", updates, many=True)
    return len(updates)


# --- PyExperimenter's per-row calls on a table it shares with our workers


def claim_id(store: SqlStore, who: WorkerIdentity, row_id: int, statuses: Sequence[str]) -> Claim | None:
    """Claim one given row if it is in one of `statuses` (PyExperimenter's
    `unpause_experiment` and `add_experiment_and_execute`); None otherwise."""
    token = new_token()

    def body(cur: Cursor) -> list[dict[str, Any]]:
        found = store._fetch_dicts(store._run(cur, "claim_pick_id", (row_id, *statuses), statuses=len(statuses)))
        if found:
            store._run(cur, "claim_mark", (*store._take_args(who, token), row_id), ids=1)
            store._run(cur, "claim_attempts", (*who.attempt_values, token))
        return found

    found = store._transaction(body)
    if not found:
        return None
    return Claim(row_id, token, int(found[0]["attempts"]) + 1, store._decode_params(found[0]))


def find(store: SqlStore, parameters: Mapping[str, Any]) -> tuple[int, str] | None:
    """The id and status of the row with these parameters, if there is one."""
    digest = parameter_hash(parameters, store.schema.parameters)
    row = store._transaction(lambda cur: store._run(cur, "find_by_hash", (digest,)).fetchone())
    return None if row is None else (int(row[0]), str(row[1]))
