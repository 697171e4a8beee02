"""`experiment.isolation: process`: each experiment in a fresh child process.

In-process, a segfault, an `os._exit`, an OOM kill or a leaked GPU context takes the worker
with it: its row waits for the stale limit, and every row after it waits for a new
worker. In a child, the worker survives and records at once what ended the attempt; a
time limit can kill the child, which no thread can do to running Python code.

The child is forked on Linux (cheap: nothing is imported again) and spawned elsewhere,
or always with `isolation: spawn` (a CUDA context does not survive a fork). It never
touches the worker's database connection: result and log writes travel over a pipe to
the worker, which makes them on the real, fenced ResultProcessor. It leaves the stop
signals to the worker (which decides, and kills it) and dies with the worker
(PR_SET_PDEATHSIG); when the worker gives a resumable experiment its grace period, it
passes the stop on to the child (SIGUSR2), whose `stop_requested` then turns true.

The child leads a process group of its own, and everything the experiment starts is in it:
when the attempt ends (returned, failed, timed out, stopped) the worker kills the whole
group, so no `sleep 600` or data loader outlives its attempt, holds the output pipes open,
or runs on after the worker. A process that leaves the group on purpose (`setsid`) is not
followed. Being a group of its own also keeps the terminal's Ctrl-C and Grid Engine's
group-wide signals away from the child: they go to the worker, which stops it.
"""

from __future__ import annotations

import codecs
import multiprocessing
import os
import resource
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FencedOut, Requeue
from ..status import Outcome
from .output import Capture, echo
from .signals import STOP_SIGNALS
from .usage import Meter, gpu_peak_mb, gpu_reset, rss_mb

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# ctypes and multiprocessing.connection (4 ms to import) are imported where a child is made:
# a worker with `isolation: none` never needs them.

PR_SET_PDEATHSIG = 1
_POLL = 0.05


@dataclass(frozen=True)
class Limits:
    method: str  # "fork" or "spawn"
    timeout_seconds: float | None = None
    memory_limit_mb: int | None = None

    @classmethod
    def for_isolation(cls, isolation: str, timeout_seconds: float | None, memory_limit_mb: int | None) -> Limits:
        fork_safe = sys.platform.startswith("linux")
        method = "fork" if isolation == "process" and fork_safe else "spawn"
        return cls(method, timeout_seconds, memory_limit_mb)


class AttemptEnded(Exception):
    """The child ended the attempt without a result: the outcome and what to record."""

    def __init__(self, outcome: Outcome, message: str):
        super().__init__(message)
        self.outcome, self.message = outcome, message


_STOP_REQUESTED: list[bool] = []  # the child's: not empty once the worker passed a stop on


