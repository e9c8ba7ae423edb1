/**
 * The steps every write is built from: lookups that fail with NOT_FOUND, a rollout's status change (endTime,
 * queue membership, waiters), an attempt's status change and its propagation, a new attempt, a new rollout
 * row, and the heartbeat a span records. Generators over `RolloutWriteTransaction` (see ./steps.ts).
 */
import { NotFoundError } from '../../errors.ts';
import { newAttemptId, newRolloutId } from '../ids.ts';
import { normalizeRolloutRequest } from '../normalize.ts';
import {
  attemptDeadline,
  endsAttempt,
  isActiveRollout,
  isFinishedRollout,
  isLiveAttempt,
  isQueuedRollout,
  rolloutStatusFromAttempt,
} from '../transitions.ts';
import type { AttemptStatus, EnqueueRolloutRequest, ResourcesUpdate, RolloutStatus } from '../types.ts';
import type { AttemptRow, RolloutRow } from './repository.ts';
import { toRollout } from './rows.ts';
import type { Steps } from './steps.ts';
import type { RolloutWriteTransaction } from './writeTransaction.ts';

/** A rollout and one of its attempts, as `RolloutWriteTransaction.getRolloutAndAttempt` reads them. */
export interface RolloutAndAttempt {
  rollout: RolloutRow;
  attempt: AttemptRow | null;
}

// The two checks below are plain functions the caller applies to what it yielded, not generators that
// yield the read themselves: they run on every attempt and span write, and a helper generator would add
// an allocation and a delegation level to each.

/** The rollout read for `rolloutId`; NOT_FOUND when it is missing. */
export function foundRollout(rolloutId: string, row: RolloutRow | null): RolloutRow {
  if (row === null) throw new NotFoundError(`rollout ${rolloutId} does not exist`, { rolloutId });
  return row;
}

/** The rollout and attempt read for `rolloutId`; NOT_FOUND when the rollout is missing. */
export function foundRolloutAndAttempt(
  rolloutId: string,
  found: RolloutAndAttempt | null,
): RolloutAndAttempt {
  if (found === null) throw new NotFoundError(`rollout ${rolloutId} does not exist`, { rolloutId });
  return found;
}

/** Saves a rollout with a new status: endTime, queue membership and waiters follow. */
export function* setRolloutStatus(
  tx: RolloutWriteTransaction,
  row: RolloutRow,
  status: RolloutStatus,
  now: number,
): Steps<RolloutRow> {
  const previous = row.status;
  const next: RolloutRow = { ...row, status };
  if (isFinishedRollout(status)) next.endTime = now;
  else if (isFinishedRollout(previous)) next.endTime = null;
  yield tx.updateRolloutState(next);
  if (isQueuedRollout(status)) yield tx.enqueue([row.rolloutId]);
  else if (isQueuedRollout(previous)) yield tx.removeQueued(row.rolloutId);
  if (isFinishedRollout(status) && previous !== status) tx.finished.push(toRollout(next));
  return next;
}

/** Changes an attempt's status; the latest attempt's status propagates to its rollout. */
export function* applyAttemptStatus(
  tx: RolloutWriteTransaction,
  rollout: RolloutRow,
  attempt: AttemptRow,
  status: AttemptStatus,
  now: number,
): Steps<AttemptRow> {
  const isLatest = rollout.latestAttemptId === attempt.attemptId;
  const next: AttemptRow = { ...attempt, status, endTime: endsAttempt(status) ? now : attempt.endTime };
  next.deadline = attemptDeadline(next, rollout.config, isLatest);
  yield tx.updateAttempt(next);
  // A cancelled rollout stays cancelled whatever its runner reports later (the reference would revive it).
  if (isLatest && rollout.status !== 'cancelled') {
    const target = rolloutStatusFromAttempt(next, rollout.config);
    if (target !== rollout.status) yield* setRolloutStatus(tx, rollout, target, now);
  }
  if (next.workerId !== null) yield tx.syncWorker(next.workerId, next, now, false);
  return next;
}

/** A fresh `preparing` attempt row with its health-check deadline. */
export function newAttempt(
  rollout: RolloutRow,
  sequenceId: number,
  workerId: string | null,
  now: number,
): AttemptRow {
  const attempt: AttemptRow = {
    rolloutId: rollout.rolloutId,
    attemptId: newAttemptId(),
    sequenceId,
    startTime: now,
    endTime: null,
    status: 'preparing',
    workerId,
    lastHeartbeatTime: null,
    metadata: {},
    deadline: null,
  };
  attempt.deadline = attemptDeadline(attempt, rollout.config, true);
  return attempt;
}

