-- create_table --
-- Create one of the experiment's tables (experiment, attempts, a log table) if missing.
CREATE TABLE IF NOT EXISTS {target} ({columns}){table_suffix}

-- add_column --
-- A result column added to the config, or a bookkeeping column newer than the table.
ALTER TABLE {table} ADD COLUMN {column}

-- adopt_column --
-- A bookkeeping column added in place to a table PyExperimenter 1.4 made (adoption).
ALTER TABLE {table} ADD COLUMN {internal_column}

-- adopt_unhashed --
-- Rows without a parameter hash: those of an adopted table, or added by PyExperimenter since.
SELECT {claim_columns} FROM {table} WHERE pyexp_hash IS NULL ORDER BY ID

-- adopt_hash --
-- Give an adopted row its parameter hash and a random rank; takes hash, rank, id.
UPDATE {table} SET pyexp_hash = ?, pyexp_rank = ? WHERE ID = ? AND pyexp_hash IS NULL

-- existing_hashes --
-- Which of these parameter hashes are taken already (an adopted table may hold duplicates).
SELECT pyexp_hash FROM {table} WHERE pyexp_hash IN ({hashes})

-- schema_registry [sqlite] --
-- The database's registry of schema versions (store/engine/migrations.py): one row per experiment table.
CREATE TABLE IF NOT EXISTS {registry} (table_name TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL, upgraded_at TIMESTAMP)

-- schema_registry [mysql] --
-- The same.
CREATE TABLE IF NOT EXISTS {registry} (table_name VARCHAR(64) NOT NULL PRIMARY KEY, version INT NOT NULL,
upgraded_at DATETIME(6)){table_suffix}

-- schema_registry [postgres] --
-- The same.
CREATE TABLE IF NOT EXISTS {registry} (table_name VARCHAR(64) NOT NULL PRIMARY KEY, version INTEGER NOT NULL,
upgraded_at TIMESTAMP(6))

-- registry_exists [sqlite] --
-- Whether the registry of schema versions exists (databases of earlier versions lack it); takes its name.
SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?

-- registry_exists [mysql] --
-- The same.
SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?

-- registry_exists [postgres] --
-- The same, in the connection's schema (search_path).
SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?

-- schema_version --
-- The schema version recorded for an experiment table; takes the table's name.
SELECT version FROM {registry} WHERE table_name = ?

-- record_version [sqlite] --
-- Record an experiment table's schema version (made, or upgraded by one step); takes its name, the version.
INSERT INTO {registry} (table_name, version, upgraded_at) VALUES (?, ?, {now})
ON CONFLICT(table_name) DO UPDATE SET version = excluded.version, upgraded_at = excluded.upgraded_at

-- record_version [mysql] --
-- The same.
INSERT INTO {registry} (table_name, version, upgraded_at) VALUES (?, ?, {now})
ON DUPLICATE KEY UPDATE version = VALUES(version), upgraded_at = VALUES(upgraded_at)

-- record_version [postgres] --
-- The same.
INSERT INTO {registry} (table_name, version, upgraded_at) VALUES (?, ?, {now})
ON CONFLICT (table_name) DO UPDATE SET version = excluded.version, upgraded_at = excluded.upgraded_at

-- forget_version --
-- `pyexp delete`: the dropped table leaves the registry; takes its name.
DELETE FROM {registry} WHERE table_name = ?

-- schema_lock [mysql] --
-- One upgrade of a table at a time across DDL's implicit commits: a named lock per database and table; takes the table's name, the seconds to wait.
SELECT GET_LOCK(SHA1(CONCAT('pyexp_schema.', DATABASE(), '.', ?)), ?)

-- schema_unlock [mysql] --
-- The upgrade is over; takes the table's name.
SELECT RELEASE_LOCK(SHA1(CONCAT('pyexp_schema.', DATABASE(), '.', ?)))

-- schema_lock [postgres] --
-- One upgrade of a table at a time: an advisory lock the transaction holds until it ends (DDL is transactional here); takes the table's name. Waits up to the session's lock_timeout, then the transaction is retried.
SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended('pyexp_schema.' || current_database() || '.' || ?, 0))) l

-- rename_column --
-- Schema version 3: a bookkeeping column takes its new name in place, rows and indexes kept (SQLite >= 3.25, MariaDB >= 10.5).
ALTER TABLE {target} RENAME COLUMN {rename}

