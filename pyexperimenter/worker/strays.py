"""What experiments left behind in the worker's own process: child processes and threads.

Without isolation an experiment runs in the worker, so whatever it starts and does not wait
for is the worker's: a `subprocess.Popen` keeps running after the worker exits, and a
non-daemon thread keeps the process from exiting at all. The worker cannot tell a leftover
from something kept on purpose, so it ends neither; it says so when it stops, which is the
only moment the difference shows. (Under `isolation: process` the attempt's process group
is killed with the attempt: worker/isolation.py.)
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass


def children() -> dict[int, str]:
    """Live child processes of this process (pid -> command name), from /proc; empty where
    there is no /proc. Zombies are dead already, only not reaped."""
    me, found = os.getpid(), {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        name, _, rest = stat.partition(" (")[2].rpartition(")")
        fields = rest.split()
        if len(fields) > 1 and fields[0] != "Z" and fields[1] == str(me):
            found[int(entry)] = name
    return found


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive() and not t.daemon and t is not threading.main_thread()}


def threads_left() -> bool:
    """Whether a non-daemon thread besides the calling one still runs (interpreter exit
    would wait for it)."""
    return bool(_threads() - {threading.current_thread()})


@dataclass
class Leftovers:
    """Children and non-daemon threads that exist at `start`, so that only new ones count."""

    processes: frozenset[int] = frozenset()
    threads: frozenset[threading.Thread] = frozenset()

    @classmethod
    def start(cls) -> Leftovers:
        return cls(frozenset(children()), frozenset(_threads()))

    def report(self) -> str | None:
        """One line naming what is new since `start` and still running, or None."""
        procs = {pid: name for pid, name in children().items() if pid not in self.processes}
        threads = [t for t in _threads() if t not in self.threads and t is not threading.current_thread()]
        parts = []
        if procs:
            listed = ", ".join(f"{pid} ({name})" for pid, name in sorted(procs.items()))
            parts.append(f"{len(procs)} process(es) started by experiments are still running: {listed}; they outlive "
                         "the worker (isolation: process ends them with their attempt)")
        if threads:
            parts.append(f"{len(threads)} thread(s) started by experiments are still running "
                         f"({', '.join(sorted(t.name for t in threads))}): this process cannot exit before they end")
        return "; ".join(parts) or None
