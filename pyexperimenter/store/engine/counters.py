"""`pyexp status` at any table size: counters the database keeps beside the experiment table.

Counting a million rows per status, 200,000 errors per summary, a million attempts per
outcome and the last hour's finished rows per minute took 0.9 s on MariaDB however the
statements were shaped (docs/scale.md). So `<table>_counts` holds those counts, and
triggers in the database keep them: every change of a row's status, error summary or end
date, and every attempt's outcome, adds -1 and +1 in the transaction that makes it. Changes
made by hand in SQL are counted too; status then reads a few hundred counter rows.

- What is counted: all rows; rows per status but `created` and `running`; errors per
  summary; finished rows per minute of their end date; ended attempts per outcome. The
  running rows and attempts are counted when read, an index range as long as the workers
  are many, and the open rows are all rows less the others: so a claim, the hottest
  statement, changes no counter (a counter update per claimed row halved the no-op
  throughput on MariaDB), and a finish changes three (status, minute, outcome).
- Inserts are not counted by triggers: a trigger per inserted row made a fill of 1,000,000
  rows 35% (MariaDB) to 90% (SQLite) slower, so a fill adds its chunk's count itself
  (`counts_add`). Rows inserted by hand (or a TRUNCATE, which fires no trigger) are counted
  by the next `pyexp fill`, which counts again before it inserts.
- Hot rows: every finish changes a few counters, and a transaction holds what it changed
  until it commits. On MariaDB each key has 16 rows (slots, by connection), summed when
  read; SQLite has one writer at a time anyway.
- Counting without stopping the workers: the triggers are made first, then one statement
  (one read view) adds to slot -1 what the tables hold less what all slots hold, so counts
  the triggers added meanwhile are neither lost nor counted twice. A marker row says the
  counters are complete (until it exists, status counts the tables as before); counting
  again locks it first, so two fills never correct the same difference twice.
- Where triggers cannot be made (no TRIGGER privilege; MariaDB with binary logging and no
  SUPER), status counts the tables: slower, never wrong.
- A finish counts its own batch on MariaDB (Dialect.finish_counts): its row triggers cost
  three upserts per finished row, 12% of a no-op's throughput with 16 workers. The finish
  sets `@pyexp_counted` to its token and 'done', which the triggers of its update and close
  read to skip exactly those rows, and adds the batch's three counts in one statement of the
  same transaction (queue.finish). A worker does so only where both triggers read the
  variable (`finish_counts`, schema version 7): with an earlier version's triggers it
  would count its rows twice; a worker of an earlier version never sets the variable, so
  the triggers count its rows.
"""

from __future__ import annotations

import logging
from typing import Any

from ..sql.queries import TRIGGER_KINDS
from .session import Cursor, Session

log = logging.getLogger(__name__)

TRIGGER_DOES_NOT_EXIST = 1360  # MariaDB's ER_TRG_DOES_NOT_EXIST
TRIGGERS = ("counts_on_update", "counts_on_delete", "counts_on_attempt", "counts_on_outcome",
            "counts_on_attempt_delete")


def exists(session: Session, cur: Cursor) -> bool:
    return bool(session.run(cur, "counts_exists", (session.schema.counts_table,)).fetchone()[0])


def install(session: Session, cur: Cursor) -> bool:
    """Make the counters table and its triggers, then (re)count; True when status can use
    them. Runs in `ddl.create`, so every `pyexp fill` counts again: an earlier version's
    table gains counters, and rows inserted or truncated by hand are counted right."""
    summaries(session, cur)
    session.run(cur, "counts_table")
    if not session.run(cur, "counts_ready").fetchone()[0]:
        try:
            for name in TRIGGERS:
                session.run(cur, name)
        except Exception as e:  # noqa: BLE001 - any refusal leaves status on its slower way
            if not _refused(e):
                raise
            log.warning("pyexp status will count rows without counters: the database refused a trigger (%s)", e)
            return False
        session.run(cur, "counts_mark")
    session.run(cur, "counts_lock")  # one count at a time: each corrects what the last left
    session.run(cur, "counts_seed")
    return True


def summaries(session: Session, cur: Cursor) -> None:
    """The trigger that gives an error written by another tool its summary (summary_on_error),
    and the summaries of errors written before it: `pyexp status` then groups every error off
    the (status, summary) index, never by reading 200,000 tracebacks. Where the database
    refuses the trigger, status groups the unsummarised errors itself (reports.py)."""
    if not session.dialect.last_line:
        return
    try:
        session.run(cur, "summary_on_error")
    except Exception as e:  # noqa: BLE001 - any refusal leaves status on its slower way
        if not _refused(e):
            raise
        log.warning("errors written by other tools will be summarised when read: the database refused a trigger (%s)", e)
    session.run(cur, "summarize_errors")


