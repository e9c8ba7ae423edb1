/**
 * The rules of every write of the PostgreSQL rollout store, run inside one database transaction. This is
 * the shared engine (../engine/repositoryStore.ts) step for step, over an asynchronous repository: same
 * order of reads and writes, same pure helpers (transitions.ts, normalize.ts), so a rule changed there is
 * changed here in the same words. What differs is only what PostgreSQL needs: rollout and worker rows read by
 * a write are locked (`FOR UPDATE`), because other processes write at the same time.
 */
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import type { AttemptRow, RolloutRow } from '../engine/repository.ts';
import { newAttemptId, newResourcesId, newRolloutId } from '../ids.ts';
import { normalizeRolloutRequest, normalizeSpan, requireId } from '../normalize.ts';
import {
  attemptDeadline,
  emptyWorker,
  endsAttempt,
  healthVerdict,
  isActiveRollout,
  isFinishedRollout,
  isLiveAttempt,
  isQueuedRollout,
  rolloutStatusFromAttempt,
  workerAfterAttempt,
  workerAfterEmptyDequeue,
} from '../transitions.ts';
import type {
  Attempt,
  AttemptedRollout,
  AttemptPatch,
  AttemptStatus,
  EnqueueRolloutRequest,
  NamedResources,
  PruneResult,
  ResourcesUpdate,
  Rollout,
  RolloutConfig,
  RolloutPatch,
  RolloutStatus,
  Span,
  SpanInput,
  SpanWriteResult,
  StartRolloutRequest,
  Worker,
} from '../types.ts';
import type { BufferedWrites, PostgresRolloutRepository } from './repository.ts';

/** Public copy of a rollout row. */
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

/** Public copy of an attempt row. */
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

const WORKER_KEYS: ReadonlyArray<keyof Worker> = [
  'status',
  'heartbeatStats',
  'lastHeartbeatTime',
  'lastDequeueTime',
  'lastBusyTime',
  'lastIdleTime',
  'currentRolloutId',
  'currentAttemptId',
];

/** Two workers that differ in every field (see `#syncWorker`). */
function workerProbes(workerId: string): [Worker, Worker] {
  return [
    {
      workerId,
      status: 'unknown',
      heartbeatStats: {},
      lastHeartbeatTime: -1,
      lastDequeueTime: -1,
      lastBusyTime: -1,
      lastIdleTime: -1,
      currentRolloutId: '\u0000a',
      currentAttemptId: '\u0000a',
    },
    {
      workerId,
      status: 'busy',
      heartbeatStats: {},
      lastHeartbeatTime: -2,
      lastDequeueTime: -2,
      lastBusyTime: -2,
      lastIdleTime: -2,
      currentRolloutId: '\u0000b',
      currentAttemptId: '\u0000b',
    },
  ];
}

/** One open transaction: the connection, the clock, and the rollouts it finished (to notify after commit). */
export class RolloutTransaction {
  readonly #repo: PostgresRolloutRepository;
  readonly #q: BufferedWrites;
  readonly #seconds: () => number;
  /** Rollouts this transaction finished; waiters are woken (and NOTIFY sent) with the commit. */
  readonly finished: Rollout[] = [];

  constructor(repo: PostgresRolloutRepository, q: BufferedWrites, seconds: () => number) {
    this.#repo = repo;
    this.#q = q;
    this.#seconds = seconds;
  }

  /** Sends writes still held back; run after each operation so an error belongs to the operation that caused it. */
  flush(): Promise<void> {
    return this.#q.flush();
  }

  /** Runs `fn` once per idempotency key: a retry with the same key returns the first result. */
  async idempotent<T>(operation: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    if (key === undefined) return fn();
    requireId(key, 'idempotencyKey');
    const prior = await this.#repo.getIdempotent(this.#q, key);
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
    const result = await fn();
    // A concurrent first call with the same key makes this INSERT fail on the primary key; the store then
    // retries the whole transaction, which finds that call's record and returns its result.
    await this.#repo.putIdempotent(this.#q, key, operation, JSON.stringify(result ?? null), this.#seconds());
    return result;
  }

