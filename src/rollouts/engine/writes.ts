/**
 * The rules of every write of the rollout store, written once. Each operation is a generator over one open
 * `RolloutWriteTransaction`: memory and SQLite (./syncRepository.ts) run it with `runSync` inside one
 * synchronous transaction, PostgreSQL (../postgres/batches.ts) with `runAsync` inside one database transaction.
 */
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { newResourcesId } from '../ids.ts';
import { requireId } from '../normalize.ts';
import {
  attemptDeadline,
  emptyWorker,
  healthVerdict,
  isActiveRollout,
  isFinishedRollout,
  isLiveAttempt,
  isQueuedRollout,
  workerAfterEmptyDequeue,
} from '../transitions.ts';
import type {
  Attempt,
  AttemptedRollout,
  AttemptPatch,
  EnqueueRolloutRequest,
  NamedResources,
  PruneResult,
  ResourcesUpdate,
  Rollout,
  RolloutConfig,
  RolloutPatch,
  StartRolloutRequest,
  Worker,
} from '../types.ts';
import {
  applyAttemptStatus,
  createNextAttempt,
  foundRollout,
  foundRolloutAndAttempt,
  type LatestResources,
  newAttempt,
  newRolloutRow,
  type RolloutAndAttempt,
  setRolloutStatus,
} from './lifecycle.ts';
import type { AttemptRow, IdempotencyRecord, RolloutRow } from './repository.ts';
import { toAttempt, toAttempted, toRollout } from './rows.ts';
import type { Steps } from './steps.ts';
import type { RolloutWriteTransaction } from './writeTransaction.ts';

/**
 * Runs `body` once per idempotency key: a retry with the same key returns the first result. Without a key
 * it is `body` itself, so the common call pays no extra generator level on every repository call.
 */
export function idempotent<T>(
  tx: RolloutWriteTransaction,
  operation: string,
  key: string | undefined,
  body: Steps<T>,
): Steps<T> {
  return key === undefined ? body : once(tx, operation, key, body);
}

function* once<T>(tx: RolloutWriteTransaction, operation: string, key: string, body: Steps<T>): Steps<T> {
  requireId(key, 'idempotencyKey');
  const prior = (yield tx.getIdempotent(key)) as IdempotencyRecord | null;
  if (prior !== null) {
    if (prior.operation !== operation) {
      throw new InvalidInputError(
        `idempotencyKey was already used for ${prior.operation}, not ${operation}`,
        {
          field: 'idempotencyKey',
          key,
        },
      );
    }
    return JSON.parse(prior.result) as T;
  }
  const result = yield* body;
  // On PostgreSQL a concurrent first call with the same key makes this insert fail on the primary key; the
  // store then re-runs the whole transaction, which finds that call's record and returns its result.
  yield tx.putIdempotent(key, operation, JSON.stringify(result ?? null), tx.seconds());
  return result;
}

/** `startRollout`: a rollout with attempt #1, outside the queue. */
export function* startRollout(
  tx: RolloutWriteTransaction,
  request: StartRolloutRequest,
): Steps<AttemptedRollout> {
  const now = tx.seconds();
  const workerId = request?.workerId ?? null;
  if (workerId !== null) requireId(workerId, 'workerId');
  const row = yield* newRolloutRow(tx, request, 'preparing', now, 'request', {});
  const attempt = newAttempt(row, 1, workerId, now);
  const stored: RolloutRow = { ...row, latestAttemptId: attempt.attemptId };
  yield tx.insertRollouts([stored]);
  yield tx.insertAttempt(attempt);
  if (workerId !== null) yield tx.syncWorker(workerId, attempt, now, false);
  return toAttempted(stored, attempt);
}

/** `enqueueRollout` / `enqueueManyRollouts`: rollouts at the end of the queue, in order. */
export function* enqueue(
  tx: RolloutWriteTransaction,
  requests: EnqueueRolloutRequest[],
  field: string,
): Steps<Rollout[]> {
  const now = tx.seconds();
  // Looked up once per batch, not once per rollout.
  const latest: LatestResources = {};
  const rows: RolloutRow[] = [];
  for (let index = 0; index < requests.length; index++) {
    const name = requests.length === 1 && field === 'request' ? field : `${field}[${index}]`;
    rows.push(yield* newRolloutRow(tx, requests[index]!, 'queuing', now, name, latest));
  }
  yield tx.insertRollouts(rows);
  yield tx.enqueue(rows.map((row) => row.rolloutId));
  return rows.map(toRollout);
}

