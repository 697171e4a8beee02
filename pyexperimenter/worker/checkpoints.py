"""Each row's checkpoint directory (docs/long-runs.md): `<root>/<ID>`, kept across the
row's attempts, removed when the row is done (unless `experiment.keep_checkpoints`) and by
`pyexp reset`, so a finished or restarted row never resumes from stale files; the whole root
goes with the table (`pyexp delete`), since a table made again reuses its IDs."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("pyexperimenter")


def remove(root: Path, ids: Iterable[int]) -> int:
    """Remove the directories of these rows; returns how many there were. One stat of the
    root when no experiment of the table ever asked for a directory (the usual case)."""
    if not root.is_dir():
        return 0
    removed = 0
    for row_id in ids:
        path = root / str(int(row_id))
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            if path.exists():
                log.warning("experiment %d: its checkpoint directory %s could not be removed", row_id, path)
            else:
                removed += 1
    return removed


def remove_all(root: Path) -> None:
    """Remove the table's whole folder of checkpoint directories."""
    if root.is_dir():
        shutil.rmtree(root, ignore_errors=True)
        if root.exists():
            log.warning("checkpoint directories under %s could not all be removed", root)