-- drop_trigger [sqlite] --
-- A counter trigger dropped before a rename (MariaDB's triggers keep the old column names); counters.install makes it again.
DROP TRIGGER IF EXISTS {trigger_kind}

-- drop_trigger [mysql] --
-- The same.
DROP TRIGGER IF EXISTS {trigger_kind}

-- drop_trigger [postgres] --
-- PostgreSQL's form: a counter trigger goes with its function.
DROP FUNCTION IF EXISTS {trigger_kind}() CASCADE

-- counts_unmark --
-- The counters are incomplete again (their triggers dropped): status counts the tables until counts_mark.
DELETE FROM {counts} WHERE kind = 'r'

-- create_index --
-- One of the indexes of store/sql/schema.py, if missing.
CREATE INDEX IF NOT EXISTS {index} ON {target} ({index_columns}){index_where}

-- drop_index [sqlite] --
-- An index to be made again in another shape (SQLite's status indexes made partial, store/engine/migrations.py), or replaced by another (store/engine/ddl.py).
DROP INDEX IF EXISTS {index}

-- drop_index [postgres] --
-- The same (index names are per schema).
DROP INDEX IF EXISTS {index}

-- drop_index [mysql] --
-- The same (index names are per table): an attempts index a later one replaced (schema.RETIRED_ATTEMPT_INDEXES).
DROP INDEX IF EXISTS {index} ON {target}

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

-- table_columns [postgres] --
-- The same.
SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()
AND table_name = ? ORDER BY ordinal_position

-- create_database [mysql] --
-- `pyexp fill` on a server without the database yet.
CREATE DATABASE IF NOT EXISTS {database}

-- create_database [postgres] --
-- The same (run outside a transaction, on the server's maintenance database).
CREATE DATABASE {database}

-- fill_insert [sqlite] --
-- Add a chunk of parameter rows; a row whose parameter hash exists is skipped.
INSERT INTO {table} ({fill_columns}) VALUES ({fill_marks}) ON CONFLICT(pyexp_hash) DO NOTHING

-- fill_insert [mysql] --
-- The same; pymysql turns executemany of this shape into multi-row INSERTs.
INSERT IGNORE INTO {table} ({fill_columns}) VALUES ({fill_marks})

-- fill_stage [postgres] --
-- A fill's chunk is copied into a temporary table of the fill columns first (COPY: PostgreSQL's fast path), gone at commit.
CREATE TEMPORARY TABLE pyexp_fill ON COMMIT DROP AS SELECT {fill_columns} FROM {table} WITH NO DATA

-- fill_copy [postgres] --
-- The chunk's rows, streamed in by COPY (Session.copy_rows).
COPY pyexp_fill ({fill_columns}) FROM STDIN

-- fill_from_stage [postgres] --
-- The chunk's rows whose parameter hash is new, from the temporary table.
INSERT INTO {table} ({fill_columns}) SELECT {fill_columns} FROM pyexp_fill ON CONFLICT (pyexp_hash) DO NOTHING

-- fill_probe --
-- How many of a chunk's parameter hashes exist already (a refill skips full chunks).
SELECT COUNT(*) FROM {table} WHERE pyexp_hash IN ({hashes})

-- claim_pick --
-- Open rows by priority, then ID, skipping rows another claim is taking; takes the limit.
SELECT {claim_columns} FROM {table}{status_hint} WHERE {open} ORDER BY pyexp_priority DESC, ID LIMIT ?{skip_locked}

-- claim_pick_where --
-- The same among rows matching `--where`, through the first column's index (made by run/launch); takes the condition values, the limit.
SELECT {claim_columns} FROM {table}{where_hint} WHERE {open}{conditions} ORDER BY pyexp_priority DESC, ID LIMIT ?{skip_locked}

-- claim_pick_ranked --
-- Open rows (matching `--where`) in random order: from a random rank up; takes the condition values, the rank, the limit.
SELECT {claim_columns} FROM {table}{rank_hint} WHERE {open}{conditions} AND pyexp_rank >= ?
ORDER BY pyexp_rank LIMIT ?{skip_locked}

-- claim_pick_wrapped --
-- The rest of a random pick, below the random rank; takes the condition values, the rank, the limit.
SELECT {claim_columns} FROM {table}{rank_hint} WHERE {open}{conditions} AND pyexp_rank < ?
ORDER BY pyexp_rank LIMIT ?{skip_locked}

-- claim_mark --
-- Take the picked rows under the claim's token.
UPDATE {table} SET {take} WHERE ID IN ({ids})

-- claim_returning [sqlite] --
-- Pick and take open rows (matching `--where`) by priority, then ID, in one statement, under the writer lock.
UPDATE {table} SET {take} WHERE ID IN (SELECT ID FROM {table} WHERE {open}{conditions} ORDER BY pyexp_priority DESC, ID LIMIT ?)
RETURNING {claim_columns}

-- claim_returning [postgres] --
-- The same, skipping rows other claims hold: one statement, one round trip.
UPDATE {table} SET {take} WHERE ID IN (SELECT ID FROM {table} WHERE {open}{conditions} ORDER BY pyexp_priority DESC, ID LIMIT ?{skip_locked})
RETURNING {claim_columns}

-- claim_pick_id --
-- One row by id, if it is in one of the given statuses (PyExperimenter's unpause, add-and-run).
SELECT {claim_columns} FROM {table} WHERE ID = ? AND status IN ({statuses}){for_update}

-- find_by_hash --
-- The id and status of the row with this parameter hash.
SELECT ID, status FROM {table} WHERE pyexp_hash = ?

-- claim_attempts --
-- One attempt-history row per claimed row; takes WorkerIdentity.attempt_values, the token.
INSERT INTO {attempts} (experiment_id, attempt, claim_token, worker, machine, pid, scheduler, job_id,
array_job_id, array_task_id, cuda_devices, git_commit, git_dirty, git_diff_hash, python_version,
packages_hash, snapshot, start_date, outcome)
SELECT ID, pyexp_attempts, pyexp_token, pyexp_worker, machine, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, start_date, 'running'
FROM {table} WHERE pyexp_token = ?

-- claim_landed --
-- After a lost COMMIT reply: the rows the claim took, if its COMMIT landed.
SELECT {claim_columns} FROM {table} WHERE {held}

-- heartbeat --
-- The claim's rows are alive, by the server's clock.
UPDATE {table} SET pyexp_heartbeat = {now} WHERE {held}

-- finish_done --
-- A batch of rows done: results and status in one statement, each row fenced.
UPDATE {table} SET status = 'done', end_date = {now}, error = NULL, pyexp_error_summary = NULL{finish_sets}
WHERE {fenced_in}

-- finish_counting [mysql] --
-- A finish that counts its own rows (store/engine/counters.py): the counter triggers skip the rows it makes done under its token and their attempts; all its rows get one end date, the one counted; takes the token and '/done'.
SET @pyexp_counted = ?, @pyexp_now = NOW(6)

-- finish_done_counted [mysql] --
-- finish_done with that end date.
UPDATE {table} SET status = 'done', end_date = @pyexp_now, error = NULL, pyexp_error_summary = NULL{finish_sets}
WHERE {fenced_in}

-- finish_counted [mysql] --
-- The end of a counting finish: its token must not make the triggers skip a later change of the same claim on this connection (a PAUSED row's attempt closes as done too).
SET @pyexp_counted = NULL

-- counts_finished [mysql] --
-- What the counter triggers would have added for those rows, once per finish instead of three times per row (keys in key order: m, o, s); takes the rows made done, the attempts closed, the rows made done.
INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('m', 'done', {minute:@pyexp_now}, {slot}, ?),
('o', 'done', 0, {slot}, ?), ('s', 'done', 0, {slot}, ?) {upsert_counts}

-- show_trigger [mysql] --
-- One counter trigger's statement (the third column), or an error when there is none. Not information_schema.TRIGGERS: MariaDB answers that through a temporary table in its tmpdir, and under CI's load such a query failed when that table's file had gone.
SHOW CREATE TRIGGER {trigger_kind}

-- owned_done --
-- Which rows are done under our token (our write landed, now or on an earlier try).
SELECT ID FROM {table} WHERE ID IN ({ids}) AND pyexp_token = ? AND status = 'done'

-- owned_outcome --
-- After a fenced write matched nothing: the row's status and token (did ours land?).
SELECT status, pyexp_token FROM {table} WHERE ID = ?

-- close_attempts --
-- End the running attempts of a claim, found by its token's index (store/sql/schema.py says why); takes outcome, error, token, then the ids.
UPDATE {attempts}{token_hint} SET outcome = ?, end_date = {now}, error = ?
WHERE claim_token = ? AND outcome = 'running' AND experiment_id IN ({ids})

-- close_attempts_measured --
-- The same, with what each attempt used (store/types.py Usage); takes outcome, error, the usage values (per column: one value, or id and value per row), token, then the ids.
UPDATE {attempts}{token_hint} SET outcome = ?, end_date = {now}, error = ?{usage_sets}
WHERE claim_token = ? AND outcome = 'running' AND experiment_id IN ({ids})

-- attempt_output --
-- What a running attempt printed so far (its file and last KB); takes file, tail, token, id. Fenced: only while it runs.
UPDATE {attempts} SET log_file = ?, log_tail = ? WHERE claim_token = ? AND experiment_id = ? AND outcome = 'running'

-- fail --
-- The experiment raised: requeue or error, keeping the token (the owner's transition).
UPDATE {table} SET {requeue_or_error}, error = ?, pyexp_error_summary = ?, end_date = {now}, pyexp_heartbeat = NULL
WHERE {fenced}

-- set_status --
-- The experiment chose its final status itself (PyExperimenter's PAUSED/ERROR).
UPDATE {table} SET status = ?, end_date = {now}{and_results} WHERE {fenced}

-- release --
-- Give rows back without spending an attempt (a stop signal, a time limit).
UPDATE {table} SET status = 'created', pyexp_attempts = CASE WHEN pyexp_attempts > 0 THEN pyexp_attempts - 1 ELSE 0 END,
start_date = NULL, pyexp_heartbeat = NULL, pyexp_worker = NULL, machine = NULL, pyexp_job_id = NULL WHERE {fenced_in}

-- save_state --
-- A resumable experiment's state dict (JSON), kept with its row for the next attempt; fenced like a result.
UPDATE {table} SET pyexp_state = ? WHERE {fenced}

-- load_state --
-- The state dict the row's last attempt saved (NULL: none); takes the id.
SELECT pyexp_state FROM {table} WHERE ID = ?

-- requeue_count --
-- How often the experiment of this row has asked to be requeued (Requeue), counted against max_requeues; takes the id.
SELECT COUNT(*) FROM {attempts} WHERE experiment_id = ? AND outcome = 'requeued'

-- write_results --
-- Results written while the experiment runs.
UPDATE {table} SET {results} WHERE {fenced}

-- write_logs_lock --
-- Lock the row while it carries our token (no sweep requeues it before the logs are in); read the one stamp.
SELECT ID, {now} FROM {table} WHERE {fenced}{for_update}

-- write_codecarbon --
-- CodeCarbon's row for one run, fenced like its results; takes the values, then the id, the token.
INSERT INTO {codecarbon} (experiment_id{codecarbon_columns}) SELECT ID{codecarbon_marks} FROM {table} WHERE {fenced}

-- write_log --
-- One row of a log table; takes the experiment id, the stamp, the values.
INSERT INTO {target} (experiment_id, {q:timestamp}{log_columns}) VALUES (?, ?{more_marks})

-- lost_candidates --
-- Lost runs to requeue, skipping rows a concurrent sweep is handling.
SELECT ID, pyexp_token AS token, pyexp_heartbeat AS heartbeat, pyexp_worker AS worker FROM {table} WHERE {lost}{skip_locked}

-- requeue_lost --
-- Requeue or error one lost run, compare-and-set on its token, which is cleared.
UPDATE {table} SET {requeue_or_error}, error = ?, pyexp_error_summary = ?, pyexp_token = NULL, pyexp_heartbeat = NULL,
end_date = {now} WHERE {fenced}

-- quarantine_evidence --
-- A worker failing fast: are its failed rows done elsewhere, is anything, is anyone else running?
SELECT (SELECT COUNT(*) FROM {attempts} WHERE outcome = 'done' AND worker <> ? AND experiment_id IN ({ids})),
(SELECT COUNT(*) FROM (SELECT 1 FROM {attempts} WHERE outcome = 'done' AND worker <> ? LIMIT 1) d),
(SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE status = 'running' AND pyexp_worker <> ? LIMIT 1) r)

-- quarantine_attempt --
-- A failed attempt of a quarantined worker: its node's fault, not the experiment's; takes token, id.
UPDATE {attempts} SET outcome = 'quarantined' WHERE claim_token = ? AND experiment_id = ?
AND outcome IN ('failed', 'oom', 'exited', 'killed', 'timeout')

-- quarantine_refund --
-- Give the row back the attempt, if nobody claimed it since (it still carries our token).
UPDATE {table} SET status = 'created', pyexp_attempts = CASE WHEN pyexp_attempts > 0 THEN pyexp_attempts - 1 ELSE 0 END,
error = NULL, pyexp_available_at = NULL, end_date = NULL WHERE ID = ? AND pyexp_token = ? AND status IN ('created', 'error')

-- host_quarantined --
-- Whether a worker on this host was quarantined in the last `?` seconds.
SELECT COUNT(*) FROM {attempts} WHERE outcome = 'quarantined' AND machine = ? AND end_date >= {ago}

-- count_lost --
-- How many runs (matching `--where`) are lost.
SELECT COUNT(*) FROM {table} WHERE {lost}{conditions}

-- server_uptime [mysql] --
-- Seconds since the server started (the restart guard of a lost run).
SHOW GLOBAL STATUS LIKE 'Uptime'

-- server_uptime [postgres] --
-- The same, as a (name, seconds) row.
SELECT 'Uptime', CAST(EXTRACT(EPOCH FROM (clock_timestamp() - pg_postmaster_start_time())) AS DOUBLE PRECISION)

-- count_by_status --
-- Rows (matching `--where`) per status.
SELECT status, COUNT(*) FROM {table}{where_conditions} GROUP BY status

-- reset_pick --
-- `pyexp reset`: the rows of the given statuses (matching `--where`), locked.
SELECT ID, pyexp_token FROM {table} WHERE status IN ({statuses}){conditions}{for_update}

-- reset_pick_ids --
-- The same, among the given ids.
SELECT ID, pyexp_token FROM {table} WHERE status IN ({statuses}) AND ID IN ({ids}){conditions}{for_update}

-- reset_rows --
-- Rows back to a fresh `created`, ids kept, results cleared.
UPDATE {table} SET status = 'created', pyexp_attempts = 0, start_date = NULL, end_date = NULL, error = NULL, pyexp_error_summary = NULL,
pyexp_worker = NULL, machine = NULL, pyexp_heartbeat = NULL, pyexp_token = NULL, pyexp_available_at = NULL,
pyexp_job_id = NULL, pyexp_state = NULL{clear_results} WHERE ID IN ({ids})

-- reset_attempts --
-- Close the attempts that were running on reset rows.
UPDATE {attempts} SET outcome = 'reset', end_date = {now} WHERE outcome = 'running' AND experiment_id IN ({ids})

-- reset_logs --
-- Drop the log rows of reset rows.
DELETE FROM {target} WHERE experiment_id IN ({ids})

-- read_rows --
-- A whole table (experiment, attempts or a log table), optionally filtered on columns.
SELECT * FROM {target}{where} ORDER BY ID

-- matching_ids --
-- `reset` and `status --where`: the ids of the rows matching the conditions.
SELECT ID FROM {table}{where_conditions} ORDER BY ID

-- report_running --
-- `pyexp status`: running rows with runtime and heartbeat age; takes the stale limit. Unordered: SQLite would walk the table in ID order.
SELECT ID, pyexp_worker AS worker, machine, pyexp_job_id AS slurm_job_id, pyexp_attempts AS attempts, start_date,
pyexp_heartbeat AS heartbeat,
{age:start_date} AS runtime_seconds, {age:pyexp_heartbeat} AS heartbeat_age_seconds,
CASE WHEN {lost} THEN 1 ELSE 0 END AS stale FROM {table} WHERE status = 'running'

-- report_outcomes --
-- `pyexp status`: attempts per outcome.
SELECT outcome, COUNT(*) AS n FROM {attempts} GROUP BY outcome ORDER BY outcome

-- report_peak --
-- `pyexp status`: the highest peak memory among the attempts of one outcome, a seek to the last entry of its range of ix_outcome_peak however many attempts it holds (NULLs sort first); takes the outcome.
SELECT MAX(peak_rss_mb) AS peak_rss_mb_max FROM {attempts} WHERE outcome = ?

-- report_usage [sqlite] --
-- `pyexp report`: what ended attempts used, per outcome (a NULL measure is not counted); reads every attempt, which status does not.
SELECT outcome, COUNT(*) AS n, COUNT(peak_rss_mb) AS measured, MAX(peak_rss_mb) AS peak_rss_mb_max,
AVG(peak_rss_mb) AS peak_rss_mb_mean, AVG(wall_seconds) AS wall_seconds_mean, SUM(cpu_seconds) AS cpu_seconds_total,
MAX(gpu_peak_mb) AS gpu_peak_mb_max FROM {attempts} WHERE outcome <> 'running' GROUP BY outcome ORDER BY outcome

-- report_usage [postgres] --
-- The same.
SELECT outcome, COUNT(*) AS n, COUNT(peak_rss_mb) AS measured, MAX(peak_rss_mb) AS peak_rss_mb_max,
AVG(peak_rss_mb) AS peak_rss_mb_mean, AVG(wall_seconds) AS wall_seconds_mean, SUM(cpu_seconds) AS cpu_seconds_total,
MAX(gpu_peak_mb) AS gpu_peak_mb_max FROM {attempts} WHERE outcome <> 'running' GROUP BY outcome ORDER BY outcome

-- report_usage [mysql] --
-- The same in one pass over the attempts: MariaDB's pick, the range of ix_outcome_peak, looks every attempt up by its key for the columns the index lacks (400,000 attempts: 10-19 s, not 0.6 s).
SELECT outcome, COUNT(*) AS n, COUNT(peak_rss_mb) AS measured, MAX(peak_rss_mb) AS peak_rss_mb_max,
AVG(peak_rss_mb) AS peak_rss_mb_mean, AVG(wall_seconds) AS wall_seconds_mean, SUM(cpu_seconds) AS cpu_seconds_total,
MAX(gpu_peak_mb) AS gpu_peak_mb_max FROM {attempts} USE INDEX () WHERE outcome <> 'running' GROUP BY outcome ORDER BY outcome

-- report_snapshots --
-- `pyexp snapshot`: the code snapshots the attempts ran (NULL: none recorded), first used first.
SELECT snapshot, COUNT(*) AS n_attempts, COUNT(DISTINCT experiment_id) AS n_rows, MIN(attempt) AS first_attempt,
MAX(attempt) AS last_attempt, MIN(start_date) AS first_start, MAX(start_date) AS last_start FROM {attempts}
GROUP BY snapshot ORDER BY MIN(start_date), snapshot

-- report_row_snapshots --
-- `pyexp snapshot CONFIG ID`: the same for one row's attempts; takes the row's ID.
SELECT snapshot, COUNT(*) AS n_attempts, COUNT(DISTINCT experiment_id) AS n_rows, MIN(attempt) AS first_attempt,
MAX(attempt) AS last_attempt, MIN(start_date) AS first_start, MAX(start_date) AS last_start FROM {attempts}
WHERE experiment_id = ? GROUP BY snapshot ORDER BY MIN(start_date), snapshot

-- report_quarantined --
-- `pyexp status`: the quarantined workers and hosts, with the attempts they gave back.
SELECT machine, worker, COUNT(*) AS attempts, MAX(end_date) AS since, MAX(error) AS error FROM {attempts}
WHERE outcome = 'quarantined' GROUP BY machine, worker ORDER BY machine, worker

-- report_error_groups --
-- `pyexp status`: errors per summary (the traceback's last line, kept when the error is written).
SELECT pyexp_error_summary AS error_summary, COUNT(*) AS n, MIN(ID) AS first_id FROM {table} WHERE status = 'error'{conditions}
GROUP BY pyexp_error_summary

-- report_status_counts --
-- `pyexp status`: rows per status, of the given statuses (matching `--where`); the errors are counted by their groups.
SELECT status, COUNT(*) AS n FROM {table} WHERE status IN ({statuses}){conditions} GROUP BY status

-- report_error_examples --
-- `pyexp status`: the first few ids of one error group; takes the summary, the --where values, the limit.
SELECT ID FROM {table} WHERE status = 'error' AND pyexp_error_summary = ?{conditions} ORDER BY ID LIMIT ?

-- report_unsummarized_groups --
-- `pyexp status`, where errors lack a summary (another tool wrote them where no summary_on_error trigger could be made): grouped here by the summary a worker stores; each group's size and first ids.
SELECT error_summary, n, ID FROM (
  SELECT error_summary, ID, COUNT(*) OVER (PARTITION BY error_summary) AS n,
         ROW_NUMBER() OVER (PARTITION BY error_summary ORDER BY ID) AS nth FROM (
    SELECT {summary_of:error} AS error_summary, ID
    FROM {table} WHERE status = 'error' AND pyexp_error_summary IS NULL{conditions}) AS e) AS g
WHERE nth <= ?

-- select_rows --
-- `pyexp results`, `get_table(where=...)` and exports: the rows and columns asked for, filtered here.
SELECT {select_columns} FROM {table}{select_where} ORDER BY ID

-- select_csv_lines [mysql] --
-- `pyexp results --format csv` on MariaDB: the same rows as select_rows, each already a line of CSV.
SELECT {csv_line} FROM {table}{select_where} ORDER BY ID

-- select_csv_lines [postgres] --
-- The same, sent by COPY (PostgreSQL's fast path: one stream, no row protocol); the values of `--where` bound by the driver, as pymysql binds all of them.
COPY (SELECT {csv_line} FROM {table}{select_where} ORDER BY ID) TO STDOUT

-- select_nth_id --
-- Where a CSV export written by two processes splits its rows: the ID `?` rows into the selection.
SELECT ID FROM {table}{select_where} ORDER BY ID LIMIT 1 OFFSET ?

-- select_count --
-- How many rows an export writes (its progress bar).
SELECT COUNT(*) FROM {table}{select_where}

-- select_groups --
-- `pyexp results --group-by`: group sizes and aggregates computed by the database.
SELECT {group_columns}{aggregates} FROM {table}{select_where} GROUP BY {group_keys}

-- select_group_values --
-- What the database cannot aggregate (a median): one column's values, group after group.
SELECT {group_columns}, {value_column} FROM {table}{select_where} ORDER BY {group_keys}

-- report_finished_since --
-- `pyexp status`: rows finished in the last `?` seconds (throughput).
SELECT COUNT(*) AS n FROM {table} WHERE status IN ('done', 'error') AND end_date >= {ago}

-- report_first_end --
-- `pyexp status`: when the first row finished (the throughput window); one index lookup per status.
SELECT MIN(first_end) AS first_end, {age:MIN(first_end)} AS age_seconds FROM
(SELECT MIN(end_date) AS first_end FROM {table} WHERE status IN ('done', 'error') AND status = 'done'
UNION ALL SELECT MIN(end_date) FROM {table} WHERE status IN ('done', 'error') AND status = 'error') f

-- report_minute_counts [sqlite] --
-- `pyexp status`, the sparkline and the done count: rows finished per minute ago in the last `?` seconds, and as minute {minute_ranges} all before (or without an end date): one statement, one clock.
SELECT CASE WHEN end_date >= {ago} THEN CAST({age:end_date} / 60 AS INTEGER) ELSE {minute_ranges} END AS minutes_ago,
COUNT(*) AS n FROM {table} WHERE status IN ('done', 'error') GROUP BY minutes_ago

-- report_minute_counts [mysql] --
-- The same as one range count of ix_status_end per minute (minute_count), glued by UNION ALL: grouping the last hour's 600,000 rows on a computed minute took twice as long (a temporary table).
{minute_ranges}

-- report_minute_counts [postgres] --
-- As on SQLite: one statement, one clock.
SELECT CASE WHEN end_date >= {ago} THEN CAST(FLOOR({age:end_date} / 60) AS INTEGER) ELSE {minute_ranges} END AS minutes_ago,
COUNT(*) AS n FROM {table} WHERE status IN ('done', 'error') GROUP BY minutes_ago

-- minute_count [mysql] (piece) --
-- One minute of report_minute_counts: the rows finished {k} minutes ago (the oldest minute's bound is the `?` seconds).
SELECT {k} AS minutes_ago, COUNT(*) AS n FROM {table} WHERE status IN ('done', 'error') AND end_date >= {oldest}{newest}

-- minutes_before [mysql] (piece) --
-- The last part of report_minute_counts: as minute {k}, the rows that finished before, or have no end date.
SELECT {k}, COUNT(*) FROM {table} WHERE status IN ('done', 'error') AND (end_date < {before} OR end_date IS NULL)

-- attempt_columns [sqlite] --
-- The attempts table's columns (an older one lacks the provenance columns).
PRAGMA table_info({attempts})

-- attempt_columns [mysql] --
-- The same; takes the attempts table's name.
SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?

-- attempt_columns [postgres] --
-- The same.
SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?

-- add_attempt_column --
-- A provenance column added to an attempts table made by an earlier version.
ALTER TABLE {attempts} ADD COLUMN {attempt_column}

-- known_packages --
-- Whether this list of installed packages is kept already; takes its hash.
SELECT ID FROM {packages} WHERE packages_hash = ?

-- record_packages [sqlite] --
-- Keep a list of installed packages once per hash; takes the hash, the list.
INSERT INTO {packages} (packages_hash, packages) VALUES (?, ?) ON CONFLICT(packages_hash) DO NOTHING

-- record_packages [mysql] --
-- The same.
INSERT IGNORE INTO {packages} (packages_hash, packages) VALUES (?, ?)

-- record_packages [postgres] --
-- The same.
INSERT INTO {packages} (packages_hash, packages) VALUES (?, ?) ON CONFLICT (packages_hash) DO NOTHING

-- latest_provenance --
-- `results --with-provenance`: per experiment, its latest done attempt's provenance.
SELECT experiment_id, worker AS attempt_worker, machine AS attempt_machine, job_id AS attempt_job_id,
cuda_devices, git_commit, git_dirty, git_diff_hash, python_version, packages_hash FROM {attempts}
WHERE ID IN (SELECT MAX(ID) FROM {attempts} WHERE outcome = 'done' GROUP BY experiment_id) ORDER BY experiment_id

-- record_launch --
-- What a launch started, for `pyexp cancel`; takes kind, job id (or pid), host.
INSERT INTO {launches} (kind, job_id, host) VALUES (?, ?, ?){returning_id}

-- active_launches --
-- Launches not ended yet, oldest first.
SELECT ID, kind, job_id, host, launched FROM {launches} WHERE ended IS NULL ORDER BY ID

-- launch_ended --
-- Whether `pyexp cancel` ended the launch of this SLURM or Grid Engine job (a worker labelling its release); takes the job id.
SELECT COUNT(*) FROM {launches} WHERE kind IN ('slurm', 'sge') AND job_id = ? AND ended IS NOT NULL

-- end_launches --
-- Launches cancelled, or local workers that exited.
UPDATE {launches} SET ended = {now} WHERE ID IN ({ids}) AND ended IS NULL

-- reopen_launches --
-- Launches a `pyexp cancel` ended but did not finish stopping (Ctrl-C): the next cancel must find them.
UPDATE {launches} SET ended = NULL WHERE ID IN ({ids})

-- sweeper_lock [mysql] --
-- Become the table's one sweeper: a named lock that dies with the connection.
SELECT GET_LOCK(?, 0)

-- sweeper_unlock [mysql] --
-- Stop being the sweeper.
SELECT RELEASE_LOCK(?)

-- sweeper_lock [postgres] --
-- Become the table's one sweeper: an advisory lock of the session, which dies with the connection; takes the lock's name.
SELECT pg_try_advisory_lock(hashtextextended(?, 0))

-- sweeper_unlock [postgres] --
-- Stop being the sweeper.
SELECT pg_advisory_unlock(hashtextextended(?, 0))

-- session_isolation [mysql] --
-- Each statement of a transaction sees what others committed before it.
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED

-- session_clock [mysql] --
-- UTC on the server's clock; a blocked row lock fails (and is retried) before the read timeout.
SET SESSION time_zone = '+00:00', innodb_lock_wait_timeout = ?

-- session_idle [mysql] --
-- A worker's connection idle for this long belongs to a vanished worker: the server frees it.
SET SESSION wait_timeout = ?

-- session_limits [postgres] --
-- A connection's bounded waits (store/backends/timeouts.py), UTC: takes lock_timeout, statement_timeout, idle_in_transaction_session_timeout, idle_session_timeout (e.g. '20s'; '0': none).
SELECT set_config('TimeZone', 'UTC', false), set_config('lock_timeout', ?, false), set_config('statement_timeout', ?, false),
set_config('idle_in_transaction_session_timeout', ?, false), set_config('idle_session_timeout', ?, false)

-- busy_timeout [sqlite] --
-- Wait up to a minute for SQLite's writer lock inside SQLite.
PRAGMA busy_timeout = 60000

-- journal_mode [sqlite] --
-- WAL: readers (`pyexp status`) run beside the writer.
PRAGMA journal_mode = WAL

-- synchronous [sqlite] --
-- With WAL, a killed process loses nothing; only a power cut can lose the last commits.
PRAGMA synchronous = NORMAL

-- report_minutes [sqlite] --
-- `pyexp report`, the status sparkline: rows finished per minute ago and status in the last `?` seconds.
SELECT CAST({age:end_date} / 60 AS INTEGER) AS minutes_ago, status, COUNT(*) AS n FROM {table}
WHERE status IN ('done', 'error') AND end_date >= {ago} GROUP BY minutes_ago, status

-- report_minutes [mysql] --
-- `pyexp report`, the status sparkline: rows finished per minute ago and status in the last `?` seconds.
SELECT TIMESTAMPDIFF(SECOND, end_date, NOW(6)) DIV 60 AS minutes_ago, status, COUNT(*) AS n FROM {table}
WHERE status IN ('done', 'error') AND end_date >= {ago} GROUP BY minutes_ago, status

-- report_minutes [postgres] --
-- The same.
SELECT CAST(FLOOR({age:end_date} / 60) AS INTEGER) AS minutes_ago, status, COUNT(*) AS n FROM {table}
WHERE status IN ('done', 'error') AND end_date >= {ago} GROUP BY minutes_ago, status

-- report_host_outcomes --
-- `pyexp report`: attempts per host, worker and outcome.
SELECT machine, worker, outcome, COUNT(*) AS n FROM {attempts} GROUP BY machine, worker, outcome

-- report_sample --
-- `pyexp report` on SQLite: a few done rows' result columns, to centre mean squares on (no ORDER BY: the status index).
SELECT {select} FROM {table} WHERE status = 'done' LIMIT ?

-- report_best [sqlite] --
-- `pyexp report`: the done rows best in one result column; takes the limit.
SELECT ID, {select} FROM {table} WHERE status = 'done' AND {nonnull} ORDER BY {order} LIMIT ?

-- report_best [mysql] --
-- The same in one pass over the table: MariaDB's pick, a (status, ...) index, looks 40% of 1M rows up one by one (26 s, not 1.4 s).
SELECT ID, {select} FROM {table} USE INDEX () WHERE status = 'done' AND {nonnull} ORDER BY {order} LIMIT ?

-- report_best [postgres] --
-- The same.
SELECT ID, {select} FROM {table} WHERE status = 'done' AND {nonnull} ORDER BY {order} LIMIT ?

-- report_log_curve --
-- `pyexp report`: aggregates (store/select.py's) of log columns per step (the n-th log row of a run, named ID: no log column can be); takes the limit.
SELECT {q:ID} AS run_step{aggregates} FROM (SELECT ROW_NUMBER() OVER (PARTITION BY experiment_id
ORDER BY {target}.{q:ID}) AS {q:ID}{log_columns} FROM {target}) steps GROUP BY {q:ID} ORDER BY {q:ID} LIMIT ?

-- begin [sqlite] --
-- Every transaction takes the writer lock first, so a claim's read and write are one.
BEGIN IMMEDIATE

-- commit [sqlite] --
-- End a transaction.
COMMIT

-- rollback [sqlite] --
-- Abandon a transaction.
ROLLBACK

-- counts_table [sqlite] --
-- `pyexp status`'s counters (store/engine/counters.py): all rows, rows per status but created and running, per error summary and per finishing minute, ended attempts per outcome.
CREATE TABLE IF NOT EXISTS {counts} (kind TEXT NOT NULL, label TEXT NOT NULL, minute INTEGER NOT NULL,
slot INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (kind, label, minute, slot))

-- counts_table [mysql] --
-- The same; a key has one row per slot, so that workers adding to it rarely wait on each other.
CREATE TABLE IF NOT EXISTS {counts} (kind CHAR(1) NOT NULL, label VARCHAR(255) NOT NULL, minute INT NOT NULL,
slot SMALLINT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (kind, label, minute, slot)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4

-- counts_table [postgres] --
-- The same.
CREATE TABLE IF NOT EXISTS {counts} (kind CHAR(1) NOT NULL, label VARCHAR(255) NOT NULL, minute INTEGER NOT NULL,
slot SMALLINT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (kind, label, minute, slot))

-- counts_exists [sqlite] --
-- Whether the counters table exists (tables of earlier versions lack it); takes its name.
SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?

-- counts_exists [mysql] --
-- The same.
SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?

-- counts_exists [postgres] --
-- The same.
SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?

-- summary_on_error [sqlite] --
-- An error written without its summary (by another tool's SQL: PyExperimenter, a user's UPDATE) gets it from the database, as a worker would have written it, so `pyexp status` groups it off the index like ours.
CREATE TRIGGER IF NOT EXISTS {trigger:sum} AFTER UPDATE OF error ON {table} FOR EACH ROW
WHEN NEW.error IS NOT OLD.error AND NEW.pyexp_error_summary IS OLD.pyexp_error_summary BEGIN
UPDATE {table} SET pyexp_error_summary = {summary_of:NEW.error} WHERE ID = NEW.ID; END

-- summary_on_error [mysql] --
-- The same, before the row is written: a statement that sets the error but not its summary gets the summary.
CREATE TRIGGER IF NOT EXISTS {trigger:sum} BEFORE UPDATE ON {table} FOR EACH ROW
SET NEW.pyexp_error_summary = CASE WHEN NOT (NEW.error <=> OLD.error) AND NEW.pyexp_error_summary <=> OLD.pyexp_error_summary
THEN {summary_of:NEW.error} ELSE NEW.pyexp_error_summary END

-- summary_on_error [postgres] --
-- The same, before the row is written, and only for statements that set the error.
CREATE OR REPLACE FUNCTION {trigger:sum}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
IF NEW.error IS DISTINCT FROM OLD.error AND NEW.pyexp_error_summary IS NOT DISTINCT FROM OLD.pyexp_error_summary THEN
NEW.pyexp_error_summary := {summary_of:NEW.error}; END IF; RETURN NEW; END $$;
CREATE OR REPLACE TRIGGER {trigger:sum} BEFORE UPDATE OF error ON {table} FOR EACH ROW EXECUTE FUNCTION {trigger:sum}()

-- summarize_errors --
-- Errors written without a summary before the summary_on_error trigger existed: summarised once, in the database.
UPDATE {table} SET pyexp_error_summary = {summary_of:error} WHERE status = 'error' AND pyexp_error_summary IS NULL AND error IS NOT NULL

-- counts_on_update [sqlite] --
-- Counters follow every change of a row's status, error summary or end date, whoever makes it: -1 for what the row was, +1 for what it is. Claims and requeues (created <-> running) change none: the running rows are counted when read, the open ones are what is left.
CREATE TRIGGER IF NOT EXISTS {trigger:upd} AFTER UPDATE OF status, pyexp_error_summary, end_date ON {table} FOR EACH ROW
WHEN {counted:OLD} OR {counted:NEW} BEGIN
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT {error_kind:OLD}, COALESCE(OLD.pyexp_error_summary, ''), 0, 0, -1
WHERE OLD.status = 'error' AND NOT (NEW.status = 'error' AND OLD.pyexp_error_summary IS NEW.pyexp_error_summary) {upsert_counts};
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT {error_kind:NEW}, COALESCE(NEW.pyexp_error_summary, ''), 0, 0, 1
WHERE NEW.status = 'error' AND NOT (OLD.status = 'error' AND OLD.pyexp_error_summary IS NEW.pyexp_error_summary) {upsert_counts};
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 'm', OLD.status, {minute:OLD.end_date}, 0, -1
WHERE {finished:OLD} AND NOT (OLD.status IS NEW.status AND OLD.end_date IS NEW.end_date) {upsert_counts};
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 'm', NEW.status, {minute:NEW.end_date}, 0, 1
WHERE {finished:NEW} AND NOT (OLD.status IS NEW.status AND OLD.end_date IS NEW.end_date) {upsert_counts};
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 's', OLD.status, 0, 0, -1
WHERE {counted:OLD} AND OLD.status IS NOT NEW.status {upsert_counts};
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 's', NEW.status, 0, 0, 1
WHERE {counted:NEW} AND OLD.status IS NOT NEW.status {upsert_counts}; END

-- counts_on_update [mysql] --
-- The same; keys are taken in key order (e, m, s), so that two transactions rarely wait on each other's in a circle. A finish that counts its own rows (finish_counting) is skipped: @pyexp_counted names its token and 'done'.
CREATE OR REPLACE TRIGGER {trigger:upd} AFTER UPDATE ON {table} FOR EACH ROW BEGIN
DECLARE s SMALLINT DEFAULT {slot};
IF ({counted:OLD} OR {counted:NEW}) AND NOT COALESCE(@pyexp_counted = CONCAT(NEW.pyexp_token, '/', NEW.status), FALSE) THEN
IF NOT (OLD.status <=> NEW.status AND OLD.pyexp_error_summary <=> NEW.pyexp_error_summary) THEN
IF OLD.status = 'error' THEN INSERT INTO {counts} (kind, label, minute, slot, n)
VALUES ({error_kind:OLD}, COALESCE(OLD.pyexp_error_summary, ''), 0, s, -1) {upsert_counts}; END IF;
IF NEW.status = 'error' THEN INSERT INTO {counts} (kind, label, minute, slot, n)
VALUES ({error_kind:NEW}, COALESCE(NEW.pyexp_error_summary, ''), 0, s, 1) {upsert_counts}; END IF; END IF;
IF NOT (OLD.status <=> NEW.status AND OLD.end_date <=> NEW.end_date) THEN
IF {finished:OLD} THEN INSERT INTO {counts} (kind, label, minute, slot, n)
VALUES ('m', OLD.status, {minute:OLD.end_date}, s, -1) {upsert_counts}; END IF;
IF {finished:NEW} THEN INSERT INTO {counts} (kind, label, minute, slot, n)
VALUES ('m', NEW.status, {minute:NEW.end_date}, s, 1) {upsert_counts}; END IF; END IF;
IF NOT (OLD.status <=> NEW.status) THEN
IF {counted:OLD} THEN INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('s', OLD.status, 0, s, -1) {upsert_counts}; END IF;
IF {counted:NEW} THEN INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('s', NEW.status, 0, s, 1) {upsert_counts}; END IF;
END IF; END IF; END

-- counts_on_update [postgres] --
-- The same, once per statement over its transition tables, summed per key: a row trigger's upsert per row made one statement's many changes of a counter row a chain of row versions each next change walks (a reset of 400,000 rows ran for minutes).
CREATE OR REPLACE FUNCTION {trigger:upd}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT kind, label, minute, {slot}, SUM(n) FROM (
SELECT {error_kind:o} AS kind, COALESCE(o.pyexp_error_summary, '') AS label, 0 AS minute, -1 AS n
FROM old_rows o JOIN new_rows w ON w.{q:ID} = o.{q:ID} WHERE o.status = 'error'
AND (o.status IS DISTINCT FROM w.status OR o.pyexp_error_summary IS DISTINCT FROM w.pyexp_error_summary)
UNION ALL SELECT {error_kind:w}, COALESCE(w.pyexp_error_summary, ''), 0, 1
FROM old_rows o JOIN new_rows w ON w.{q:ID} = o.{q:ID} WHERE w.status = 'error'
AND (o.status IS DISTINCT FROM w.status OR o.pyexp_error_summary IS DISTINCT FROM w.pyexp_error_summary)
UNION ALL SELECT 'm', o.status, {minute:o.end_date}, -1
FROM old_rows o JOIN new_rows w ON w.{q:ID} = o.{q:ID} WHERE {finished:o}
AND (o.status IS DISTINCT FROM w.status OR o.end_date IS DISTINCT FROM w.end_date)
UNION ALL SELECT 'm', w.status, {minute:w.end_date}, 1
FROM old_rows o JOIN new_rows w ON w.{q:ID} = o.{q:ID} WHERE {finished:w}
AND (o.status IS DISTINCT FROM w.status OR o.end_date IS DISTINCT FROM w.end_date)
UNION ALL SELECT 's', o.status, 0, -1
FROM old_rows o JOIN new_rows w ON w.{q:ID} = o.{q:ID} WHERE {counted:o} AND o.status IS DISTINCT FROM w.status
UNION ALL SELECT 's', w.status, 0, 1
FROM old_rows o JOIN new_rows w ON w.{q:ID} = o.{q:ID} WHERE {counted:w} AND o.status IS DISTINCT FROM w.status
) d GROUP BY kind, label, minute HAVING SUM(n) <> 0 {upsert_counts}; RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER {trigger:upd} AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION {trigger:upd}()

-- counts_on_delete [sqlite] --
-- A deleted row leaves the counters.
CREATE TRIGGER IF NOT EXISTS {trigger:del} AFTER DELETE ON {table} FOR EACH ROW BEGIN
INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('t', '', 0, 0, -1) {upsert_counts};
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 's', OLD.status, 0, 0, -1 WHERE {counted:OLD} {upsert_counts};
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT {error_kind:OLD}, COALESCE(OLD.pyexp_error_summary, ''), 0, 0, -1
WHERE OLD.status = 'error' {upsert_counts};
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 'm', OLD.status, {minute:OLD.end_date}, 0, -1
WHERE {finished:OLD} {upsert_counts}; END

-- counts_on_delete [mysql] --
-- The same.
CREATE TRIGGER IF NOT EXISTS {trigger:del} AFTER DELETE ON {table} FOR EACH ROW BEGIN
DECLARE s SMALLINT DEFAULT {slot};
IF OLD.status = 'error' THEN INSERT INTO {counts} (kind, label, minute, slot, n)
VALUES ({error_kind:OLD}, COALESCE(OLD.pyexp_error_summary, ''), 0, s, -1) {upsert_counts}; END IF;
IF {finished:OLD} THEN INSERT INTO {counts} (kind, label, minute, slot, n)
VALUES ('m', OLD.status, {minute:OLD.end_date}, s, -1) {upsert_counts}; END IF;
IF {counted:OLD} THEN INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('s', OLD.status, 0, s, -1) {upsert_counts}; END IF;
INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('t', '', 0, s, -1) {upsert_counts}; END

-- counts_on_delete [postgres] --
-- The same, once per statement.
CREATE OR REPLACE FUNCTION {trigger:del}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT kind, label, minute, {slot}, SUM(n) FROM (
SELECT {error_kind:o} AS kind, COALESCE(o.pyexp_error_summary, '') AS label, 0 AS minute, -1 AS n FROM old_rows o
WHERE o.status = 'error'
UNION ALL SELECT 'm', o.status, {minute:o.end_date}, -1 FROM old_rows o WHERE {finished:o}
UNION ALL SELECT 's', o.status, 0, -1 FROM old_rows o WHERE {counted:o}
UNION ALL SELECT 't', '', 0, -1 FROM old_rows o
) d GROUP BY kind, label, minute HAVING SUM(n) <> 0 {upsert_counts}; RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER {trigger:del} AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION {trigger:del}()

-- counts_on_attempt [sqlite] --
-- Attempts per outcome, but `running` (counted when read: one per running row): a claim's new attempt adds nothing.
CREATE TRIGGER IF NOT EXISTS {trigger:ains} AFTER INSERT ON {attempts} FOR EACH ROW WHEN {ended:NEW}
BEGIN INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('o', COALESCE(NEW.outcome, ''), 0, 0, 1) {upsert_counts}; END

-- counts_on_attempt [mysql] --
-- The same.
CREATE TRIGGER IF NOT EXISTS {trigger:ains} AFTER INSERT ON {attempts} FOR EACH ROW
IF {ended:NEW} THEN INSERT INTO {counts} (kind, label, minute, slot, n)
VALUES ('o', COALESCE(NEW.outcome, ''), 0, {slot}, 1) {upsert_counts}; END IF

-- counts_on_attempt [postgres] --
-- The same, once per statement (a claim's running attempts add nothing).
CREATE OR REPLACE FUNCTION {trigger:ains}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 'o', COALESCE(w.outcome, ''), 0, {slot}, COUNT(*)
FROM new_rows w WHERE {ended:w} GROUP BY COALESCE(w.outcome, '') {upsert_counts}; RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER {trigger:ains} AFTER INSERT ON {attempts} REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION {trigger:ains}()

-- counts_on_outcome [sqlite] --
-- An attempt that ends moves from one outcome to another.
CREATE TRIGGER IF NOT EXISTS {trigger:aupd} AFTER UPDATE OF outcome ON {attempts} FOR EACH ROW
WHEN OLD.outcome IS NOT NEW.outcome BEGIN
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 'o', COALESCE(OLD.outcome, ''), 0, 0, -1 WHERE {ended:OLD} {upsert_counts};
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 'o', COALESCE(NEW.outcome, ''), 0, 0, 1 WHERE {ended:NEW} {upsert_counts}; END

-- counts_on_outcome [mysql] --
-- The same, but for the attempts a finish that counts its own rows closes (@pyexp_counted: their token and 'done').
CREATE OR REPLACE TRIGGER {trigger:aupd} AFTER UPDATE ON {attempts} FOR EACH ROW BEGIN
DECLARE s SMALLINT DEFAULT {slot};
IF NOT (OLD.outcome <=> NEW.outcome) AND NOT COALESCE(@pyexp_counted = CONCAT(NEW.claim_token, '/', NEW.outcome), FALSE) THEN
IF {ended:OLD} THEN INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('o', COALESCE(OLD.outcome, ''), 0, s, -1) {upsert_counts}; END IF;
IF {ended:NEW} THEN INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('o', COALESCE(NEW.outcome, ''), 0, s, 1) {upsert_counts}; END IF;
END IF; END

-- counts_on_outcome [postgres] --
-- The same, once per statement.
CREATE OR REPLACE FUNCTION {trigger:aupd}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 'o', label, 0, {slot}, SUM(n) FROM (
SELECT COALESCE(o.outcome, '') AS label, -1 AS n FROM old_rows o JOIN new_rows w ON w.{q:ID} = o.{q:ID}
WHERE {ended:o} AND o.outcome IS DISTINCT FROM w.outcome
UNION ALL SELECT COALESCE(w.outcome, ''), 1 FROM old_rows o JOIN new_rows w ON w.{q:ID} = o.{q:ID}
WHERE {ended:w} AND o.outcome IS DISTINCT FROM w.outcome
) d GROUP BY label HAVING SUM(n) <> 0 {upsert_counts}; RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER {trigger:aupd} AFTER UPDATE ON {attempts} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION {trigger:aupd}()

-- counts_on_attempt_delete [sqlite] --
-- A deleted attempt leaves the counters.
CREATE TRIGGER IF NOT EXISTS {trigger:adel} AFTER DELETE ON {attempts} FOR EACH ROW WHEN {ended:OLD}
BEGIN INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('o', COALESCE(OLD.outcome, ''), 0, 0, -1) {upsert_counts}; END

-- counts_on_attempt_delete [mysql] --
-- The same.
CREATE TRIGGER IF NOT EXISTS {trigger:adel} AFTER DELETE ON {attempts} FOR EACH ROW
IF {ended:OLD} THEN INSERT INTO {counts} (kind, label, minute, slot, n)
VALUES ('o', COALESCE(OLD.outcome, ''), 0, {slot}, -1) {upsert_counts}; END IF

-- counts_on_attempt_delete [postgres] --
-- The same, once per statement.
CREATE OR REPLACE FUNCTION {trigger:adel}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT 'o', COALESCE(o.outcome, ''), 0, {slot}, -COUNT(*)
FROM old_rows o WHERE {ended:o} GROUP BY COALESCE(o.outcome, '') {upsert_counts}; RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER {trigger:adel} AFTER DELETE ON {attempts} REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION {trigger:adel}()

-- counts_mark --
-- The counters are complete: the first process to add this row seeds them (counts_seed); others find it there.
{or_ignore} INTO {counts} (kind, label, minute, slot, n) VALUES ('r', '', 0, -1, 1){ignore_conflict}

-- counts_lock --
-- Counting again waits for another process's count to commit first (SQLite: the writer lock does).
SELECT n FROM {counts} WHERE kind = 'r'{for_update}

-- counts_seed --
-- Counters for the rows already there, in one statement (one read view): what the tables hold less what all slots hold, added to slot -1.
INSERT INTO {counts} (kind, label, minute, slot, n) SELECT kind, label, minute, -1, SUM(n) FROM (
SELECT 't' AS kind, '' AS label, 0 AS minute, COUNT(*) AS n FROM {table}
UNION ALL SELECT 's', status, 0, COUNT(*) FROM {table} WHERE status NOT IN ('created', 'running') GROUP BY status
UNION ALL SELECT CASE WHEN pyexp_error_summary IS NULL THEN 'u' ELSE 'e' END, COALESCE(pyexp_error_summary, ''), 0, COUNT(*)
FROM {table} WHERE status = 'error' GROUP BY CASE WHEN pyexp_error_summary IS NULL THEN 'u' ELSE 'e' END, COALESCE(pyexp_error_summary, '')
UNION ALL SELECT 'm', status, {minute:end_date}, COUNT(*) FROM {table}
WHERE status IN ('done', 'error') AND end_date IS NOT NULL GROUP BY status, {minute:end_date}
UNION ALL SELECT 'o', COALESCE(outcome, ''), 0, COUNT(*) FROM {attempts} WHERE COALESCE(outcome, '') <> 'running'
GROUP BY COALESCE(outcome, '')
UNION ALL SELECT kind, label, minute, -SUM(n) FROM {counts} WHERE kind <> 'r' GROUP BY kind, label, minute) AS c
WHERE true GROUP BY kind, label, minute HAVING SUM(n) <> 0 {upsert_counts}

-- counts_ready --
-- Whether the counters were seeded (counts_mark), so they hold every row.
SELECT COUNT(*) FROM {counts} WHERE kind = 'r'

-- counts_add --
-- A fill's new rows (fills add no triggers' cost per row); takes how many.
INSERT INTO {counts} (kind, label, minute, slot, n) VALUES ('t', '', 0, {slot}, ?) {upsert_counts}

-- counts_read --
-- `pyexp status` off the counters: all rows, rows per finished or paused status and error summary, ended attempts per outcome, rows finished per minute since `?` minutes ago; the running rows and attempts (index ranges as long as the workers); the server's clock ('c': this minute, microseconds into it).
SELECT kind, label, minute, SUM(n) AS n FROM {counts} WHERE kind IN ('t', 's', 'e', 'u', 'o') GROUP BY kind, label, minute
UNION ALL SELECT 'n', 'running', 0, COUNT(*) FROM {table} WHERE status = 'running'
UNION ALL SELECT 'a', 'running', 0, COUNT(*) FROM {attempts} WHERE outcome = 'running'
UNION ALL SELECT kind, label, minute, SUM(n) FROM {counts}
WHERE kind = 'm' AND label IN ('done', 'error') AND minute >= {minute_now} - ? GROUP BY kind, label, minute
UNION ALL SELECT 'c', '', {minute_now}, {second_micros}
