/** Public copies of stored rows: what leaves the store, without the internal columns. */
import type { Attempt, AttemptedRollout, Rollout } from '../types.ts';
import type { AttemptRow, RolloutRow } from './repository.ts';

/** Public copy of a rollout row (without latestAttemptId). */
export function toRollout(row: RolloutRow): Rollout {
  return {
    rolloutId: row.rolloutId,
    input: row.input,
    startTime: row.startTime,
    endTime: row.endTime,
    mode: row.mode,
    resourcesId: row.resourcesId,
    status: row.status,
    config: row.config,
    metadata: row.metadata,
  };
}

/** Public copy of an attempt row (without its deadline). */
export function toAttempt(row: AttemptRow): Attempt {
  return {
    rolloutId: row.rolloutId,
    attemptId: row.attemptId,
    sequenceId: row.sequenceId,
    startTime: row.startTime,
    endTime: row.endTime,
    status: row.status,
    workerId: row.workerId,
    lastHeartbeatTime: row.lastHeartbeatTime,
    metadata: row.metadata,
  };
}

/** A rollout with its latest attempt. */
export function toAttempted(row: RolloutRow, attempt: AttemptRow): AttemptedRollout {
  return { ...toRollout(row), attempt: toAttempt(attempt) };
}
