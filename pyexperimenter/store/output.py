"""Old home of StagedOutput, kept while store/memory_output.py still imports it (that module
is being deleted); new code imports store.engine.output."""

from __future__ import annotations

from .engine.output import StagedOutput

__all__ = ["StagedOutput"]
