/**
 * The SQLite schema of the rollout store. Plain relational tables, so the PostgreSQL backend mirrors it
 * one to one (REAL -> double precision, TEXT JSON -> jsonb, INTEGER PRIMARY KEY AUTOINCREMENT -> bigserial,
 * partial indexes as written). Times are epoch seconds (REAL), as in the model.
 *
 * - `agl_rollouts.seq` is creation order (the default order of queries); `latest_attempt_id` saves a
 *   lookup on every read that attaches the latest attempt.
 * - `agl_queue` is the FIFO queue, one row per queued rollout (`seq` = position).
 * - `agl_attempts.deadline` is when the health check must look at the attempt (see `attemptDeadline`);
 *   the partial index makes "what is due" a range scan over live attempts only.
 * - `agl_spans` keeps the whole span as JSON in `body` (unknown fields included) and the filterable
 *   fields as columns; the unique index is the duplicate rule (rollout, attempt, span id).
 * - `agl_resources.write_seq` orders writes, so "latest" is deterministic when update times tie.
 */

/** Schema version stored in `agl_meta`; a database with a newer one is refused. */
export const ROLLOUT_SCHEMA_VERSION = 1;

/** DDL, idempotent. */
export const ROLLOUT_SCHEMA = `
CREATE TABLE IF NOT EXISTS agl_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS agl_rollouts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  rollout_id TEXT NOT NULL UNIQUE,
  input TEXT NOT NULL,
  start_time REAL NOT NULL,
  end_time REAL,
  mode TEXT,
  resources_id TEXT,
  status TEXT NOT NULL,
  config TEXT NOT NULL,
  metadata TEXT,
  latest_attempt_id TEXT
);
CREATE INDEX IF NOT EXISTS agl_rollouts_status ON agl_rollouts (status);
CREATE INDEX IF NOT EXISTS agl_rollouts_finished ON agl_rollouts (end_time)
  WHERE status IN ('succeeded', 'failed', 'cancelled');

CREATE TABLE IF NOT EXISTS agl_queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  rollout_id TEXT NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS agl_attempts (
  rollout_id TEXT NOT NULL,
  attempt_id TEXT NOT NULL,
  sequence_id INTEGER NOT NULL,
  start_time REAL NOT NULL,
  end_time REAL,
  status TEXT NOT NULL,
  worker_id TEXT,
  last_heartbeat_time REAL,
  metadata TEXT,
  deadline REAL,
  PRIMARY KEY (rollout_id, attempt_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS agl_attempts_sequence ON agl_attempts (rollout_id, sequence_id);
CREATE INDEX IF NOT EXISTS agl_attempts_deadline ON agl_attempts (deadline) WHERE deadline IS NOT NULL;

CREATE TABLE IF NOT EXISTS agl_spans (
  rollout_id TEXT NOT NULL,
  attempt_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  sequence_id INTEGER NOT NULL,
  trace_id TEXT NOT NULL,
  parent_id TEXT,
  name TEXT NOT NULL,
  start_time REAL,
  end_time REAL,
  body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS agl_spans_identity ON agl_spans (rollout_id, attempt_id, span_id);
CREATE INDEX IF NOT EXISTS agl_spans_sequence ON agl_spans (rollout_id, sequence_id);

CREATE TABLE IF NOT EXISTS agl_span_sequences (
  rollout_id TEXT PRIMARY KEY,
  last_sequence_id INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS agl_resources (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  resources_id TEXT NOT NULL UNIQUE,
  create_time REAL NOT NULL,
  update_time REAL NOT NULL,
  version INTEGER NOT NULL,
  resources TEXT NOT NULL,
  write_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS agl_resources_latest ON agl_resources (update_time, write_seq);

CREATE TABLE IF NOT EXISTS agl_workers (
  worker_id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  heartbeat_stats TEXT,
  last_heartbeat_time REAL,
  last_dequeue_time REAL,
  last_busy_time REAL,
  last_idle_time REAL,
  current_rollout_id TEXT,
  current_attempt_id TEXT
);

CREATE TABLE IF NOT EXISTS agl_idempotency (
  key TEXT PRIMARY KEY,
  operation TEXT NOT NULL,
  result TEXT NOT NULL,
  created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS agl_idempotency_created ON agl_idempotency (created_at);
`;
