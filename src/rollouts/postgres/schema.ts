/**
 * The PostgreSQL schema of the rollout store: the SQLite schema (../sqlite/schema.ts) table for table and
 * index for index, with PostgreSQL types: REAL -> double precision, TEXT JSON -> `json`, AUTOINCREMENT ->
 * bigint identity. Times are epoch seconds, as in the model.
 *
 * Differences, each for a reason:
 * - JSON columns are `json`, not `jsonb`: `json` keeps the text as written (key order, `\u0000` escapes,
 *   which `jsonb` refuses) and is only validated on insert, which is cheaper than jsonb's conversion on the
 *   span hot path. Nothing queries inside them.
 * - `agl_spans.seq` stands in for SQLite's rowid: the tie-break of span order after sequence_id.
 * - `agl_resources.write_seq` takes values from a sequence instead of `MAX(write_seq) + 1`, which two
 *   concurrent transactions could both read.
 * - `agl_rollouts.seq` is creation order; two processes enqueueing at once get interleaved, still unique values.
 */
import { quoteIdentifier } from '../../shared/postgres/identifiers.ts';

/** Schema version stored in `agl_meta`; a schema with a newer one is refused. */
export const POSTGRES_ROLLOUT_SCHEMA_VERSION = 1;

/** DDL of the rollout tables inside `schema`; idempotent (run under an advisory lock on first use). */
export function postgresRolloutSchema(schema: string): string {
  const s = quoteIdentifier(schema);
  return `
CREATE SCHEMA IF NOT EXISTS ${s};

CREATE TABLE IF NOT EXISTS ${s}.agl_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE IF NOT EXISTS ${s}.agl_rollouts (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rollout_id text NOT NULL UNIQUE,
  input json NOT NULL,
  start_time double precision NOT NULL,
  end_time double precision,
  mode text,
  resources_id text,
  status text NOT NULL,
  config json NOT NULL,
  metadata json,
  latest_attempt_id text
);
CREATE INDEX IF NOT EXISTS agl_rollouts_status ON ${s}.agl_rollouts (status);
CREATE INDEX IF NOT EXISTS agl_rollouts_finished ON ${s}.agl_rollouts (end_time)
  WHERE status IN ('succeeded', 'failed', 'cancelled');

CREATE TABLE IF NOT EXISTS ${s}.agl_queue (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rollout_id text NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS ${s}.agl_attempts (
  rollout_id text NOT NULL,
  attempt_id text NOT NULL,
  sequence_id integer NOT NULL,
  start_time double precision NOT NULL,
  end_time double precision,
  status text NOT NULL,
  worker_id text,
  last_heartbeat_time double precision,
  metadata json,
  deadline double precision,
  PRIMARY KEY (rollout_id, attempt_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS agl_attempts_sequence ON ${s}.agl_attempts (rollout_id, sequence_id);
CREATE INDEX IF NOT EXISTS agl_attempts_deadline ON ${s}.agl_attempts (deadline) WHERE deadline IS NOT NULL;

CREATE TABLE IF NOT EXISTS ${s}.agl_spans (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rollout_id text NOT NULL,
  attempt_id text NOT NULL,
  span_id text NOT NULL,
  sequence_id integer NOT NULL,
  trace_id text NOT NULL,
  parent_id text,
  name text NOT NULL,
  start_time double precision,
  end_time double precision,
  body json NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS agl_spans_identity ON ${s}.agl_spans (rollout_id, attempt_id, span_id);
CREATE INDEX IF NOT EXISTS agl_spans_sequence ON ${s}.agl_spans (rollout_id, sequence_id);

CREATE TABLE IF NOT EXISTS ${s}.agl_span_sequences (
  rollout_id text PRIMARY KEY,
  last_sequence_id integer NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS ${s}.agl_resources_write_seq;
CREATE TABLE IF NOT EXISTS ${s}.agl_resources (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  resources_id text NOT NULL UNIQUE,
  create_time double precision NOT NULL,
  update_time double precision NOT NULL,
  version integer NOT NULL,
  resources json NOT NULL,
  write_seq bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS agl_resources_latest ON ${s}.agl_resources (update_time, write_seq);

CREATE TABLE IF NOT EXISTS ${s}.agl_workers (
  worker_id text PRIMARY KEY,
  status text NOT NULL,
  heartbeat_stats json,
  last_heartbeat_time double precision,
  last_dequeue_time double precision,
  last_busy_time double precision,
  last_idle_time double precision,
  current_rollout_id text,
  current_attempt_id text
);

CREATE TABLE IF NOT EXISTS ${s}.agl_idempotency (
  key text PRIMARY KEY,
  operation text NOT NULL,
  result text NOT NULL,
  created_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS agl_idempotency_created ON ${s}.agl_idempotency (created_at);
`;
}
