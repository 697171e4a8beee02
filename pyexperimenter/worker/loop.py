"""The worker loop: claim -> execute -> write back, with a heartbeat thread and signals.

A worker keeps one database connection for its whole life (shared with its heartbeat
thread), claims rows until none are open, and then either exits or, if it is the one
"sweeper" of the table, stays until every running row has finished or been recovered.

Very short experiments are claimed in small batches under one token (one heartbeat covers
them all) and their results are written in one transaction; each row is still fenced on
its own, and a batch never waits more than a second to be written.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from types import FrameType
from typing import Any

from .. import environment
from ..config import ExperimentConfig
from ..errors import FencedOut, Requeue, ValueRefused
from ..results import InvalidResultError, ResultProcessor, check_result_keys
from ..status import Outcome, Status
from ..store import Claim, Store, Usage, WorkerIdentity, open_store
from . import checkpoints, signals, usage
from .function import ExperimentFunction
from .heartbeat import Heartbeat
from .isolation import AttemptEnded, Limits, run_isolated
from .output import Capture, echo, tee_start, tee_stop, worker_log_handler
from .provenance import attach as attach_provenance
from .quarantine import QuarantineWatch
from .requeue import task_requeue_wanted
from .strays import Leftovers
from .tracking import tracked

log = logging.getLogger("pyexperimenter")

# A batch holds rows for about BATCH_TARGET_SECONDS of expected work before they run, so what
# a killed worker leaves to the stale sweep is bounded by time, not by the cap. The cap only
# matters for experiments under 0.4 ms, where each claim and finish is a commit that rewrites
# the status indexes' pages: 64 rows a commit write less than half per row of what 16 do, and
# 256 rows made no-op rows 1.25x (one SQLite worker) to 1.3x (16 on MariaDB) faster than 64.
MAX_BATCH = 256
BATCH_TARGET_SECONDS = 0.1
FLUSH_AFTER_SECONDS = 1.0
# SLURM sends `--signal` up to 60 s early: a stop this close to PYEXP_DEADLINE is the time limit.
DEADLINE_SLACK = 90.0
# The stop signals a time limit sends: SLURM's USR2 and SIGTERM; Grid Engine's h_rt USR2, its
# s_rt USR1, and the USR1 a Grid Engine worker sends itself at its deadline.
TIME_LIMIT_SIGNALS = ("SIGUSR1", "SIGUSR2", "SIGTERM")


class WorkerInterrupted(BaseException):
    """Raised inside the experiment when a stop signal arrives. A BaseException, so a
    user's `except Exception` does not swallow it."""


@dataclass
class WorkerStats:
    executed: int = 0
    done: int = 0
    failed: int = 0
    fenced: int = 0
    released: int = 0
    requeued: int = 0  # rows handed back by the experiment's own Requeue
    recovered: int = 0
    interrupted_by: str | None = None
    quarantined: str | None = None  # why this worker stopped claiming
    requeue_task: bool = False  # stopped by its allocation's end with rows open: requeue the task (worker/requeue.py)