def uninstall(session: Session, cur: Cursor) -> bool:
    """Drop the triggers and mark the counters incomplete (status counts the tables), before
    the columns the triggers read are renamed (store/engine/migrations.py); True when they
    were ready, so that `install` makes them again and recounts."""
    if not exists(session, cur):
        return False  # no counters, so no triggers: made after their table
    was_ready = ready(session, cur)
    for kind in TRIGGER_KINDS:
        try:
            session.run(cur, "drop_trigger", trigger_kind=kind)
        except Exception as e:  # noqa: BLE001 - without the privilege, none was made
            if not _refused(e):
                raise
    session.run(cur, "counts_unmark")
    return was_ready


_FINISH_TRIGGERS = ("upd", "aupd")  # fired by a finish's update of its rows and the close of their attempts


def _finish_triggers(session: Session, cur: Cursor) -> dict[str, bool]:
    """The finish's counter triggers that exist, by kind: whether each reads @pyexp_counted."""
    found = {}
    for kind in _FINISH_TRIGGERS:
        try:
            row = session.run(cur, "show_trigger", trigger_kind=kind).fetchone()
        except Exception as e:
            if getattr(e, "args", (None,))[0] != TRIGGER_DOES_NOT_EXIST:
                raise
            continue
        found[kind] = row is not None and "@pyexp_counted" in str(row[2])
    return found


def finish_counts(session: Session) -> bool:
    """Whether a finish here counts its own rows: MariaDB, with both triggers of version 7.
    Where the triggers cannot be read, they count: a probe must not end a worker that holds
    rows (a crash here once left two rows to the lost-run sweep, which ran them twice)."""
    if not session.dialect.finish_counts:
        return False
    try:
        found = session.transaction(lambda cur: _finish_triggers(session, cur))
    except Exception as e:  # noqa: BLE001 - the triggers count correctly without the probe, only slower
        log.warning("leaving the counting of finished rows to the triggers: reading them failed: %s", e)
        return False
    return len(found) == len(_FINISH_TRIGGERS) and all(found.values())


def leave_finishes(session: Session, cur: Cursor) -> None:
    """Schema version 7 on MariaDB: the finish's triggers made again, to skip the rows a
    finish counts itself. CREATE OR REPLACE swaps each under the table's lock, so no
    concurrent change goes uncounted; a table without them (no counters, or none allowed)
    keeps none."""
    if not session.dialect.finish_counts or not exists(session, cur):
        return
    found = _finish_triggers(session, cur)
    if found and not all(found.values()):
        session.run(cur, "counts_on_update")
        session.run(cur, "counts_on_outcome")


def ready(session: Session, cur: Cursor) -> bool:
    return exists(session, cur) and bool(session.run(cur, "counts_ready").fetchone()[0])


def read(session: Session, cur: Cursor, minutes: int) -> dict[str, Any] | None:
    """The counters summed over slots, or None where they are not ready: rows per status
    (the open ones are all rows less the others), per error summary (None for errors written
    before summaries), attempts per outcome, rows finished per minute ago over the last
    `minutes` (minute 0 is the current one, `second` seconds old)."""
    if not ready(session, cur):
        return None
    found: dict[str, Any] = {"statuses": {}, "errors": {}, "outcomes": {}, "minutes": {}, "second": 0.0}
    rows = [(str(kind), label, int(minute), int(n)) for kind, label, minute, n in
            session.run(cur, "counts_read", (int(minutes),)).fetchall()]
    now_minute = next((minute for kind, _, minute, _ in rows if kind == "c"), 0)
    total = 0
    for kind, label, minute, n in rows:
        if kind == "t":
            total += n
        elif kind == "c":
            found["second"] = n / 1e6
        elif not n:
            continue
        elif kind in ("s", "n"):
            found["statuses"][str(label)] = n
        elif kind in ("e", "u"):
            found["errors"][str(label) if kind == "e" else None] = n
        elif kind in ("o", "a"):
            found["outcomes"][str(label)] = n
        elif kind == "m" and now_minute - minute < minutes:
            found["minutes"][now_minute - minute] = found["minutes"].get(now_minute - minute, 0) + n
    created = total - sum(found["statuses"].values())
    if created:
        found["statuses"]["created"] = created
    return found


def _refused(error: Exception) -> bool:
    """A database's refusal to make a trigger, not a fault of the statement."""
    code = getattr(error, "args", (None,))[0]
    text = str(error).lower()
    return code in (1142, 1227, 1419, 1370) or ("trigger" in text and "denied" in text)
