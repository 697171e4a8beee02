"""Adopting a table PyExperimenter 1.4 made: our bookkeeping columns are added in place and
its rows hashed, so fills, workers and `pyexp status` work on it while PyExperimenter 1.4.2
can still read it. Nothing here rewrites a row's ids, parameters or results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from typing import Any

from ...params.grid import parameter_hash
from ...sqltypes import SqlType
from ..sql.schema import MAIN_HEAD, MAIN_TAIL
from .session import Cursor, Session

_ID_TYPE = SqlType("INT", "int")

# What PyExperimenter 1.4 puts in every table besides the parameters and results.
PYEXPERIMENTER_COLUMNS = frozenset({"id", *(c.name.lower() for c in MAIN_HEAD), "end_date", "error"})


def adoptable(have: Set[str]) -> bool:
    """Whether a table without our columns (lower-cased names `have`) is PyExperimenter's."""
    return PYEXPERIMENTER_COLUMNS <= have


def add_columns(session: Session, cur: Cursor, have: set[str]) -> None:
    """Our bookkeeping columns the table lacks, added in place; its rows stay untouched."""
    for col in MAIN_TAIL:
        if col.name.lower() not in have:
            session.run(cur, "adopt_column", internal_column=col.name)
            have.add(col.name.lower())


def hash_unhashed(session: Session, cur: Cursor, rank: Callable[[], int]) -> int:
    """Give rows without a parameter hash (an adopted table's, or rows PyExperimenter 1.4
    added since) their hash, so fills skip them. A row that repeats another's parameters
    (PyExperimenter does not prevent that) is hashed with its id, so the unique index holds."""
    schema = session.schema
    rows = session.fetch_dicts(session.run(cur, "adopt_unhashed"))
    if not rows:
        return 0
    digests = [parameter_hash(session.decode_params(r), schema.parameters) for r in rows]
    taken: set[str] = set()
    unique = sorted(set(digests))
    for start in range(0, len(unique), 500):
        part = unique[start : start + 500]
        taken.update(r[0] for r in session.run(cur, "existing_hashes", part, hashes=len(part)).fetchall())
    with_id = {**schema.parameters, "ID": _ID_TYPE}
    updates = []
    for row, digest in zip(rows, digests):
        if digest in taken:
            digest = parameter_hash({**session.decode_params(row), "ID": row["ID"]}, with_id)
        taken.add(digest)
        updates.append((digest, rank(), row["ID"]))
    session.run(cur, "adopt_hash", updates, many=True)
    return len(updates)


def find(session: Session, parameters: Mapping[str, Any]) -> tuple[int, str] | None:
    """The id and status of the row with these parameters, if there is one (PyExperimenter's
    per-row calls on a table it shares with our workers)."""
    digest = parameter_hash(parameters, session.schema.parameters)
    row = session.transaction(lambda cur: session.run(cur, "find_by_hash", (digest,)).fetchone())
    return None if row is None else (int(row[0]), str(row[1]))