class _ChildResults:
    """The ResultProcessor as the child sees it: calls go to the worker and wait for it."""

    def __init__(self, conn: Connection, experiment_id: int, attempt: int, checkpoint_dir: str):
        self._conn, self.experiment_id, self.attempt = conn, experiment_id, attempt
        self._checkpoint_dir = checkpoint_dir
        self._resumable = False

    def _call(self, method: str, arg: Any) -> Any:
        self._conn.send(("call", method, arg))
        kind, value = self._conn.recv()
        if kind == "fenced":
            raise FencedOut(value)
        if kind == "error":
            raise value
        return value

    def _long_run(self) -> None:
        """Tell the worker once: this experiment may save and requeue, so it gets the grace period."""
        if not self._resumable:
            self._resumable = True
            self._conn.send(("resumable",))

    @property
    def checkpoint_dir(self) -> Path:
        self._long_run()
        path = Path(self._checkpoint_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def state(self) -> dict[str, Any]:
        self._long_run()
        return dict(self._call("state", None))

    def save_state(self, state: Any) -> None:
        self._long_run()
        self._call("save_state", dict(state))

    @property
    def stop_requested(self) -> bool:
        self._long_run()
        return bool(_STOP_REQUESTED)

    def process_results(self, results: Any) -> None:
        self._call("process_results", dict(results))

    def process_logs(self, logs: Any) -> None:
        self._call("process_logs", {t: dict(v) for t, v in logs.items()})


def _redirect(outputs: tuple[Connection, Connection] | None) -> None:
    """Descriptors 1 and 2 onto the worker's pipes (what C code and subprocesses write is
    captured too), and sys.stdout/err line-buffered on them, whatever they were before."""
    if outputs is None:
        return
    _flush_python()
    for fd, conn in zip((1, 2), outputs):
        os.dup2(conn.fileno(), fd)
        conn.close()
    sys.stdout = open(1, "w", buffering=1, errors="backslashreplace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)


def _flush_python() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


def _flush_all() -> None:
    """Python's and C's buffers out before the child reports (it ends with os._exit)."""
    _flush_python()
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def _stop_left_to_the_worker(signum: int, frame: Any) -> None:
    """The child's handler of the stop signals: it notes the stop for `stop_requested` and
    leaves the rest to the worker. Not SIG_IGN: an ignored signal stays ignored across exec,
    so every program the experiment started would shrug off SIGTERM and SIGUSR2 as well; a
    handler is reset to the default in them."""
    _STOP_REQUESTED.append(True)


def _child(conn: Connection, fn: Any, parameters: dict[str, Any], custom: dict[str, Any], ids: tuple[int, int, str],
           memory_limit_mb: int | None, outputs: tuple[Connection, Connection] | None = None) -> None:
    _own_group()
    _redirect(outputs)
    for s in STOP_SIGNALS:
        signal.signal(s, _stop_left_to_the_worker)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if memory_limit_mb is not None:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    gpu_reset()
    try:
        value = fn(parameters, _ChildResults(conn, *ids), custom)
        message: tuple[Any, ...] = ("returned", value)
    except FencedOut as e:
        message = ("fenced", str(e))
    except Requeue as e:
        message = ("requeue", e.reason)
    except MemoryError:
        message = ("oom", traceback.format_exc())
    except BaseException:  # noqa: BLE001 - everything the experiment raises is its failure
        message = ("raised", traceback.format_exc())
    _flush_all()
    try:  # its own peak, before the outcome (worker/usage.py); a dead child leaves it to the worker
        conn.send(("usage", rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), gpu_peak_mb()))
        conn.send(message)
    except Exception:  # an unpicklable result: say so instead of dying silently
        conn.send(("raised", f"the experiment returned an object that cannot be sent back: {traceback.format_exc()}"))
    conn.close()


def _own_group(pid: int = 0) -> None:
    """Make the child (pid 0: this process) lead its own process group. Both sides call it,
    so the group exists before either goes on, whoever runs first."""
    try:
        os.setpgid(pid, pid)
    except (OSError, AttributeError):  # the child exec'd or exited already; no groups here
        pass


def _end_group(pgid: int) -> None:
    """Kill what is left of the attempt's process group. Its leader is reaped already; a
    group with no member left is no group (ESRCH), and its id cannot have been reused
    while a member lived."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _death(code: int | None) -> AttemptEnded:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = " (the out-of-memory killer, or a kill -9)" if -code == signal.SIGKILL else ""
        return AttemptEnded(Outcome.KILLED, f"the experiment's process was killed by signal {-code} ({name}){hint}")
    return AttemptEnded(Outcome.EXITED, f"the experiment's process exited with code {code} before returning")


class _Pump:
    """The worker's end of the child's stdout and stderr pipes: each chunk is echoed to the
    worker's own stream and written into the attempt's capture, in the order it arrives."""

    def __init__(self, ctx: Any, capture: Capture | None):
        self.capture = capture
        pipes = [ctx.Pipe(duplex=False) for _ in range(2)] if capture is not None else []
        self.readers: dict[Connection, Any] = {r: s for (r, _), s in zip(pipes, ("stdout", "stderr"))}
        self.writers: tuple[Connection, Connection] | None = (pipes[0][1], pipes[1][1]) if pipes else None
        self.decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in ("stdout", "stderr")}

    def started(self) -> None:
        for w in self.writers or ():
            w.close()  # the child holds them now: EOF comes when it (and what it started) is gone

    def read(self, ready: list[Any]) -> None:
        for r in [r for r in ready if r in self.readers]:
            data = os.read(r.fileno(), 65536)
            if not data:
                del self.readers[r]
                r.close()
                continue
            echo(getattr(sys, self.readers[r]), data, self.decoders[self.readers[r]])
            assert self.capture is not None
            self.capture.write(data)

    def drain(self, seconds: float = 1.0) -> None:
        """What is left in the pipes, until EOF; a grandchild that keeps them open is given
        `seconds`, not forever."""
        from multiprocessing.connection import wait

        end = time.monotonic() + seconds
        while self.readers and time.monotonic() < end:
            self.read(wait(list(self.readers), max(0.0, end - time.monotonic())))
        for r in self.readers:
            r.close()
        self.readers = {}


def run_isolated(fn: Any, parameters: dict[str, Any], rp: Any, custom: dict[str, Any], limits: Limits,
                 capture: Capture | None = None, meter: Meter | None = None) -> Any:
    """What `fn` returned in a child; AttemptEnded when the child failed, died or ran out
    of time, FencedOut when its row went to another worker. The child is gone when this
    returns or raises (a stop signal raising in the worker kills it too); what it printed
    is in `capture` by then."""
    from multiprocessing.connection import wait

    ctx: Any = multiprocessing.get_context(limits.method)
    parent, child = ctx.Pipe()
    pump = _Pump(ctx, capture)
    proc = ctx.Process(
        target=_child, args=(child, fn, parameters, custom, (rp.experiment_id, rp.attempt, str(rp.checkpoint_path())),
                             limits.memory_limit_mb, pump.writers),
        name=f"pyexp-experiment-{rp.experiment_id}", daemon=True,
    )
    proc.start()
    assert proc.pid is not None
    _own_group(proc.pid)
    child.close()
    pump.started()
    deadline = None if limits.timeout_seconds is None else time.monotonic() + limits.timeout_seconds
    passed_on = False
    try:
        while True:
            if not passed_on and rp.resumable and rp.stop_pending():  # its grace period: tell the child
                passed_on = True
                os.kill(proc.pid, signal.SIGUSR2)
            timeout = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
            ready = wait([parent, *pump.readers], timeout)
            pump.read(ready)
            if parent in ready:
                try:
                    message = parent.recv()
                except EOFError:  # the child died: its exit code tells how
                    proc.join()
                    raise _death(proc.exitcode) from None
                if message[0] == "call":
                    _serve(parent, rp, message[1], message[2])
                    continue
                if message[0] == "resumable":
                    rp.resumable = True
                    continue
                if message[0] == "usage":
                    if meter is not None:
                        meter.child_peak_mb, meter.child_gpu_mb = message[1], message[2]
                    continue
                return _ended(message, limits)
            if deadline is not None and time.monotonic() >= deadline:
                raise AttemptEnded(Outcome.TIMEOUT, f"the experiment ran longer than timeout_seconds={limits.timeout_seconds:g}")
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        _end_group(proc.pid)  # before draining: a leftover holding the pipes would make it wait
        parent.close()
        pump.drain()


def _serve(conn: Connection, rp: Any, method: str, arg: Any) -> None:
    try:
        value = rp.state if method == "state" else getattr(rp, method)(arg)
        conn.send(("ok", value))
    except FencedOut as e:
        conn.send(("fenced", str(e)))
    except Exception as e:
        conn.send(("error", e))


def _ended(message: tuple[Any, ...], limits: Limits) -> Any:
    kind = message[0]
    if kind == "returned":
        return message[1]
    if kind == "fenced":
        raise FencedOut(message[1])
    if kind == "requeue":
        raise Requeue(message[1])
    if kind == "oom":
        raise AttemptEnded(Outcome.OOM, f"out of memory under memory_limit_mb={limits.memory_limit_mb}:\n{message[1]}")
    raise AttemptEnded(Outcome.FAILED, message[1])