/** `dequeueManyRollouts`: up to `limit` queued rollouts, each with a new attempt. */
export function* dequeue(
  tx: RolloutWriteTransaction,
  limit: number,
  workerId: string | null,
): Steps<AttemptedRollout[]> {
  const now = tx.seconds();
  const out: AttemptedRollout[] = [];
  let last: AttemptRow | null = null;
  while (out.length < limit) {
    const taken = (yield tx.takeQueued(limit - out.length)) as RolloutRow[];
    if (taken.length === 0) break;
    for (const rollout of taken) {
      // A queued id whose rollout changed status meanwhile (cancelled, started by hand) is skipped.
      if (!isQueuedRollout(rollout.status)) continue;
      const [next, attempt] = yield* createNextAttempt(tx, rollout, workerId, now, true);
      out.push(toAttempted(next, attempt));
      last = attempt;
    }
  }
  if (workerId !== null) {
    // One worker runs one attempt at a time as far as the store knows: the last one dequeued.
    if (last !== null) yield tx.syncWorker(workerId, last, now, true);
    else {
      const worker = ((yield tx.getWorker(workerId)) as Worker | null) ?? emptyWorker(workerId);
      yield tx.putWorker(workerAfterEmptyDequeue(worker, now));
    }
  }
  return out;
}

/** `startAttempt`: a new attempt by hand. */
export function* startAttempt(
  tx: RolloutWriteTransaction,
  rolloutId: string,
  workerId: string | null,
): Steps<AttemptedRollout> {
  const now = tx.seconds();
  requireId(rolloutId, 'rolloutId');
  const { rollout, attempt: latest } = foundRolloutAndAttempt(
    rolloutId,
    (yield tx.getRolloutAndAttempt(rolloutId, null)) as RolloutAndAttempt | null,
  );
  const [next, attempt] = yield* createNextAttempt(tx, rollout, workerId, now, false, latest);
  if (workerId !== null) yield tx.syncWorker(workerId, attempt, now, false);
  return toAttempted(next, attempt);
}

/** `updateRollout` with an already normalized patch. */
export function* updateRollout(
  tx: RolloutWriteTransaction,
  rolloutId: string,
  changes: RolloutPatch,
): Steps<Rollout> {
  const now = tx.seconds();
  requireId(rolloutId, 'rolloutId');
  let row = foundRollout(rolloutId, (yield tx.getRollout(rolloutId)) as RolloutRow | null);
  const next: RolloutRow = { ...row };
  if ('input' in changes) next.input = changes.input;
  if ('mode' in changes) next.mode = changes.mode ?? null;
  if ('resourcesId' in changes) next.resourcesId = changes.resourcesId ?? null;
  if ('metadata' in changes) next.metadata = changes.metadata ?? null;
  if (changes.config !== undefined) next.config = changes.config as RolloutConfig;
  if (Object.keys(changes).some((key) => key !== 'status')) yield tx.updateRollout(next);
  row = next;
  if (changes.status !== undefined && changes.status !== row.status) {
    row = yield* setRolloutStatus(tx, row, changes.status, now);
  } else if (changes.status !== undefined && isFinishedRollout(changes.status)) {
    // Re-stating a finished status refreshes endTime as the reference does.
    row = { ...row, endTime: now };
    yield tx.updateRolloutState(row);
  }
  // A new config or status changes what the health check watches on the latest attempt.
  if (row.latestAttemptId !== null && (changes.config !== undefined || changes.status !== undefined)) {
    const latest = (yield tx.getAttempt(row.rolloutId, row.latestAttemptId)) as AttemptRow | null;
    if (latest !== null) {
      const deadline = isActiveRollout(row.status) ? attemptDeadline(latest, row.config, true) : null;
      if (deadline !== latest.deadline) yield tx.updateAttempt({ ...latest, deadline });
    }
  }
  return toRollout(row);
}

/** `updateAttempt` with an already normalized patch (`attemptId` may be `latest`). */
export function* updateAttempt(
  tx: RolloutWriteTransaction,
  rolloutId: string,
  attemptId: string,
  changes: AttemptPatch,
): Steps<Attempt> {
  const now = tx.seconds();
  requireId(rolloutId, 'rolloutId');
  const { rollout, attempt } = foundRolloutAndAttempt(
    rolloutId,
    (yield tx.getRolloutAndAttempt(
      rolloutId,
      attemptId === 'latest' ? null : attemptId,
    )) as RolloutAndAttempt | null,
  );
  if (attempt === null) {
    throw new NotFoundError(`attempt ${attemptId} of rollout ${rolloutId} does not exist`, {
      rolloutId,
      attemptId,
    });
  }
  let next: AttemptRow = { ...attempt };
  if ('workerId' in changes) next.workerId = changes.workerId ?? null;
  if ('lastHeartbeatTime' in changes) next.lastHeartbeatTime = changes.lastHeartbeatTime ?? null;
  if ('metadata' in changes) next.metadata = changes.metadata ?? null;
  if (changes.status !== undefined) {
    next = yield* applyAttemptStatus(tx, rollout, next, changes.status, now);
  } else {
    next.deadline = isActiveRollout(rollout.status)
      ? attemptDeadline(next, rollout.config, rollout.latestAttemptId === next.attemptId)
      : null;
    yield tx.updateAttempt(next);
    if (changes.workerId) yield tx.syncWorker(changes.workerId, next, now, false);
  }
  return toAttempt(next);
}

