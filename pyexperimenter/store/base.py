"""Old home of the Store contract, kept while store/memory.py still imports it (that module
is being deleted); new code imports store.port and store.types."""

from __future__ import annotations

from .port import Store
from .types import Claim, TableSchema, WorkerIdentity, new_token

__all__ = ["Claim", "Store", "TableSchema", "WorkerIdentity", "new_token"]