  async #requireRollout(rolloutId: string): Promise<RolloutRow> {
    requireId(rolloutId, 'rolloutId');
    const row = await this.#repo.getRollout(this.#q, rolloutId, true);
    if (row === null) throw new NotFoundError(`rollout ${rolloutId} does not exist`, { rolloutId });
    return row;
  }

  /** The rollout (locked) and one attempt of it (null: its latest), in one round trip. */
  async #requireRolloutAndAttempt(
    rolloutId: string,
    attemptId: string | null,
  ): Promise<{ rollout: RolloutRow; attempt: AttemptRow | null }> {
    requireId(rolloutId, 'rolloutId');
    const found = await this.#repo.getRolloutAndAttempt(this.#q, rolloutId, attemptId);
    if (found === null) throw new NotFoundError(`rollout ${rolloutId} does not exist`, { rolloutId });
    return found;
  }

  async #requireResources(resourcesId: string | null): Promise<void> {
    if (resourcesId !== null && (await this.#repo.getResources(this.#q, resourcesId)) === null) {
      throw new NotFoundError(`resources ${resourcesId} do not exist; add them first or omit resourcesId`, {
        resourcesId,
      });
    }
  }

  /** Saves a rollout with a new status: endTime, queue membership and waiters follow. */
  async #setRolloutStatus(row: RolloutRow, status: RolloutStatus, now: number): Promise<RolloutRow> {
    const previous = row.status;
    const next: RolloutRow = { ...row, status };
    if (isFinishedRollout(status)) next.endTime = now;
    else if (isFinishedRollout(previous)) next.endTime = null;
    await this.#repo.updateRolloutState(this.#q, next);
    if (isQueuedRollout(status)) await this.#repo.enqueue(this.#q, [row.rolloutId]);
    else if (isQueuedRollout(previous)) await this.#repo.removeQueued(this.#q, row.rolloutId);
    if (isFinishedRollout(status) && previous !== status) this.finished.push(toRollout(next));
    return next;
  }

  /** Changes an attempt's status; the latest attempt's status propagates to its rollout. */
  async #applyAttemptStatus(
    rollout: RolloutRow,
    attempt: AttemptRow,
    status: AttemptStatus,
    now: number,
  ): Promise<AttemptRow> {
    const isLatest = rollout.latestAttemptId === attempt.attemptId;
    const next: AttemptRow = { ...attempt, status, endTime: endsAttempt(status) ? now : attempt.endTime };
    next.deadline = attemptDeadline(next, rollout.config, isLatest);
    await this.#repo.updateAttempt(this.#q, next);
    // A cancelled rollout stays cancelled whatever its runner reports later.
    if (isLatest && rollout.status !== 'cancelled') {
      const target = rolloutStatusFromAttempt(next, rollout.config);
      if (target !== rollout.status) await this.#setRolloutStatus(rollout, target, now);
    }
    if (next.workerId !== null) await this.#syncWorker(next.workerId, next, now, false);
    return next;
  }

  /**
   * The worker after one of its attempts changed (`workerAfterAttempt`), written as one upsert of the fields
   * the rule sets instead of a locked read plus a write (the hot path runs this on every dequeue, revival
   * and finish). Which fields the rule sets is found by running it on two probe workers that differ in every
   * field: a field with the same result on both does not depend on the old worker. Should the rule ever
   * depend on the old worker, the locked read-modify-write is used instead.
   */
  async #syncWorker(workerId: string, attempt: Attempt, now: number, dequeued: boolean): Promise<void> {
    const [probeA, probeB] = workerProbes(workerId);
    const a = workerAfterAttempt(probeA, attempt, now, dequeued);
    const b = workerAfterAttempt(probeB, attempt, now, dequeued);
    const set: Array<keyof Worker> = [];
    let pure = true;
    for (const key of WORKER_KEYS) {
      if (a[key] === b[key]) set.push(key);
      else if (a[key] !== probeA[key] || b[key] !== probeB[key]) pure = false;
    }
    if (!pure) {
      const worker = (await this.#repo.getWorker(this.#q, workerId, true)) ?? emptyWorker(workerId);
      await this.#repo.putWorker(this.#q, workerAfterAttempt(worker, attempt, now, dequeued));
      return;
    }
    const insert = workerAfterAttempt(emptyWorker(workerId), attempt, now, dequeued);
    await this.#repo.patchWorker(this.#q, insert, set);
  }

  #newAttempt(rollout: RolloutRow, sequenceId: number, workerId: string | null, now: number): AttemptRow {
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

  /** Creates the next attempt of a rollout, retiring the previous latest attempt from health checks. */
  async #createNextAttempt(
    rollout: RolloutRow,
    workerId: string | null,
    now: number,
    fromQueue: boolean,
    latest?: AttemptRow | null,
  ): Promise<[RolloutRow, AttemptRow]> {
    let sequenceId = 1;
    if (rollout.latestAttemptId !== null) {
      const previous =
        latest !== undefined
          ? latest
          : await this.#repo.getAttempt(this.#q, rollout.rolloutId, rollout.latestAttemptId);
      if (previous !== null) {
        sequenceId = previous.sequenceId + 1;
        if (previous.deadline !== null)
          await this.#repo.updateAttempt(this.#q, { ...previous, deadline: null });
      }
    }
    const attempt = this.#newAttempt(rollout, sequenceId, workerId, now);
    await this.#repo.insertAttempt(this.#q, attempt);
    const wasQueued = isQueuedRollout(rollout.status);
    const next: RolloutRow = {
      ...rollout,
      status: 'preparing',
      endTime: isFinishedRollout(rollout.status) ? null : rollout.endTime,
      latestAttemptId: attempt.attemptId,
    };
    await this.#repo.updateRolloutState(this.#q, next);
    if (wasQueued && !fromQueue) await this.#repo.removeQueued(this.#q, rollout.rolloutId);
    return [next, attempt];
  }

  async #newRolloutRow(
    request: EnqueueRolloutRequest,
    status: RolloutStatus,
    now: number,
    field: string,
    latestResourcesId: () => Promise<string | null>,
  ): Promise<RolloutRow> {
    const normalized = normalizeRolloutRequest(request, field);
    let resourcesId = normalized.resourcesId;
    if (resourcesId === null) resourcesId = await latestResourcesId();
    else await this.#requireResources(resourcesId);
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

  // ---------------------------------------------------------------- operations

  /** `startRollout`: a rollout with attempt #1, outside the queue. */
  async startRollout(request: StartRolloutRequest): Promise<AttemptedRollout> {
    const now = this.#seconds();
    const workerId = request?.workerId ?? null;
    if (workerId !== null) requireId(workerId, 'workerId');
    const row = await this.#newRolloutRow(request, 'preparing', now, 'request', async () => {
      return (await this.#repo.latestResources(this.#q))?.resourcesId ?? null;
    });
    const attempt = this.#newAttempt(row, 1, workerId, now);
    const stored: RolloutRow = { ...row, latestAttemptId: attempt.attemptId };
    await this.#repo.insertRollouts(this.#q, [stored]);
    await this.#repo.insertAttempt(this.#q, attempt);
    if (workerId !== null) await this.#syncWorker(workerId, attempt, now, false);
    return toAttempted(stored, attempt);
  }

  /** `enqueueRollout` / `enqueueManyRollouts`: rollouts at the end of the queue, in order. */
  async enqueue(requests: EnqueueRolloutRequest[], field: string): Promise<Rollout[]> {
    const now = this.#seconds();
    // Looked up once per batch, not once per rollout.
    let latest: string | null | undefined;
    const latestResourcesId = async () => {
      if (latest === undefined) latest = (await this.#repo.latestResources(this.#q))?.resourcesId ?? null;
      return latest;
    };
    const rows: RolloutRow[] = [];
    for (let index = 0; index < requests.length; index++) {
      const name = requests.length === 1 && field === 'request' ? field : `${field}[${index}]`;
      rows.push(await this.#newRolloutRow(requests[index]!, 'queuing', now, name, latestResourcesId));
    }
    await this.#repo.insertRollouts(this.#q, rows);
    await this.#repo.enqueue(
      this.#q,
      rows.map((row) => row.rolloutId),
    );
    return rows.map(toRollout);
  }

  /** `dequeueManyRollouts`: up to `limit` queued rollouts, each with a new attempt. */
  async dequeue(limit: number, workerId: string | null): Promise<AttemptedRollout[]> {
    const now = this.#seconds();
    const out: AttemptedRollout[] = [];
    let last: AttemptRow | null = null;
    while (out.length < limit) {
      // The rollouts come locked with their queue entries (one statement, not one read per id).
      const taken = await this.#repo.takeQueued(this.#q, limit - out.length);
      if (taken.length === 0) break;
      for (const rollout of taken) {
        // A queued id whose rollout changed status meanwhile (cancelled, started by hand) is skipped.
        if (!isQueuedRollout(rollout.status)) continue;
        const [next, attempt] = await this.#createNextAttempt(rollout, workerId, now, true);
        out.push(toAttempted(next, attempt));
        last = attempt;
      }
    }
    if (workerId !== null) {
      // One worker runs one attempt at a time as far as the store knows: the last one dequeued.
      if (last !== null) await this.#syncWorker(workerId, last, now, true);
      else {
        const worker = (await this.#repo.getWorker(this.#q, workerId, true)) ?? emptyWorker(workerId);
        await this.#repo.putWorker(this.#q, workerAfterEmptyDequeue(worker, now));
      }
    }
    return out;
  }

  /** `startAttempt`: a new attempt by hand. */
  async startAttempt(rolloutId: string, workerId: string | null): Promise<AttemptedRollout> {
    const now = this.#seconds();
    const { rollout, attempt: latest } = await this.#requireRolloutAndAttempt(rolloutId, null);
    const [next, attempt] = await this.#createNextAttempt(rollout, workerId, now, false, latest);
    if (workerId !== null) await this.#syncWorker(workerId, attempt, now, false);
    return toAttempted(next, attempt);
  }

  /** `updateRollout` with an already normalized patch. */
  async updateRollout(rolloutId: string, changes: RolloutPatch): Promise<Rollout> {
    const now = this.#seconds();
    let row = await this.#requireRollout(rolloutId);
    if (changes.resourcesId !== undefined && changes.resourcesId !== null)
      await this.#requireResources(changes.resourcesId);
    const next: RolloutRow = { ...row };
    if ('input' in changes) next.input = changes.input;
    if ('mode' in changes) next.mode = changes.mode ?? null;
    if ('resourcesId' in changes) next.resourcesId = changes.resourcesId ?? null;
    if ('metadata' in changes) next.metadata = changes.metadata ?? null;
    if (changes.config !== undefined) next.config = changes.config as RolloutConfig;
    if (Object.keys(changes).some((key) => key !== 'status')) await this.#repo.updateRollout(this.#q, next);
    row = next;
    if (changes.status !== undefined && changes.status !== row.status) {
      row = await this.#setRolloutStatus(row, changes.status, now);
    } else if (changes.status !== undefined && isFinishedRollout(changes.status)) {
      // Re-stating a finished status refreshes endTime as the reference does.
      row = { ...row, endTime: now };
      await this.#repo.updateRolloutState(this.#q, row);
    }
    // A new config or status changes what the health check watches on the latest attempt.
    if (row.latestAttemptId !== null && (changes.config !== undefined || changes.status !== undefined)) {
      const latest = await this.#repo.getAttempt(this.#q, row.rolloutId, row.latestAttemptId);
      if (latest !== null) {
        const deadline = isActiveRollout(row.status) ? attemptDeadline(latest, row.config, true) : null;
        if (deadline !== latest.deadline) await this.#repo.updateAttempt(this.#q, { ...latest, deadline });
      }
    }
    return toRollout(row);
  }

  /** `updateAttempt` with an already normalized patch. */
  async updateAttempt(rolloutId: string, attemptId: string, changes: AttemptPatch): Promise<Attempt> {
    const now = this.#seconds();
    const { rollout, attempt } = await this.#requireRolloutAndAttempt(
      rolloutId,
      attemptId === 'latest' ? null : attemptId,
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
      next = await this.#applyAttemptStatus(rollout, next, changes.status, now);
    } else {
      next.deadline = isActiveRollout(rollout.status)
        ? attemptDeadline(next, rollout.config, rollout.latestAttemptId === next.attemptId)
        : null;
      await this.#repo.updateAttempt(this.#q, next);
      if (changes.workerId) await this.#syncWorker(changes.workerId, next, now, false);
    }
    return toAttempt(next);
  }

  /**
   * `addManySpans`: validates every span and its rollout/attempt first (an unknown one stores nothing),
   * issues missing sequence ids from the per-rollout counter, inserts with ON CONFLICT DO NOTHING, then
   * records one heartbeat per attempt that got a new span.
   */
  async addSpans(inputs: SpanInput[]): Promise<{ result: SpanWriteResult; stored: Array<Span | null> }> {
    const now = this.#seconds();
    const spans = inputs.map((input, index) => normalizeSpan(input, index));
    const targets = new Map<string, { rollout: RolloutRow; attempt: AttemptRow; inserted: boolean }>();
    const rollouts = new Map<string, RolloutRow>();
    const perRollout = new Map<string, { missing: number; maxGiven: number }>();
    for (const span of spans) {
      const key = `${span.rolloutId}\u0000${span.attemptId}`;
      if (!targets.has(key)) {
        let rollout = rollouts.get(span.rolloutId);
        let attempt: AttemptRow | null;
        if (rollout === undefined) {
          const found = await this.#requireRolloutAndAttempt(span.rolloutId, span.attemptId);
          rollout = found.rollout;
          attempt = found.attempt;
          rollouts.set(span.rolloutId, rollout);
        } else {
          attempt = await this.#repo.getAttempt(this.#q, span.rolloutId, span.attemptId);
        }
        if (attempt === null) {
          throw new NotFoundError(`attempt ${span.attemptId} of rollout ${span.rolloutId} does not exist`, {
            rolloutId: span.rolloutId,
            attemptId: span.attemptId,
            spanId: span.spanId,
          });
        }
        targets.set(key, { rollout, attempt, inserted: false });
      }
      let counts = perRollout.get(span.rolloutId);
      if (counts === undefined) {
        counts = { missing: 0, maxGiven: -1 };
        perRollout.set(span.rolloutId, counts);
      }
      if (span.sequenceId === undefined) counts.missing++;
      else if (span.sequenceId > counts.maxGiven) counts.maxGiven = span.sequenceId;
    }
    // Given ids first, then reserve above them: issued ids stay strictly increasing and unique per rollout.
    const nextIssued = new Map<string, number>();
    for (const [rolloutId, counts] of perRollout) {
      if (counts.maxGiven >= 0) await this.#repo.raiseSpanSequenceId(this.#q, rolloutId, counts.maxGiven);
      if (counts.missing > 0)
        nextIssued.set(
          rolloutId,
          await this.#repo.reserveSpanSequenceIds(this.#q, rolloutId, counts.missing),
        );
    }
    const complete = spans.map((span) => {
      if (span.sequenceId !== undefined) return span as Span;
      const next = nextIssued.get(span.rolloutId)!;
      nextIssued.set(span.rolloutId, next + 1);
      return { ...span, sequenceId: next } as Span;
    });
    const inserted = await this.#repo.insertSpans(this.#q, complete);
    const result: SpanWriteResult = { inserted: 0, duplicates: 0, duplicateSpans: [] };
    const stored: Array<Span | null> = [];
    for (let i = 0; i < complete.length; i++) {
      const span = complete[i]!;
      if (inserted[i]) {
        result.inserted++;
        stored.push(span);
        targets.get(`${span.rolloutId}\u0000${span.attemptId}`)!.inserted = true;
      } else {
        result.duplicates++;
        result.duplicateSpans.push({
          rolloutId: span.rolloutId,
          attemptId: span.attemptId,
          spanId: span.spanId,
        });
        stored.push(null);
      }
    }
    for (const target of targets.values()) {
      if (target.inserted) {
        // Several attempts of one rollout in one batch: each heartbeat must see the rollout as last written.
        const rollout = rollouts.get(target.rollout.rolloutId)!;
        rollouts.set(rollout.rolloutId, await this.#heartbeat(rollout, target.attempt, now));
      }
    }
    return { result, stored };
  }

  /**
   * A span is a heartbeat: preparing/unresponsive attempts become running (timeout, failed, succeeded
   * stay), and the rollout of the latest attempt runs. Returns the rollout as stored afterwards.
   */
  async #heartbeat(rollout: RolloutRow, attempt: AttemptRow, now: number): Promise<RolloutRow> {
    const revived = attempt.status === 'preparing' || attempt.status === 'unresponsive';
    const isLatest = rollout.latestAttemptId === attempt.attemptId;
    const next: AttemptRow = {
      ...attempt,
      lastHeartbeatTime: now,
      status: revived ? 'running' : attempt.status,
    };
    const rolloutRuns =
      isLatest &&
      (rollout.status === 'preparing' || rollout.status === 'queuing' || rollout.status === 'requeuing');
    next.deadline = isActiveRollout(rolloutRuns ? 'running' : rollout.status)
      ? attemptDeadline(next, rollout.config, isLatest)
      : null;
    await this.#repo.updateAttempt(this.#q, next);
    let result = rollout;
    if (rolloutRuns) result = await this.#setRolloutStatus(rollout, 'running', now);
    if (revived && next.workerId !== null) await this.#syncWorker(next.workerId, next, now, false);
    return result;
  }

  /** `getNextSpanSequenceId`. */
  async nextSpanSequenceId(rolloutId: string): Promise<number> {
    await this.#requireRollout(rolloutId);
    return this.#repo.reserveSpanSequenceIds(this.#q, rolloutId, 1);
  }

  /** `addResources`. */
  async addResources(resources: NamedResources): Promise<ResourcesUpdate> {
    const now = this.#seconds();
    const update: ResourcesUpdate = {
      resourcesId: newResourcesId(),
      createTime: now,
      updateTime: now,
      version: 1,
      resources,
    };
    await this.#repo.putResources(this.#q, update);
    return update;
  }

  /** `updateResources`. */
  async updateResources(resourcesId: string, resources: NamedResources): Promise<ResourcesUpdate> {
    const now = this.#seconds();
    const existing = await this.#repo.getResources(this.#q, resourcesId);
    const update: ResourcesUpdate =
      existing === null
        ? { resourcesId, createTime: now, updateTime: now, version: 1, resources }
        : { ...existing, updateTime: now, version: existing.version + 1, resources };
    await this.#repo.putResources(this.#q, update);
    return update;
  }

  /** `updateWorker`. */
  async updateWorker(
    workerId: string,
    stats: { given: boolean; value: Record<string, unknown> | null },
  ): Promise<Worker> {
    const worker: Worker = {
      ...((await this.#repo.getWorker(this.#q, workerId, true)) ?? emptyWorker(workerId)),
    };
    worker.lastHeartbeatTime = this.#seconds();
    if (stats.given) worker.heartbeatStats = stats.value;
    await this.#repo.putWorker(this.#q, worker);
    return worker;
  }

  /** `pruneFinished`. */
  async prune(olderThanMs: number): Promise<PruneResult> {
    return this.#repo.pruneFinished(this.#q, this.#seconds() - olderThanMs / 1000);
  }

  /** The health check: marks expired attempts timeout/unresponsive and propagates, up to `limit` of them. */
  async sweep(limit: number): Promise<void> {
    const now = this.#seconds();
    for (const due of await this.#repo.dueAttempts(this.#q, now, limit)) {
      const rollout = await this.#repo.getRollout(this.#q, due.rolloutId, true);
      // Re-read under the rollout's lock: a writer may have changed the attempt since the due list was read.
      const attempt = await this.#repo.getAttempt(this.#q, due.rolloutId, due.attemptId);
      if (attempt === null) continue;
      const watched =
        rollout !== null &&
        rollout.latestAttemptId === attempt.attemptId &&
        isActiveRollout(rollout.status) &&
        isLiveAttempt(attempt.status);
      if (!watched) {
        if (attempt.deadline !== null)
          await this.#repo.updateAttempt(this.#q, { ...attempt, deadline: null });
        continue;
      }
      if (attempt.deadline === null || attempt.deadline >= now) continue;
      const verdict = healthVerdict(attempt, rollout.config, now);
      if (verdict === null) {
        // Float rounding put the deadline a hair early: store a fresh one and check again later.
        const deadline = attemptDeadline(attempt, rollout.config, true);
        await this.#repo.updateAttempt(this.#q, {
          ...attempt,
          deadline: deadline === null ? null : Math.max(deadline, now) + 1e-6,
        });
        continue;
      }
      await this.#applyAttemptStatus(rollout, attempt, verdict, now);
    }
  }
}
