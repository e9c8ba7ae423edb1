/**
 * The rollout tables as backup sections. SQLite and PostgreSQL share one schema table for table
 * (src/rollouts/sqlite/schema.ts), so a row written from one restores into the other: columns are listed
 * here once with their portable type. Identity columns (`seq`) are left out: rows are written back in
 * their original order, which rebuilds creation and queue order. `agl_meta` (the schema version) is not
 * data and is never copied.
 */
import type { JsonValue } from '../../codec/index.ts';

/** Portable column types: `json` columns travel as their JSON text, integers as numbers. */
export type ColumnType = 'text' | 'real' | 'int' | 'json';

/** One rollout table. */
export interface RolloutTable {
  /** Table name (the same on both backends). */
  name: string;
  /** Columns in order with their type. */
  columns: ReadonlyArray<readonly [string, ColumnType]>;
  /** Primary or unique key columns (merge compares rows by them). */
  key: readonly string[];
  /** Column that orders the rows as written (identity `seq`, or the key). */
  order: string;
}

/** The tables backed up, parents before children. */
export const ROLLOUT_TABLES: readonly RolloutTable[] = [
  {
    name: 'agl_rollouts',
    columns: [
      ['rollout_id', 'text'],
      ['input', 'json'],
      ['start_time', 'real'],
      ['end_time', 'real'],
      ['mode', 'text'],
      ['resources_id', 'text'],
      ['status', 'text'],
      ['config', 'json'],
      ['metadata', 'json'],
      ['latest_attempt_id', 'text'],
    ],
    key: ['rollout_id'],
    order: 'seq',
  },
  { name: 'agl_queue', columns: [['rollout_id', 'text']], key: ['rollout_id'], order: 'seq' },
  {
    name: 'agl_attempts',
    columns: [
      ['rollout_id', 'text'],
      ['attempt_id', 'text'],
      ['sequence_id', 'int'],
      ['start_time', 'real'],
      ['end_time', 'real'],
      ['status', 'text'],
      ['worker_id', 'text'],
      ['last_heartbeat_time', 'real'],
      ['metadata', 'json'],
      ['deadline', 'real'],
    ],
    key: ['rollout_id', 'attempt_id'],
    order: 'rollout_id, sequence_id',
  },
  {
    name: 'agl_spans',
    columns: [
      ['rollout_id', 'text'],
      ['attempt_id', 'text'],
      ['span_id', 'text'],
      ['sequence_id', 'int'],
      ['trace_id', 'text'],
      ['parent_id', 'text'],
      ['name', 'text'],
      ['start_time', 'real'],
      ['end_time', 'real'],
      ['body', 'json'],
    ],
    key: ['rollout_id', 'attempt_id', 'span_id'],
    order: 'rollout_id, sequence_id, attempt_id, span_id',
  },
  {
    name: 'agl_span_sequences',
    columns: [
      ['rollout_id', 'text'],
      ['last_sequence_id', 'int'],
    ],
    key: ['rollout_id'],
    order: 'rollout_id',
  },
  {
    name: 'agl_resources',
    columns: [
      ['resources_id', 'text'],
      ['create_time', 'real'],
      ['update_time', 'real'],
      ['version', 'int'],
      ['resources', 'json'],
      ['write_seq', 'int'],
    ],
    key: ['resources_id'],
    order: 'seq',
  },
  {
    name: 'agl_workers',
    columns: [
      ['worker_id', 'text'],
      ['status', 'text'],
      ['heartbeat_stats', 'json'],
      ['last_heartbeat_time', 'real'],
      ['last_dequeue_time', 'real'],
      ['last_busy_time', 'real'],
      ['last_idle_time', 'real'],
      ['current_rollout_id', 'text'],
      ['current_attempt_id', 'text'],
    ],
    key: ['worker_id'],
    order: 'worker_id',
  },
  {
    name: 'agl_idempotency',
    columns: [
      ['key', 'text'],
      ['operation', 'text'],
      ['result', 'text'],
      ['created_at', 'real'],
    ],
    key: ['key'],
    order: 'key',
  },
];

/** The table definition of a section collection; undefined for an unknown table. */
export function rolloutTable(name: string): RolloutTable | undefined {
  return ROLLOUT_TABLES.find((t) => t.name === name);
}

/**
 * A stored row as a portable record: integers as numbers (PostgreSQL's driver returns bigint as text),
 * JSON columns as their text, NULL as null.
 */
export function portableRow(table: RolloutTable, row: Record<string, unknown>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [column, type] of table.columns) {
    const value = row[column];
    if (value === null || value === undefined) out[column] = null;
    else if (type === 'int' || type === 'real') out[column] = Number(value);
    else out[column] = String(value);
  }
  return out;
}

/** The values of a record in column order, for an INSERT. */
export function rowValues(table: RolloutTable, record: Record<string, JsonValue>): unknown[] {
  return table.columns.map(([column]) => record[column] ?? null);
}

/** A row's key as text (for conflict reports). */
export function rowKey(table: RolloutTable, record: Record<string, JsonValue>): string {
  return table.key.map((c) => String(record[c])).join('/');
}

/** Whether two portable rows hold the same values. */
export function sameRow(
  table: RolloutTable,
  a: Record<string, JsonValue>,
  b: Record<string, JsonValue>,
): boolean {
  return table.columns.every(([column]) => (a[column] ?? null) === (b[column] ?? null));
}