/**
 * Creates the next attempt of a rollout, retiring the previous latest attempt from health checks. `latest`:
 * that attempt when the caller already read it (undefined: read here).
 */
export function* createNextAttempt(
  tx: RolloutWriteTransaction,
  rollout: RolloutRow,
  workerId: string | null,
  now: number,
  fromQueue: boolean,
  latest?: AttemptRow | null,
): Steps<[RolloutRow, AttemptRow]> {
  let sequenceId = 1;
  if (rollout.latestAttemptId !== null) {
    const previous =
      latest !== undefined
        ? latest
        : ((yield tx.getAttempt(rollout.rolloutId, rollout.latestAttemptId)) as AttemptRow | null);
    if (previous !== null) {
      sequenceId = previous.sequenceId + 1;
      if (previous.deadline !== null) yield tx.updateAttempt({ ...previous, deadline: null });
    }
  }
  const attempt = newAttempt(rollout, sequenceId, workerId, now);
  yield tx.insertAttempt(attempt);
  const wasQueued = isQueuedRollout(rollout.status);
  const next: RolloutRow = {
    ...rollout,
    status: 'preparing',
    endTime: isFinishedRollout(rollout.status) ? null : rollout.endTime,
    latestAttemptId: attempt.attemptId,
  };
  yield tx.updateRolloutState(next);
  // A dequeued id already left the queue; a rollout started by hand while queued leaves it now.
  if (wasQueued && !fromQueue) yield tx.removeQueued(rollout.rolloutId);
  return [next, attempt];
}

/** The latest resources id, looked up at most once per operation (`undefined`: not looked up yet). */
export interface LatestResources {
  resourcesId?: string | null;
}

/**
 * A new rollout row from a request; without resourcesId it takes the latest resources. A given resourcesId is
 * stored as given, even when no such resources exist yet: trainers pin rollouts to resources they add later
 * or to ids of their own, as the reference allows (`getResourcesById` answers null until they exist).
 */
export function* newRolloutRow(
  tx: RolloutWriteTransaction,
  request: EnqueueRolloutRequest,
  status: RolloutStatus,
  now: number,
  field: string,
  latest: LatestResources,
): Steps<RolloutRow> {
  const normalized = normalizeRolloutRequest(request, field);
  let resourcesId = normalized.resourcesId;
  if (resourcesId === null) {
    if (latest.resourcesId === undefined) {
      const update = (yield tx.latestResources()) as ResourcesUpdate | null;
      latest.resourcesId = update?.resourcesId ?? null;
    }
    resourcesId = latest.resourcesId;
  }
  return {
    rolloutId: newRolloutId(),
    input: normalized.input,
    startTime: now,
    endTime: null,
    mode: normalized.mode,
    resourcesId,
    status,
    config: normalized.config,
    metadata: normalized.metadata,
    latestAttemptId: null,
  };
}

/**
 * A span is a heartbeat: preparing/unresponsive attempts become running (timeout, failed, succeeded stay: a
 * late span never revives a timed-out attempt), and the rollout of the latest attempt runs. Returns the
 * rollout as stored afterwards.
 */
export function* heartbeat(
  tx: RolloutWriteTransaction,
  rollout: RolloutRow,
  attempt: AttemptRow,
  now: number,
): Steps<RolloutRow> {
  const revived = attempt.status === 'preparing' || attempt.status === 'unresponsive';
  const isLatest = rollout.latestAttemptId === attempt.attemptId;
  const next: AttemptRow = {
    ...attempt,
    lastHeartbeatTime: now,
    status: revived ? 'running' : attempt.status,
  };
  // Only a live attempt runs its rollout. A span of an attempt that already ended (timeout, failed: an OTLP
  // exporter flushing after the runner reported) must not take a rollout waiting for its retry out of the
  // queue: it would stay 'running' with no live attempt, which no health check ever ends.
  const rolloutRuns =
    isLatest &&
    isLiveAttempt(next.status) &&
    (rollout.status === 'preparing' || rollout.status === 'queuing' || rollout.status === 'requeuing');
  next.deadline = isActiveRollout(rolloutRuns ? 'running' : rollout.status)
    ? attemptDeadline(next, rollout.config, isLatest)
    : null;
  yield tx.updateAttempt(next);
  let result = rollout;
  if (rolloutRuns) result = yield* setRolloutStatus(tx, rollout, 'running', now);
  if (revived && next.workerId !== null) yield tx.syncWorker(next.workerId, next, now, false);
  return result;
}
