"""Which scheduler a launch (or a launch record) means: `--scheduler`, else the config's
`scheduler:`, else the one whose submit command is on PATH (SLURM when both or neither are)."""

from __future__ import annotations

from ..config import SCHEDULERS
from ..errors import InputError
from .scheduler import Scheduler
from .sge import GridEngine
from .slurm import Slurm

_ALL: dict[str, Scheduler] = {"slurm": Slurm(), "sge": GridEngine()}
assert set(_ALL) == set(SCHEDULERS)  # the config accepts exactly the schedulers there are


def get(name: str) -> Scheduler:
    try:
        return _ALL[name]
    except KeyError:
        raise InputError(f"--scheduler: expected one of {', '.join(_ALL)}, got {name!r}") from None


def pick(name: str | None) -> Scheduler:
    """`name` (the flag or the config's key), or the only scheduler this machine can submit to."""
    if name is not None:
        return get(name)
    usable = [s for s in _ALL.values() if s.available()]
    return usable[0] if len(usable) == 1 else _ALL["slurm"]


def kinds() -> list[str]:
    """The launch-record kinds that name a scheduler's jobs (the rest are local pids)."""
    return list(_ALL)
