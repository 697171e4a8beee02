"""`--where COL=VALUE` for the commands that choose rows (run, launch, reset, status).

The text is parsed by `results.parse_condition`, the parser of `pyexp results --where`, so
one syntax selects rows everywhere; the store then checks the columns, types the values and
renders SQL with bound values (store/filters.py), so workers claim only matching rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from .results import parse_condition
from .store import Filter, Store


def where_filter(store: Store, where: Iterable[str]) -> Filter:
    """The store's filter for `--where` texts; an InputError line for a bad one."""
    return store.filter(parse_condition(text) for text in where)
