/**
 * Column names shared by the SQL backends (SQLite and PostgreSQL use the same table layout): which column a
 * public sort field sorts on, and the statuses a finished rollout can have. The keys of the sort-column maps
 * are also the list of sortable fields every backend (memory too) accepts.
 */
import {
  type AttemptSortField,
  FINISHED_ROLLOUT_STATUSES,
  type ResourcesSortField,
  type RolloutSortField,
  type SpanSortField,
  type WorkerSortField,
} from '../types.ts';

/** The column of `agl_rollouts` each rollout sort field sorts on. */
export const ROLLOUT_COLUMNS: Record<RolloutSortField, string> = {
  rolloutId: 'rollout_id',
  startTime: 'start_time',
  endTime: 'end_time',
  status: 'status',
  mode: 'mode',
  resourcesId: 'resources_id',
};

/** The column of `agl_attempts` each attempt sort field sorts on. */
export const ATTEMPT_COLUMNS: Record<AttemptSortField, string> = {
  sequenceId: 'sequence_id',
  startTime: 'start_time',
  endTime: 'end_time',
  status: 'status',
  attemptId: 'attempt_id',
  workerId: 'worker_id',
};

/** The column of `agl_spans` each span sort field sorts on. */
export const SPAN_COLUMNS: Record<SpanSortField, string> = {
  sequenceId: 'sequence_id',
  startTime: 'start_time',
  endTime: 'end_time',
  name: 'name',
  spanId: 'span_id',
  traceId: 'trace_id',
  parentId: 'parent_id',
};

/** The column of `agl_resources` each resources sort field sorts on. */
export const RESOURCES_COLUMNS: Record<ResourcesSortField, string> = {
  resourcesId: 'resources_id',
  createTime: 'create_time',
  updateTime: 'update_time',
  version: 'version',
};

/** The column of `agl_workers` each worker sort field sorts on. */
export const WORKER_COLUMNS: Record<WorkerSortField, string> = {
  workerId: 'worker_id',
  status: 'status',
  lastHeartbeatTime: 'last_heartbeat_time',
  lastDequeueTime: 'last_dequeue_time',
  lastBusyTime: 'last_busy_time',
  lastIdleTime: 'last_idle_time',
};

/** The finished rollout statuses as an SQL list, for `status IN ${FINISHED_STATUSES}` (constants, no user data). */
export const FINISHED_STATUSES = `(${FINISHED_ROLLOUT_STATUSES.map((status) => `'${status}'`).join(', ')})`;

/** The sortable fields of a sort-column map, in its order. */
export function sortFields<F extends string>(columns: Record<F, string>): readonly F[] {
  return Object.keys(columns) as F[];
}

/** The column a page sorts on, or null when it asks for no sort field. */
export function sortColumn<F extends string>(columns: Record<F, string>, sortBy: F | null): string | null {
  return sortBy === null ? null : columns[sortBy];
}
