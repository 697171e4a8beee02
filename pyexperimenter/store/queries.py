"""Every statement the stores send, each named once with a one-line purpose.

A statement is written with `?` placeholders and symbolic pieces in braces: the tables
(`{table}`, `{attempts}`), the dialect's (`{now}`, `{ago}`, `{skip_locked}`, ...; see
store/dialect.py) and the shared fragments below, so that the fencing predicate and the
requeue-or-error rule exist exactly once. store/statements.py renders them for one store
when the store is made.

Fencing: every claim stamps its rows with a fresh `claim_token`, and every write for an
attempt is fenced by `{fenced}`, so a worker that was declared lost (its rows requeued, the
token cleared, maybe re-claimed under a new token) cannot touch a newer attempt.
Transitions made by the owner keep the token, transitions made by others clear it: after
a lost COMMIT, "my token, no longer running" proves that my own write landed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FRAGMENTS: dict[str, str] = {
    # Rows one claim still holds; takes the token.
    "held": "claim_token = ? AND status = 'running'",
    # One row of an attempt, for every write the attempt makes; takes the id, the token.
    "fenced": "ID = ? AND {held}",
    "fenced_in": "ID IN ({ids}) AND {held}",
    # A failed or lost attempt: back to the queue (after `retry_delay_seconds`) while
    # attempts are left, else `error`; takes max_attempts, max_attempts, delay, delay.
    "requeue_or_error": "status = CASE WHEN attempts < ? THEN 'created' ELSE 'error' END, "
    "available_at = CASE WHEN attempts < ? AND ? > 0 THEN {later} ELSE NULL END",
    # A lost run: running, no heartbeat for `?` seconds by the server's clock. The store
    # adds the restart guard (SqlStore._lost_runs_possible) wherever this is used.
    "lost": "status = 'running' AND heartbeat < {ago}",
    # Rows a claim may take.
    "open": "status = 'created' AND (available_at IS NULL OR available_at <= {now})",
    # What a claim writes; takes the token, worker, machine, experimenter name, SLURM job id.
    "take": "status = 'running', claim_token = ?, worker = ?, machine = ?, name = ?, slurm_job_id = ?, "
    "start_date = {now}, heartbeat = {now}, end_date = NULL, attempts = attempts + 1",
}

_TEXT = """
-- create_table --
-- Create one of the experiment's tables (experiment, attempts, a log table) if missing.
CREATE TABLE IF NOT EXISTS {target} ({columns}){table_suffix}

-- add_column --
-- A result column added to the config of an existing experiment.
ALTER TABLE {table} ADD COLUMN {column}

-- create_index --
-- One of the indexes of store/schema.py, if missing.
CREATE INDEX IF NOT EXISTS {index} ON {target} ({index_columns})

-- create_unique_index --
-- The same for a unique index.
CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {target} ({index_columns})

-- drop_table --
-- `pyexp delete`: drop one of the experiment's tables.
DROP TABLE IF EXISTS {target}

-- table_columns [sqlite] --
-- The experiment table's columns (none: it does not exist).
PRAGMA table_info({table})

-- table_columns [mysql] --
-- The experiment table's columns (none: it does not exist); takes the table name.
SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION

-- create_database [mysql] --
-- `pyexp fill` on a server without the database yet.
CREATE DATABASE IF NOT EXISTS {database}

-- fill_insert --
-- Add a chunk of parameter rows; a row whose parameter hash exists is skipped.
{insert_or_ignore}

-- fill_probe --
-- How many of a chunk's parameter hashes exist already (a refill skips full chunks).
SELECT COUNT(*) FROM {table} WHERE param_hash IN ({hashes})

-- claim_pick --
-- Open rows in ID order, skipping rows another claim is taking; takes the limit.
SELECT {claim_columns} FROM {table}{status_hint} WHERE {open} ORDER BY ID LIMIT ?{skip_locked}

-- claim_pick_ranked --
-- Open rows in random order: from a random rank up; takes the rank, the limit.
SELECT {claim_columns} FROM {table}{rank_hint} WHERE {open} AND rank_key >= ?
ORDER BY rank_key LIMIT ?{skip_locked}

-- claim_pick_wrapped --
-- The rest of a random pick, below the random rank; takes the rank, the limit.
SELECT {claim_columns} FROM {table}{rank_hint} WHERE {open} AND rank_key < ?
ORDER BY rank_key LIMIT ?{skip_locked}

-- claim_mark --
-- Take the picked rows under the claim's token.
UPDATE {table} SET {take} WHERE ID IN ({ids})

-- claim_returning [sqlite] --
-- Pick and take open rows in ID order in one statement, under the writer lock.
UPDATE {table} SET {take} WHERE ID IN (SELECT ID FROM {table} WHERE {open} ORDER BY ID LIMIT ?)
RETURNING {claim_columns}