class Worker:
    def __init__(
        self,
        config: ExperimentConfig,
        fn: ExperimentFunction,
        *,
        max_experiments: int = -1,
        random_order: bool = False,
        store: Store | None = None,
        deadline: float | None = None,
        identity: WorkerIdentity | None = None,
        snapshot: str | None = None,
    ):
        self.config, self.fn = config, tracked(config, fn)  # fn itself unless CodeCarbon is on
        self.max_experiments, self.random_order = max_experiments, random_order
        self._own_store = store is None
        self.store = store if store is not None else open_store(config, worker=True)
        # `snapshot`: the hash of the code snapshot `fn` was imported from (snapshot.py), which
        # every attempt records as it starts, with the rest of the worker's provenance.
        self.identity = replace(attach_provenance(identity or WorkerIdentity.current(), fn, self.store),
                                snapshot=snapshot)
        self.deadline = deadline if deadline is not None else environment.deadline()
        self.stats = WorkerStats()
        self._stop: str | None = None
        self._in_user_code = False
        self._avg_duration: float | None = None
        self._last_recover = 0.0
        self._recover_every = max(1.0, min(config.stale_after_seconds / 2, 30.0))
        self._pending: list[tuple[int, dict[str, Any]]] = []
        self._pending_since = 0.0
        self._idle_sleep = 0.025
        self._sweeping = False  # holds the table's sweeper lock
        self.where = self.store.filter(config.where)  # `--where`: the rows this worker may claim
        self.watch = QuarantineWatch(self.store, self.identity, config.quarantine_after)
        self._last_host_check = -1e9
        self._limits = None if config.isolation == "none" else Limits.for_isolation(
            config.isolation, config.timeout_seconds, config.memory_limit_mb
        )
        self._log_folder = config.log_folder()  # each attempt's output goes under it (worker/output.py)
        self._heartbeat: Heartbeat | None = None
        self._ran_out = False  # rows were left because the allocation ends soon
        self._last_reading: Any = None  # the resource reading that ended the batch's last attempt (worker/usage.py)
        self._checkpoints = config.checkpoint_root()
        self._rp: ResultProcessor | None = None  # the running attempt's, for the stop's grace period
        self._stopping: Callable[[], bool] = lambda: self._stop is not None  # ResultProcessor.stop_requested's
        self._grace = signals.GraceTimer(environment.stop_grace(config.stop_grace_seconds))

    # --- signals
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop = self._stop or signals.signal_name(signum)  # the first says why (the grace's end resends)
        # Inside a database call (the experiment writing results), interrupting would
        # leave the connection half-way through a reply: `_after_store_call` does it.
        if self._in_user_code and not self.store.in_call() and not self._graced():
            self._in_user_code = False
            raise WorkerInterrupted(self._stop)

    def _after_store_call(self) -> None:
        if self._stop is not None and self._in_user_code and threading.current_thread() is threading.main_thread():
            if self._graced():
                return
            self._in_user_code = False
            raise WorkerInterrupted(self._stop)

    def _graced(self) -> bool:
        """Whether the running experiment still has time to save and raise Requeue: only one
        that looked at what a long run resumes from is given `stop_grace_seconds`."""
        rp = self._rp
        return rp is not None and rp.resumable and self._grace.running()

    def _install_signals(self) -> signals.Saved:
        if threading.current_thread() is not threading.main_thread():
            return {}
        self.store.on_call_end(self._after_store_call)
        return signals.install(self._on_signal)

    # --- main loop
    def run(self) -> WorkerStats:
        self.store.prepare_output()  # now, not when the first attempt's output is staged (store/output.py)
        previous = self._install_signals()
        own_log = worker_log_handler(log)
        heartbeat = self._heartbeat = Heartbeat(self.store, self.config.heartbeat_seconds)
        heartbeat.start()
        leftovers = Leftovers.start()
        try:
            self._loop(heartbeat)
        finally:
            self._grace.cancel()
            heartbeat.stop()
            try:
                self.stats.requeue_task = task_requeue_wanted(self.stopped_by_allocation, self.open_rows)
            except Exception as e:  # noqa: BLE001 - a requeue is a convenience; the rows are safe
                log.warning("not requeueing this task: %s", e)
            left = leftovers.report()
            if left:
                log.warning("%s", left)
            if own_log is not None:
                log.removeHandler(own_log)
            signals.restore(previous)
            if previous:
                self.store.on_call_end(None)
            try:
                self.store.release_sweeper_lock()
            finally:
                if self._own_store:
                    self.store.close()
        self.stats.interrupted_by = self._stop
        self.stats.quarantined = self.watch.reason
        return self.stats

    def _loop(self, heartbeat: Heartbeat) -> None:
        while self._stop is None:
            if 0 <= self.max_experiments <= self.stats.executed:
                return
            if self._out_of_time():
                log.info("stopping: the allocation ends soon")
                return
            if self.watch.reason is not None or self._host_quarantined():
                return
            self._recover_if_due()
            claims = self.store.claim(self.identity, self._batch_size(), self.random_order, self.where)
            if claims:
                self._idle_sleep = 0.025
                if self._sweeping:  # busy now: let a worker that is idle be the one who stays
                    self.store.release_sweeper_lock()
                    self._sweeping = False
                self._run_batch(claims, heartbeat)
            elif not self._wait_as_sweeper():
                return

    def _batch_size(self) -> int:
        size = 1
        if self._avg_duration is not None and self._avg_duration < BATCH_TARGET_SECONDS / 2:
            size = min(MAX_BATCH, max(1, int(BATCH_TARGET_SECONDS / max(self._avg_duration, 1e-4))))
        if self.max_experiments >= 0:
            size = min(size, self.max_experiments - self.stats.executed)
        return max(1, size)

    def _out_of_time(self) -> bool:
        if self.deadline is None:
            return False
        margin = max(5.0, 1.5 * (self._avg_duration or 0.0))
        return time.time() > self.deadline - margin

    def _host_quarantined(self) -> bool:
        now = time.monotonic()
        if now - self._last_host_check < self._recover_every:
            return False
        self._last_host_check = now
        return self.watch.host_is_quarantined()

    def _pause(self, seconds: float) -> None:
        """A back-off that a stop signal cuts short."""
        end = time.monotonic() + seconds
        while self._stop is None and time.monotonic() < end:
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def _release_reason(self) -> tuple[Outcome, str]:
        """Why rows go back unrun, kept with their attempts (docs/recovery.md): our quarantine;
        `pyexp cancel` (it ends the launch's record before it signals); inside an allocation
        (it has a deadline) USR2, SIGTERM, USR1 (Grid Engine's, or the worker's own alarm at
        its deadline) or the deadline itself within DEADLINE_SLACK of PYEXP_DEADLINE is the
        time limit, an earlier SIGTERM the scheduler taking the allocation back (preemption,
        or a bare `scancel`); any other stop signal is a stop."""
        if self._stop is None and self.watch.reason is not None:
            return Outcome.QUARANTINED, self.watch.reason
        if self.deadline is not None and self._cancelled():
            return Outcome.RELEASED, f"cancelled by pyexp cancel ({self._stop or 'deadline'})"
        if self.deadline is not None:
            if self._stop is None and self._ran_out:  # the deadline is nearer than the rows' expected time
                return Outcome.TIME_LIMIT, "time limit: the allocation ends (deadline)"
            if (self._stop is None or self._stop in TIME_LIMIT_SIGNALS) and self._near_deadline():
                return Outcome.TIME_LIMIT, f"time limit: the allocation ends ({self._stop or 'deadline'})"
            if self._stop == "SIGTERM":
                return Outcome.PREEMPTED, "preempted (or cancelled) by the scheduler before its time limit (SIGTERM)"
        return Outcome.RELEASED, f"stopped by {self._stop}" if self._stop else "released"

    def stopped_by_allocation(self) -> bool:
        """Whether the allocation's time ended, so the task may requeue itself: its deadline,
        SLURM's USR2 (the time limit's warning, or a preemption's `--signal`), or a stop
        signal at the time limit itself (SLURM's SIGTERM; on Grid Engine the worker's own USR1
        at its deadline, or h_rt's USR2). Not `pyexp cancel`, not a quarantine, and not an
        earlier stop: a `scancel` or a `qdel` (which must stay cancelled), or a preemption
        SLURM requeues itself when the site wants it."""
        if self.deadline is None or self.watch.reason is not None or self._cancelled():
            return False
        if self._stop is None:
            return self._ran_out or self._out_of_time()
        if self._stop == "SIGUSR2" and self.identity.scheduler != "sge":  # Grid Engine's qdel sends USR2 too
            return True
        return self._stop in TIME_LIMIT_SIGNALS and self._near_deadline()

    def _near_deadline(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline - DEADLINE_SLACK

    def open_rows(self) -> int:
        """Rows this worker could still claim."""
        return int(self.store.counts(where=self.where)["created"])

    def _cancelled(self) -> bool:
        """Whether `pyexp cancel` ended the launch this worker belongs to."""
        job = self.identity.array_job_id or self.identity.job_id
        try:
            return job is not None and self.store.launch_ended(job)
        except Exception:  # noqa: BLE001 - only the label of the release depends on it
            return False

    def _recover_if_due(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_recover >= self._recover_every:
            self._last_recover = now
            n = self.store.requeue_stale(
                self.config.stale_after_seconds, self.config.max_attempts, self.config.retry_delay_seconds
            )
            if n:
                self.stats.recovered += n
                log.warning("requeued %d lost run(s) (no heartbeat for %gs)", n, self.config.stale_after_seconds)

    def _wait_as_sweeper(self) -> bool:
        """Nothing to claim. Exit, unless rows are still running elsewhere: then one worker
        (holding the table's sweeper lock) stays to recover them if their workers die."""
        counts = self.store.counts(where=self.where)  # rows this worker would never claim do not keep it
        if counts["created"] == 0 and counts["running"] == 0:
            return False
        if not self.store.try_sweeper_lock():
            return False
        self._sweeping = True
        # Poll fast at first (the last rows usually end within moments), then back off.
        self._idle_sleep = min(self._idle_sleep * 2, 2.0, self.config.stale_after_seconds / 4)
        end = time.monotonic() + self._idle_sleep
        while self._stop is None and time.monotonic() < end:
            time.sleep(min(0.1, self._idle_sleep))
        self._recover_if_due()
        return True

    def _run_batch(self, claims: list[Claim], heartbeat: Heartbeat) -> None:
        token = claims[0].token
        heartbeat.token = token
        self._last_reading = None  # a batch's first attempt reads its own start
        finished: set[int] = set()
        try:
            for claim in claims:
                if self._stop is not None or token in heartbeat.lost or self.watch.reason is not None:
                    break
                if self._out_of_time():
                    self._ran_out = True
                    break
                self._execute(claim)
                finished.add(claim.id)
                if self._pending and time.monotonic() - self._pending_since > FLUSH_AFTER_SECONDS:
                    self._flush(token)
        except WorkerInterrupted:
            pass
        finally:
            # Keep beating through the last writes (they may wait out a database restart),
            # but a beat right after them finds no running row: that is no loss.
            heartbeat.closing = token
            self._flush(token)
            heartbeat.token = None
            rest = [c.id for c in claims if c.id not in finished]
            if rest and token not in heartbeat.lost:
                n = self.store.release(token, rest, *self._release_reason())
                self.stats.released += n
                if self._stop is not None and n:
                    log.warning("%s: released %d row(s) back to created", self._stop, n)

    def run_claim(self, claim: Claim) -> WorkerStats:
        """Run one row claimed elsewhere (PyExperimenter's add-and-run) to its end, beating for it."""
        heartbeat = Heartbeat(self.store, self.config.heartbeat_seconds)
        heartbeat.token = claim.token
        heartbeat.start()
        self._last_reading = None  # not a batch: this attempt reads its own start
        try:
            self._execute(claim)
            self._flush(claim.token)
        finally:
            heartbeat.stop()
        return self.stats

    def _execute(self, claim: Claim) -> None:
        rp = self._rp = ResultProcessor(self.store, claim, self._checkpoints, self._stopping)
        started = time.monotonic()
        try:
            self._in_user_code = True
            if self._stop is not None:  # a signal between claim and here
                raise WorkerInterrupted(self._stop)
            returned = self._call(claim, rp)  # it leaves user code (its finally clears the flag)
            status, results = self._interpret(returned)
        except WorkerInterrupted:
            self._in_user_code = False
            raise
        except AttemptEnded as e:  # isolation: the child failed, died or ran out of time
            self._in_user_code = False
            self._record(started)
            self._fail(claim, e.message, started, e.outcome)
            return
        except (FencedOut, Requeue) as e:  # the row went elsewhere; or, its state saved, it goes back
            self._in_user_code = False
            self._record(started)
            if isinstance(e, Requeue):
                self._requeue(claim, e.reason)
            else:
                self.stats.fenced += 1
                log.warning("%s", e)
            return
        except ValueRefused as e:  # a result its column cannot hold: this attempt fails, the worker goes on
            self._in_user_code = False
            self._record(started)
            self._fail(claim, f"{traceback.format_exc().rstrip()}\nresult refused: {e}", started)
            return
        except (Exception, SystemExit):
            self._in_user_code = False
            self._record(started)
            self._fail(claim, traceback.format_exc(), started)
            return
        self._record(started)
        self.watch.succeeded()
        if status is Status.DONE:
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.append((claim.id, results))
        else:
            self._flush(claim.token)
            try:
                if not self.store.set_status(claim.token, claim.id, status, results):
                    self.stats.fenced += 1
            except ValueRefused as e:
                self._fail(claim, f"result refused: {e}", started)

    def _call(self, claim: Claim, rp: ResultProcessor) -> Any:
        """The experiment, its output captured (worker/output.py) and staged for the attempt's
        final write (finish, fail, set_status or release), however it ends. A failure's
        traceback is printed into both, as Python would print it: the table's `error` column
        is not where someone reading a worker log or `pyexp logs` looks."""
        if self._limits is not None:
            return self._call_isolated(claim, rp, self._limits)
        started = usage.begin(self._last_reading)
        saved = tee_start(None, (self._log_folder, claim.id, claim.token, started[1]))
        try:
            return self.fn(dict(claim.parameters), rp, dict(self.config.custom))
        except (FencedOut, Requeue):
            raise
        except (Exception, SystemExit):
            traceback.print_exc()  # sys.stderr is the tee: the worker's log and the attempt's output
            raise
        finally:
            self._in_user_code = False  # a stop signal from here on only sets the flag: the output gets staged
            capture = tee_stop(saved)
            self._rp = None
            used, self._last_reading = usage.end(started)
            self._ended(claim, used, capture)

    def _call_isolated(self, claim: Claim, rp: ResultProcessor, limits: Limits) -> Any:
        """`_call` in a child process (worker/isolation.py), whose output is read from pipes."""
        capture = Capture.for_attempt(self._log_folder, claim.id, claim.token)
        heartbeat = self._heartbeat
        if heartbeat is not None:
            heartbeat.capture = (claim.token, claim.id, capture)
        meter = usage.Meter()
        try:
            return run_isolated(self.fn, dict(claim.parameters), rp, dict(self.config.custom), limits, capture, meter)
        except AttemptEnded as e:  # the child's traceback, or how it died
            text = e.message.rstrip("\n") + "\n"
            echo(sys.stderr, text.encode("utf-8", "backslashreplace"))
            capture.write(text.encode("utf-8", "backslashreplace"))
            raise
        finally:
            self._in_user_code = False
            self._rp = None
            if heartbeat is not None:
                heartbeat.capture = None
            self._ended(claim, meter.usage(), capture)

    def _ended(self, claim: Claim, used: Usage | None, capture: Capture | None) -> None:
        """Stage what the attempt used and printed for the write that closes it."""
        if used is not None:  # an attempt under 1 ms is not measured (worker/usage.py)
            self.store.stage_usage(claim.token, claim.id, used)  # in memory: it cannot fail
        if capture is not None:
            capture.close()
            if capture.written:
                self._stage(claim, capture)

    def _stage(self, claim: Claim, capture: Capture) -> None:
        """Staging the output must not change how the experiment ended: a failure here is
        a log line, and the attempt closes without its output."""
        try:
            self.store.stage_output(claim.token, claim.id, *capture.snapshot()[1:])
        except Exception as e:  # noqa: BLE001 - the experiment's own outcome comes first
            log.warning("experiment %d: its output was not kept: %s", claim.id, e)

    def _record(self, started: float) -> None:
        took = time.monotonic() - started
        self.stats.executed += 1
        self._avg_duration = took if self._avg_duration is None else 0.8 * self._avg_duration + 0.2 * took

    def _interpret(self, returned: Any) -> tuple[Status, dict[str, Any]]:
        """None or a dict of results means done; a Status (ours or PyExperimenter's
        ExperimentStatus) sets that final status."""
        if returned is None:
            return Status.DONE, {}
        if isinstance(returned, Mapping):
            check_result_keys(self.store, returned)
            return Status.DONE, dict(returned)
        if isinstance(returned, Enum) and str(returned.value).lower() in ("done", "error", "paused"):
            return Status(str(returned.value).lower()), {}
        raise InvalidResultError(
            f"the experiment function returned {type(returned).__name__}; expected None, a dict of results or a Status"
        )

    def _requeue(self, claim: Claim, reason: str) -> None:
        self._flush(claim.token)
        ended = self.store.requeue(claim.token, claim.id, reason, self.config.max_requeues)
        if ended == "requeued":
            self.stats.requeued += 1
            log.info("experiment %d asked to be requeued: %s", claim.id, reason)
        elif ended == "error":
            self.stats.failed += 1
            log.warning("experiment %d asked to be requeued more than max_requeues=%d times: error",
                        claim.id, self.config.max_requeues)
        else:
            self.stats.fenced += 1

    def _drop_checkpoints(self, ids: Iterable[int]) -> None:
        """A done row's directory goes (docs/long-runs.md); a failure here is a log line."""
        if self.config.keep_checkpoints or not ids:
            return
        try:
            checkpoints.remove(self._checkpoints, ids)
        except OSError as e:
            log.warning("checkpoint directories not removed: %s", e)

    def _fail(self, claim: Claim, error: str, started: float, outcome: Outcome = Outcome.FAILED) -> None:
        took = time.monotonic() - started
        self._flush(claim.token)
        self.stats.failed += 1
        ok = self.store.fail(
            claim.token, claim.id, error, self.config.max_attempts, self.config.retry_delay_seconds, outcome
        )
        if not ok:
            self.stats.fenced += 1
            log.warning("experiment %d failed, but it was handed to another worker meanwhile", claim.id)
            return
        self._pause(self.watch.failed(claim, took, error))

    def _flush(self, token: str) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        failed: set[int] = set()
        try:
            landed = self.store.finish(token, pending)
        except ValueRefused:
            # The database refused a value our own check let through: nothing of the batch
            # was written. Row by row, so only the refused row's attempt fails.
            landed, failed = self._finish_each(token, pending)
        self.stats.done += len(landed)
        self._drop_checkpoints(landed)
        refused = len(pending) - len(landed) - len(failed)
        if refused:
            self.stats.fenced += refused
            log.warning("%d result(s) refused: those rows were handed to another worker", refused)

    def _finish_each(self, token: str, pending: list[tuple[int, dict[str, Any]]]) -> tuple[set[int], set[int]]:
        landed: set[int] = set()
        failed: set[int] = set()
        for row_id, results in pending:
            try:
                landed |= self.store.finish(token, [(row_id, results)])
            except ValueRefused as e:
                self.stats.failed += 1
                failed.add(row_id)
                self.store.fail(token, row_id, f"result refused: {e}", self.config.max_attempts,
                                self.config.retry_delay_seconds, Outcome.FAILED)
        return landed, failed
