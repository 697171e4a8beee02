"""After a `launch --wait` whose jobs all ended with rows left: why, from the workers' logs.

The table cannot tell a worker that died on its first line from one that was never
scheduled: neither claimed a row. The SLURM log can: a worker that ends on its own always
writes its summary line (`pyexp worker ...: ran N experiment(s)`) last, so a log without it
belongs to a worker that died, and its last lines are usually the reason (an import error,
a refused connection). Quoting them here saves opening one log file after another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

_STARTED = re.compile(r"^pyexp worker \S+: table ", re.M)
_ENDED = re.compile(r"^pyexp worker \S+: ran \d+ experiment", re.M)
QUOTED_LINES = 6
QUOTED_WIDTH = 300


def _task_logs(log_dir: Path, job_ids: Sequence[str]) -> list[Path]:
    """The array tasks' logs in task order (`%A_%a.log`), not the submission scripts."""
    found = []
    for job in job_ids:
        for path in log_dir.glob(f"{job}_*.log"):
            task = path.stem.rsplit("_", 1)[1]
            if task.isdigit():
                found.append((job_ids.index(job), int(task), path))
    return [path for *_, path in sorted(found)]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as e:
        return f"(cannot read: {e.strerror or e})"


def last_lines(text: str, n: int = QUOTED_LINES) -> list[str]:
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    return [ln if len(ln) <= QUOTED_WIDTH else ln[: QUOTED_WIDTH - 3] + "..." for ln in lines[-n:]]


def dead_workers(log_dir: Path | None, job_ids: Sequence[str]) -> str | None:
    """What to tell the user when the jobs are gone and rows are left, or None when every
    worker ended on its own (then the rows are simply more than the workers could do)."""
    if log_dir is None or not job_ids:
        return None
    logs = _task_logs(log_dir, job_ids)
    if not logs:
        return (f"the jobs ended without a single worker log in {log_dir}: is that folder on a filesystem the "
                "nodes see? (slurm.log_dir)")
    texts = {path: _read(path) for path in logs}
    dead = [path for path, text in texts.items() if not _ENDED.search(text)]
    if not dead:
        return None
    first = dead[0]
    if len(dead) == len(logs) and not any(_STARTED.search(texts[p]) for p in dead):
        head = f"all {len(dead)} worker(s) ended before claiming any row (they died at start)"
    else:
        head = f"{len(dead)} of {len(logs)} worker(s) died (their logs lack the summary line)"
    quoted = "\n".join(f"    {ln}" for ln in last_lines(texts[first])) or "    (empty)"
    return f"{head}; the last lines of {first}:\n{quoted}\n  all worker logs: {log_dir}"