/**
 * `getNextSpanSequenceId`. Issued for any rollout id, existing or not, as the reference does (its clients
 * ask for a number before they write a span and must not fail there); the number stays reserved. Spans of
 * a rollout that does not exist are still refused, and `pruneFinished` drops the counters of such ids.
 */
export function* nextSpanSequenceId(tx: RolloutWriteTransaction, rolloutId: string): Steps<number> {
  requireId(rolloutId, 'rolloutId');
  return (yield tx.reserveSpanSequenceIds(rolloutId, 1)) as number;
}

/** `addResources`: a new snapshot, version 1. */
export function* addResources(
  tx: RolloutWriteTransaction,
  resources: NamedResources,
): Steps<ResourcesUpdate> {
  const now = tx.seconds();
  const update: ResourcesUpdate = {
    resourcesId: newResourcesId(),
    createTime: now,
    updateTime: now,
    version: 1,
    resources,
  };
  yield tx.putResources(update);
  return update;
}

/** `updateResources`: replaces a snapshot (version + 1), or creates it. */
export function* updateResources(
  tx: RolloutWriteTransaction,
  resourcesId: string,
  resources: NamedResources,
): Steps<ResourcesUpdate> {
  const now = tx.seconds();
  const existing = (yield tx.getResources(resourcesId)) as ResourcesUpdate | null;
  const update: ResourcesUpdate =
    existing === null
      ? { resourcesId, createTime: now, updateTime: now, version: 1, resources }
      : { ...existing, updateTime: now, version: existing.version + 1, resources };
  yield tx.putResources(update);
  return update;
}

/** `updateWorker`: a heartbeat, with new stats when `stats.given`. */
export function* updateWorker(
  tx: RolloutWriteTransaction,
  workerId: string,
  stats: { given: boolean; value: Record<string, unknown> | null },
): Steps<Worker> {
  const worker: Worker = { ...(((yield tx.getWorker(workerId)) as Worker | null) ?? emptyWorker(workerId)) };
  worker.lastHeartbeatTime = tx.seconds();
  if (stats.given) worker.heartbeatStats = stats.value;
  yield tx.putWorker(worker);
  return worker;
}

/** `pruneFinished`. */
export function* prune(tx: RolloutWriteTransaction, olderThanMs: number): Steps<PruneResult> {
  return (yield tx.pruneFinished(tx.seconds() - olderThanMs / 1000)) as PruneResult;
}

/** The health check: marks expired attempts timeout/unresponsive and propagates, up to `limit` of them. */
export function* sweep(tx: RolloutWriteTransaction, limit: number): Steps<void> {
  const now = tx.seconds();
  for (const due of (yield tx.dueAttempts(now, limit)) as AttemptRow[]) {
    const rollout = (yield tx.getRollout(due.rolloutId)) as RolloutRow | null;
    // Re-read under the rollout's lock: a writer may have changed the attempt since the due list was read.
    const attempt = (yield tx.getAttempt(due.rolloutId, due.attemptId)) as AttemptRow | null;
    if (attempt === null) continue;
    const watched =
      rollout !== null &&
      rollout.latestAttemptId === attempt.attemptId &&
      isActiveRollout(rollout.status) &&
      isLiveAttempt(attempt.status);
    if (!watched) {
      if (attempt.deadline !== null) yield tx.updateAttempt({ ...attempt, deadline: null });
      continue;
    }
    if (attempt.deadline === null || attempt.deadline >= now) continue;
    const verdict = healthVerdict(attempt, rollout.config, now);
    if (verdict === null) {
      // Float rounding put the deadline a hair early: store a fresh one and check again later.
      const deadline = attemptDeadline(attempt, rollout.config, true);
      yield tx.updateAttempt({
        ...attempt,
        deadline: deadline === null ? null : Math.max(deadline, now) + 1e-6,
      });
      continue;
    }
    yield* applyAttemptStatus(tx, rollout, attempt, verdict, now);
  }
}