-- claim_attempts --
-- One attempt-history row per claimed row; takes pid, SLURM job, array job, task, token.
INSERT INTO {attempts} (experiment_id, attempt, claim_token, worker, machine, pid, slurm_job_id,
slurm_array_job_id, slurm_array_task_id, start_date, outcome)
SELECT ID, attempts, claim_token, worker, machine, ?, ?, ?, ?, start_date, 'running'
FROM {table} WHERE claim_token = ?

-- claim_landed --
-- After a lost COMMIT reply: the rows the claim took, if its COMMIT landed.
SELECT {claim_columns} FROM {table} WHERE {held}

-- heartbeat --
-- The claim's rows are alive, by the server's clock.
UPDATE {table} SET heartbeat = {now} WHERE {held}

-- finish_done --
-- A batch of rows done: results and status in one statement, each row fenced.
UPDATE {table} SET status = 'done', end_date = {now}, error = NULL{finish_sets} WHERE {fenced_in}

-- owned_done --
-- Which rows are done under our token (our write landed, now or on an earlier try).
SELECT ID FROM {table} WHERE ID IN ({ids}) AND claim_token = ? AND status = 'done'

-- owned_outcome --
-- After a fenced write matched nothing: the row's status and token (did ours land?).
SELECT status, claim_token FROM {table} WHERE ID = ?

-- close_attempts --
-- End the running attempts of a claim; takes outcome, error, token, then the ids.
UPDATE {attempts} SET outcome = ?, end_date = {now}, error = ?
WHERE claim_token = ? AND outcome = 'running' AND experiment_id IN ({ids})

