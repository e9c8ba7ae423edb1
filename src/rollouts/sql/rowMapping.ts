/**
 * Row -> object conversion for both SQL backends. The column names and the object shapes are the same;
 * the drivers hand values back differently, and `RowDecoding` says how: better-sqlite3 returns JSON columns
 * as the TEXT they are stored as, pg returns `json` columns already parsed; and each backend keeps its own
 * reading of nullable number columns.
 */
import type { AttemptRow, RolloutRow } from '../engine/repository.ts';
import type {
  AttemptStatus,
  ResourcesUpdate,
  RolloutMode,
  RolloutStatus,
  Span,
  Worker,
  WorkerStatus,
} from '../types.ts';

/** A row as a driver returns it: column name -> value. */
export type Row = Record<string, unknown>;

/** How one driver's column values become JavaScript values. */
export interface RowDecoding {
  /** A JSON column's value (null for SQL NULL). */
  json(value: unknown): unknown;
  /** A nullable number column's value (null for SQL NULL). */
  optionalNumber(value: unknown): number | null;
}

/** The converters of one backend, from its rows to rollouts, attempts, spans, resources and workers. */
export interface RowMappers {
  /** An `agl_rollouts` row. */
  toRolloutRow(row: Row): RolloutRow;
  /** An `agl_attempts` row. */
  toAttemptRow(row: Row): AttemptRow;
  /** An `agl_spans` row (the span is its `body` column). */
  toSpan(row: Row): Span;
  /** An `agl_resources` row. */
  toResources(row: Row): ResourcesUpdate;
  /** An `agl_workers` row. */
  toWorker(row: Row): Worker;
}

// Nullable text columns come back as a string or null from both drivers; `?? null` only turns a column
// missing from the row into null.
function text(value: unknown): string | null {
  return (value as string | null) ?? null;
}

/** The row converters for a driver that decodes values as `decoding` says. */
export function rowMappers(decoding: RowDecoding): RowMappers {
  const { json, optionalNumber } = decoding;
  return {
    toRolloutRow: (row) => ({
      rolloutId: row.rollout_id as string,
      input: json(row.input),
      startTime: row.start_time as number,
      endTime: optionalNumber(row.end_time),
      mode: text(row.mode) as RolloutMode | null,
      resourcesId: text(row.resources_id),
      status: row.status as RolloutStatus,
      config: json(row.config) as RolloutRow['config'],
      metadata: json(row.metadata) as Record<string, unknown> | null,
      latestAttemptId: text(row.latest_attempt_id),
    }),
    toAttemptRow: (row) => ({
      rolloutId: row.rollout_id as string,
      attemptId: row.attempt_id as string,
      sequenceId: row.sequence_id as number,
      startTime: row.start_time as number,
      endTime: optionalNumber(row.end_time),
      status: row.status as AttemptStatus,
      workerId: text(row.worker_id),
      lastHeartbeatTime: optionalNumber(row.last_heartbeat_time),
      metadata: json(row.metadata) as Record<string, unknown> | null,
      deadline: optionalNumber(row.deadline),
    }),
    toSpan: (row) => json(row.body) as Span,
    toResources: (row) => ({
      resourcesId: row.resources_id as string,
      createTime: row.create_time as number,
      updateTime: row.update_time as number,
      version: row.version as number,
      resources: json(row.resources) as ResourcesUpdate['resources'],
    }),
    toWorker: (row) => ({
      workerId: row.worker_id as string,
      status: row.status as WorkerStatus,
      heartbeatStats: json(row.heartbeat_stats) as Record<string, unknown> | null,
      lastHeartbeatTime: optionalNumber(row.last_heartbeat_time),
      lastDequeueTime: optionalNumber(row.last_dequeue_time),
      lastBusyTime: optionalNumber(row.last_busy_time),
      lastIdleTime: optionalNumber(row.last_idle_time),
      currentRolloutId: text(row.current_rollout_id),
      currentAttemptId: text(row.current_attempt_id),
    }),
  };
}
