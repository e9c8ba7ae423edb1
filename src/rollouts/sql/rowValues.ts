/**
 * Object -> statement parameters for both SQL backends: the values of each write, in the column order the
 * INSERT and UPDATE statements of both backends list them. JSON columns are sent as JSON text, which SQLite
 * stores as TEXT and PostgreSQL casts to `json`.
 */
import type { AttemptRow, RolloutRow } from '../engine/repository.ts';
import { spanJson } from '../normalize.ts';
import type { ResourcesUpdate, Span, Worker } from '../types.ts';

/** JSON text of a nullable value; null and undefined become SQL NULL (not the text `null`). */
export function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/**
 * A rollout's columns after `rollout_id`: input, start_time, end_time, mode, resources_id, status, config,
 * metadata, latest_attempt_id. The input is never NULL (the column is NOT NULL; a missing input is `null`).
 */
export function rolloutFields(row: RolloutRow): unknown[] {
  return [
    JSON.stringify(row.input ?? null),
    row.startTime,
    row.endTime,
    row.mode,
    row.resourcesId,
    row.status,
    JSON.stringify(row.config),
    jsonOrNull(row.metadata),
    row.latestAttemptId,
  ];
}

/**
 * An attempt's changeable columns: end_time, status, worker_id, last_heartbeat_time, metadata, deadline
 * (the key and sequence_id, start_time never change after insert).
 */
export function attemptFields(row: AttemptRow): unknown[] {
  return [
    row.endTime,
    row.status,
    row.workerId,
    row.lastHeartbeatTime,
    jsonOrNull(row.metadata),
    row.deadline,
  ];
}

/**
 * An attempt's INSERT values: rollout_id, attempt_id, sequence_id, start_time, end_time, status, worker_id,
 * last_heartbeat_time, metadata, deadline.
 */
export function attemptInsertValues(row: AttemptRow): unknown[] {
  return [row.rolloutId, row.attemptId, row.sequenceId, row.startTime, ...attemptFields(row)];
}

/**
 * A worker's values: worker_id, status, heartbeat_stats, last_heartbeat_time, last_dequeue_time,
 * last_busy_time, last_idle_time, current_rollout_id, current_attempt_id.
 */
export function workerValues(worker: Worker): unknown[] {
  return [
    worker.workerId,
    worker.status,
    jsonOrNull(worker.heartbeatStats),
    worker.lastHeartbeatTime,
    worker.lastDequeueTime,
    worker.lastBusyTime,
    worker.lastIdleTime,
    worker.currentRolloutId,
    worker.currentAttemptId,
  ];
}

/** A resources update's values: resources_id, create_time, update_time, version, resources. */
export function resourcesValues(update: ResourcesUpdate): unknown[] {
  return [
    update.resourcesId,
    update.createTime,
    update.updateTime,
    update.version,
    JSON.stringify(update.resources),
  ];
}

/**
 * A span's values: rollout_id, attempt_id, span_id, sequence_id, trace_id, parent_id, name, start_time,
 * end_time, body (the whole span as JSON; reads return it as is). `index`: its place in the batch, named by
 * an error.
 */
export function spanValues(span: Span, index?: number): unknown[] {
  return [
    span.rolloutId,
    span.attemptId,
    span.spanId,
    span.sequenceId,
    span.traceId,
    span.parentId,
    span.name,
    span.startTime,
    span.endTime,
    spanJson(span, index),
  ];
}
