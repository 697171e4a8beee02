"""A claim's life: claim, heartbeat, results, finish, fail, set_status, release.

The hot path of every worker, so each operation is one transaction of a few named
statements (store/sql/queries.sql explains the fencing). Every write for an attempt is
fenced on its claim token, and an update that matched nothing asks whether our own earlier
write landed before a lost COMMIT reply, so a retried transaction never does a thing twice.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, TypeVar

from ...status import Outcome, Status
from ..sql.schema import error_summary, local_stamp
from ..types import Claim, Filter, TableSchema, Usage, WorkerIdentity, new_token
from .fill import RANK_SPACE
from .output import Output, write_staged
from .session import Cursor, Session

T = TypeVar("T")
ID_CHUNK = 500  # ids per statement: far below every driver's placeholder limit
USAGE_CHUNK = 64  # attempts closed with their usage per statement: at most 11 placeholders each


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def take_args(who: WorkerIdentity, token: str, experimenter_name: str) -> tuple[Any, ...]:
    """The arguments of the `take` fragment: what a claim writes into its rows."""
    return (token, who.worker, who.machine, experimenter_name, who.job_id)


def requeue_args(max_attempts: int, retry_delay_seconds: float) -> tuple[Any, ...]:
    """The arguments of the `requeue_or_error` fragment."""
    return (max_attempts, max_attempts, retry_delay_seconds, retry_delay_seconds)


def _claim_rows(session: Session, cur: Cursor, taken: tuple[Any, ...], limit: int, random_order: bool,
                where: Filter) -> list[dict[str, Any]]:
    """Pick and mark rows: one `UPDATE ... RETURNING` where the dialect has it (SQLite,
    under its writer lock), else a locking SELECT then an update by id."""
    run, fetch = session.run, session.fetch_dicts
    if session.dialect.claim_returning and not random_order:
        found = fetch(run(cur, "claim_returning", (*taken, *where.args, limit), conditions=where.shape))
        return sorted(found, key=lambda r: r["ID"])
    if random_order:
        pivot = random.randrange(RANK_SPACE)
        found = fetch(run(cur, "claim_pick_ranked", (*where.args, pivot, limit), conditions=where.shape))
        if len(found) < limit:
            found += fetch(run(cur, "claim_pick_wrapped", (*where.args, pivot, limit - len(found)),
                               conditions=where.shape))
    elif where:
        found = fetch(run(cur, "claim_pick_where", (*where.args, limit), conditions=where.shape,
                          where_hint=where.columns[0]))
    else:
        found = fetch(run(cur, "claim_pick", (limit,)))
    if not found:
        return []
    ids = [r["ID"] for r in found]
    run(cur, "claim_mark", (*taken, *ids), ids=len(ids))
    for r in found:
        r["pyexp_attempts"] += 1
    return found


def claim(session: Session, who: WorkerIdentity, experimenter_name: str, limit: int, random_order: bool,
          where: Filter) -> list[Claim]:
    token = new_token()
    taken = take_args(who, token, experimenter_name)

    def body(cur: Cursor) -> list[dict[str, Any]]:
        found = _claim_rows(session, cur, taken, limit, random_order, where)
        if found:
            session.run(cur, "claim_attempts", (*who.attempt_values, token))
        return found

    def landed(cur: Cursor) -> list[dict[str, Any]] | None:
        return session.fetch_dicts(session.run(cur, "claim_landed", (token,))) or None

    found = session.transaction(body, after_reconnect=landed)
    return [Claim(int(r["ID"]), token, int(r["pyexp_attempts"]), session.decode_params(r)) for r in found]


def claim_id(session: Session, who: WorkerIdentity, experimenter_name: str, row_id: int,
             statuses: Sequence[str]) -> Claim | None:
    """Claim one given row if it is in one of `statuses` (PyExperimenter's
    `unpause_experiment` and `add_experiment_and_execute`); None otherwise."""
    token = new_token()

    def body(cur: Cursor) -> list[dict[str, Any]]:
        found = session.fetch_dicts(session.run(cur, "claim_pick_id", (row_id, *statuses), statuses=len(statuses)))
        if found:
            session.run(cur, "claim_mark", (*take_args(who, token, experimenter_name), row_id), ids=1)
            session.run(cur, "claim_attempts", (*who.attempt_values, token))
        return found

    found = session.transaction(body)
    if not found:
        return None
    return Claim(row_id, token, int(found[0]["pyexp_attempts"]) + 1, session.decode_params(found[0]))


def heartbeat(session: Session, token: str) -> int:
    return int(session.transaction(lambda cur: session.run(cur, "heartbeat", (token,)).rowcount))


def _owned_outcome(session: Session, cur: Cursor, token: str, row_id: int, statuses: Sequence[str]) -> bool:
    """After an update matched nothing: did our own earlier (retried) write land?"""
    row = session.run(cur, "owned_outcome", (row_id,)).fetchone()
    return bool(row and row[1] == token and row[0] in statuses)


def _owned_done(session: Session, cur: Cursor, token: str, ids: Sequence[int]) -> list[int]:
    """Which of `ids` are done under our token (the write landed, now or on an earlier try)."""
    return [int(r[0]) for r in session.run(cur, "owned_done", (*ids, token), ids=len(ids)).fetchall()]


def close_attempts(session: Session, cur: Cursor, token: str, ids: Sequence[int], outcome: Outcome,
                   error: str | None = None, staged: Mapping[int, Output] | None = None,
                   usage: Mapping[int, Usage] | None = None) -> int:
    """End the attempts of `ids` under `token`, with what they printed (store/engine/output.py)
    and what they used: the same one statement per chunk, its usage columns set in it.
    Returns how many were running and ended now."""
    closed = 0
    if staged:
        write_staged(session, cur, token, ids, staged)
    used = usage or {}
    measured = [i for i in ids if i in used] if used else []
    for part in chunks(measured, USAGE_CHUNK):  # list operations in C: a batch's attempts pay < 1 us each here
        args: list[Any] = [outcome.value, error]
        shape: list[tuple[int, int]] = []
        for k, column in enumerate(zip(*[used[i] for i in part])):
            first = column[0]
            if column.count(first) == len(column):  # the batch's peak, its snapshot: one value
                if first is not None:  # NULL for the whole batch: NULL already
                    shape.append((k, 1))
                    args.append(first)
            else:  # `CASE experiment_id WHEN id THEN value ...`
                shape.append((k, len(part)))
                pairs: list[Any] = [None] * (2 * len(part))
                pairs[::2], pairs[1::2] = part, column
                args += pairs
        closed += session.run(cur, "close_attempts_measured", (*args, token, *part), ids=len(part),
                              usage_sets=tuple(shape)).rowcount
    if measured:
        ids = [i for i in ids if i not in used]
    for part in chunks(ids, ID_CHUNK):
        closed += session.run(cur, "close_attempts", (outcome.value, error, token, *part), ids=len(part)).rowcount
    return closed


def _stamp(schema: TableSchema) -> str | None:
    """The bound value of each `<result>_timestamp` (PyExperimenter's local stamp), or
    None when the statement stamps with the server's clock itself."""
    return local_stamp() if schema.result_timestamps and schema.local_timestamps else None


def _result_values(schema: TableSchema, results: Mapping[str, Any]) -> tuple[tuple[str, ...], list[Any]]:
    types, stamp = [schema.results[n] for n in results], _stamp(schema)  # KeyError: not a result column
    values = [t.to_db(v, n) for t, (n, v) in zip(types, results.items())]
    return tuple(results), values if stamp is None else [x for v in values for x in (v, stamp)]


def _finish_batch(schema: TableSchema, token: str, keys: tuple[str, ...], rows: Sequence[tuple[int, Mapping[str, Any]]]
                  ) -> tuple[dict[str, Any], list[Any], list[int]]:
    """Parts and arguments of `finish_done` for rows with the same result columns: one
    value per column, or `CASE ID WHEN ? THEN ? ... END` pairs for several rows."""
    ids = [row_id for row_id, _ in rows]
    args: list[Any] = []
    stamp = _stamp(schema)
    for name in keys:
        sql_type = schema.results[name]
        if len(rows) == 1:
            args.append(sql_type.to_db(rows[0][1][name], name))
        else:
            for row_id, results in rows:
                args += [row_id, sql_type.to_db(results[name], name)]
        args += [] if stamp is None else [stamp]
    return {"finish_sets": (keys, len(rows)), "ids": len(ids)}, [*args, *ids, token], ids


def finish(session: Session, token: str, outcomes: Sequence[tuple[int, Mapping[str, Any]]],
           staged: Mapping[int, Output], usage: Mapping[int, Usage] | None = None, counts: bool = False) -> set[int]:
    """A batch is finished by one UPDATE per set of result columns (usually one in all):
    results and the status change in the same statement, each row fenced on the token.
    With `counts` (counters.finish_counts) the triggers leave these rows to the finish, which
    adds their counts itself: the rows and attempts its statements changed, so that a retry
    after a lost COMMIT reply, which changes none, counts none. The skip ends with the finish:
    a later write of the same claim (a row paused) is the triggers' to count."""
    groups: dict[tuple[str, ...], list[tuple[int, Mapping[str, Any]]]] = {}
    for row_id, results in outcomes:
        groups.setdefault(tuple(results), []).append((row_id, results))
    batches = [
        _finish_batch(session.schema, token, keys, part)
        for keys, rows in groups.items()
        for part in chunks(rows, max(1, min(ID_CHUNK, 4000 // (1 + 2 * len(keys)))))
    ]

    def body(cur: Cursor) -> set[int]:
        landed: set[int] = set()
        if counts:
            session.run(cur, "finish_counting", (f"{token}/done",))
        done = 0
        for parts, args, ids in batches:
            n = session.run(cur, "finish_done_counted" if counts else "finish_done", args, **parts).rowcount
            done += n
            if n == len(ids):
                landed.update(ids)
            else:  # fenced rows, or our own write landed before a lost COMMIT reply
                landed.update(_owned_done(session, cur, token, ids))
        closed = close_attempts(session, cur, token, sorted(landed), Outcome.DONE, staged=staged, usage=usage)
        if counts:
            if done or closed:
                session.run(cur, "counts_finished", (done, closed, done))
            session.run(cur, "finish_counted")
        return landed

    return session.transaction(body)


def fail(session: Session, token: str, row_id: int, error: str, max_attempts: int, retry_delay_seconds: float,
         outcome: Outcome | None, staged: Mapping[int, Output], usage: Mapping[int, Usage] | None = None) -> bool:
    def body(cur: Cursor) -> bool:
        args = (*requeue_args(max_attempts, retry_delay_seconds), error, error_summary(error), row_id, token)
        ok = session.run(cur, "fail", args).rowcount == 1 or _owned_outcome(session, cur, token, row_id,
                                                                             ("created", "error"))
        if ok:
            close_attempts(session, cur, token, [row_id], outcome or Outcome.FAILED, error, staged, usage)
        return ok

    return session.transaction(body)


def set_status(session: Session, token: str, row_id: int, status: Status, results: Mapping[str, Any],
               staged: Mapping[int, Output], usage: Mapping[int, Usage] | None = None) -> bool:
    """An experiment asked for a final status itself (PyExperimenter's PAUSED/ERROR)."""

    def body(cur: Cursor) -> bool:
        names, values = _result_values(session.schema, results)
        args = (status.value, *values, row_id, token)
        ok = session.run(cur, "set_status", args, and_results=names).rowcount == 1 or _owned_outcome(
            session, cur, token, row_id, (status.value,)
        )
        if ok:
            outcome = Outcome.DONE if status != Status.ERROR else Outcome.FAILED
            close_attempts(session, cur, token, [row_id], outcome, staged=staged, usage=usage)
        return ok

    return session.transaction(body)


def release(session: Session, token: str, row_ids: Sequence[int], outcome: Outcome | None, reason: str | None,
            staged: Mapping[int, Output], usage: Mapping[int, Usage] | None = None) -> int:
    if not row_ids:
        return 0

    def body(cur: Cursor) -> int:
        n = session.run(cur, "release", (*row_ids, token), ids=len(row_ids)).rowcount
        close_attempts(session, cur, token, row_ids, outcome or Outcome.RELEASED, reason, staged, usage)
        return int(n)

    return session.transaction(body)


def write_results(session: Session, token: str, row_id: int, results: Mapping[str, Any]) -> bool:
    names, values = _result_values(session.schema, results)
    if not names:
        return True
    args = (*values, row_id, token)
    return session.transaction(lambda cur: session.run(cur, "write_results", args, results=names).rowcount == 1)