-- fail --
-- The experiment raised: requeue or error, keeping the token (the owner's transition).
UPDATE {table} SET {requeue_or_error}, error = ?, end_date = {now}, heartbeat = NULL WHERE {fenced}

-- set_status --
-- The experiment chose its final status itself (PyExperimenter's PAUSED/ERROR).
UPDATE {table} SET status = ?, end_date = {now}{and_results} WHERE {fenced}

-- release --
-- Give rows back without spending an attempt (a stop signal, a time limit).
UPDATE {table} SET status = 'created', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
start_date = NULL, heartbeat = NULL, worker = NULL, machine = NULL, slurm_job_id = NULL WHERE {fenced_in}

-- write_results --
-- Results written while the experiment runs.
UPDATE {table} SET {results} WHERE {fenced}

-- write_logs_lock --
-- Lock the row while it carries our token: no sweep requeues it before the logs are in.
SELECT ID FROM {table} WHERE {fenced}{for_update}

-- write_log --
-- One row of a log table.
INSERT INTO {target} (experiment_id, {q:timestamp}{log_columns}) VALUES (?, {now}{more_marks})

-- lost_candidates --
-- Lost runs to requeue, skipping rows a concurrent sweep is handling.
SELECT ID, claim_token, heartbeat, worker FROM {table} WHERE {lost}{skip_locked}

-- requeue_lost --
-- Requeue or error one lost run, compare-and-set on its token, which is cleared.
UPDATE {table} SET {requeue_or_error}, error = ?, claim_token = NULL, heartbeat = NULL, end_date = {now}
WHERE {fenced}

-- count_lost --
-- How many runs are lost.
SELECT COUNT(*) FROM {table} WHERE {lost}

-- server_uptime [mysql] --
-- Seconds since the server started (the restart guard of a lost run).
SHOW GLOBAL STATUS LIKE 'Uptime'

-- count_by_status --
-- Rows per status.
SELECT status, COUNT(*) FROM {table} GROUP BY status

-- reset_pick --
-- `pyexp reset`: the rows of the given statuses, locked.
SELECT ID, claim_token FROM {table} WHERE status IN ({statuses}){for_update}

-- reset_pick_ids --
-- The same, among the given ids.
SELECT ID, claim_token FROM {table} WHERE status IN ({statuses}) AND ID IN ({ids}){for_update}

-- reset_rows --
-- Rows back to a fresh `created`, ids kept, results cleared.
UPDATE {table} SET status = 'created', attempts = 0, start_date = NULL, end_date = NULL, error = NULL,
worker = NULL, machine = NULL, heartbeat = NULL, claim_token = NULL, available_at = NULL,
slurm_job_id = NULL{clear_results} WHERE ID IN ({ids})

-- reset_attempts --
-- Close the attempts that were running on reset rows.
UPDATE {attempts} SET outcome = 'reset', end_date = {now} WHERE outcome = 'running' AND experiment_id IN ({ids})

-- reset_logs --
-- Drop the log rows of reset rows.
DELETE FROM {target} WHERE experiment_id IN ({ids})

-- read_rows --
-- A whole table (experiment, attempts or a log table), optionally filtered on columns.
SELECT * FROM {target}{where} ORDER BY ID

-- report_running --
-- `pyexp status`: running rows with runtime and heartbeat age; takes the stale limit.
SELECT ID, worker, machine, slurm_job_id, attempts, start_date, heartbeat,
{age:start_date} AS runtime_seconds, {age:heartbeat} AS heartbeat_age_seconds,
CASE WHEN {lost} THEN 1 ELSE 0 END AS stale FROM {table} WHERE status = 'running' ORDER BY ID

-- report_errors --
-- `pyexp status`: rows in `error` with their tracebacks.
SELECT ID, error FROM {table} WHERE status = 'error' ORDER BY ID

-- report_finished_since --
-- `pyexp status`: rows finished in the last `?` seconds (throughput).
SELECT COUNT(*) AS n FROM {table} WHERE status IN ('done', 'error') AND end_date >= {ago}

-- report_first_end --
-- `pyexp status`: when the first row finished (the throughput window).
SELECT MIN(end_date) AS first_end, {age:MIN(end_date)} AS age_seconds FROM {table}
WHERE status IN ('done', 'error')

-- report_minutes [sqlite] --
-- `pyexp report`, the status sparkline: rows finished per minute ago and status in the last `?` seconds.
SELECT CAST({age:end_date} / 60 AS INTEGER) AS minutes_ago, status, COUNT(*) AS n FROM {table}
WHERE status IN ('done', 'error') AND end_date >= {ago} GROUP BY minutes_ago, status

-- report_minutes [mysql] --
-- `pyexp report`, the status sparkline: rows finished per minute ago and status in the last `?` seconds.
SELECT FLOOR({age:end_date} / 60) AS minutes_ago, status, COUNT(*) AS n FROM {table}
WHERE status IN ('done', 'error') AND end_date >= {ago} GROUP BY minutes_ago, status

-- report_error_texts --
-- `pyexp report`: rows in `error` by identical traceback, commonest first; takes the limit.
SELECT error, COUNT(*) AS n, MIN(ID) AS first_id, MAX(ID) AS last_id FROM {table} WHERE status = 'error'
GROUP BY error ORDER BY n DESC LIMIT ?

-- report_outcomes --
-- `pyexp report`: attempts per host, worker and outcome.
SELECT machine, worker, outcome, COUNT(*) AS n FROM {attempts} GROUP BY machine, worker, outcome

-- report_moments --
-- `pyexp report`: count, mean and mean square of result columns of done rows per parameter value; takes the limit.
SELECT {group}, COUNT(*) AS n{moments} FROM {table} WHERE status = 'done' GROUP BY {group} ORDER BY {group} LIMIT ?

-- report_best --
-- `pyexp report`: the done rows best in one result column; takes the limit.
SELECT ID, {select} FROM {table} WHERE status = 'done' AND {nonnull} ORDER BY {order} LIMIT ?

-- report_log_curve --
-- `pyexp report`: count, mean and mean square of log columns per step (the n-th log row of a run, named ID: no log column can be).
SELECT {q:ID} AS run_step, COUNT(*) AS n{moments} FROM (SELECT ROW_NUMBER() OVER (PARTITION BY experiment_id
ORDER BY {target}.{q:ID}) AS {q:ID}{log_columns} FROM {target}) steps GROUP BY {q:ID} ORDER BY {q:ID} LIMIT ?

-- sweeper_lock [mysql] --
-- Become the table's one sweeper: a named lock that dies with the connection.
SELECT GET_LOCK(?, 0)

-- sweeper_unlock [mysql] --
-- Stop being the sweeper.
SELECT RELEASE_LOCK(?)

-- session_isolation [mysql] --
-- Each statement of a transaction sees what others committed before it.
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED

-- session_clock [mysql] --
-- UTC on the server's clock; a blocked row lock fails after 20 s (and is retried).
SET SESSION time_zone = '+00:00', innodb_lock_wait_timeout = 20

-- busy_timeout [sqlite] --
-- Wait up to a minute for SQLite's writer lock inside SQLite.
PRAGMA busy_timeout = 60000

-- journal_mode [sqlite] --
-- WAL: readers (`pyexp status`) run beside the writer.
PRAGMA journal_mode = WAL

-- synchronous [sqlite] --
-- With WAL, a killed process loses nothing; only a power cut can lose the last commits.
PRAGMA synchronous = NORMAL

-- begin [sqlite] --
-- Every transaction takes the writer lock first, so a claim's read and write are one.
BEGIN IMMEDIATE

-- commit [sqlite] --
-- End a transaction.
COMMIT

-- rollback [sqlite] --
-- Abandon a transaction.
ROLLBACK
"""


@dataclass(frozen=True)
class Query:
    name: str
    purpose: str
    template: str
    only: str | None = None  # the one dialect that has this statement


_HEADER = re.compile(r"-- (\w+)(?: \[(\w+)\])? --")


def _load(text: str) -> list[Query]:
    """Blocks of `-- name [dialect] --`, `-- purpose`, then the statement's lines."""
    found = []
    for block in text.strip().split("\n\n"):
        header, purpose, *lines = block.strip().splitlines()
        m = _HEADER.fullmatch(header)
        if m is None or not purpose.startswith("-- ") or not lines:
            raise ValueError(f"malformed query block: {block[:80]!r}")
        found.append(Query(m.group(1), purpose[3:], " ".join(line.strip() for line in lines), m.group(2)))
    return found


QUERIES: tuple[Query, ...] = tuple(_load(_TEXT))
