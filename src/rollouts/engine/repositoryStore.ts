/**
 * The rollout-store engine: every rule of the Agent Lightning store (statuses, queue, attempts, heartbeats,
 * retries, health checks, workers, idempotency, waits) written once over a synchronous `RolloutRepository`.
 * `InMemoryRolloutStore` and `SqliteRolloutStore` are this class plus a repository.
 *
 * Each public operation is one repository transaction with no await inside, so an operation is atomic
 * in-process, and on SQLite (`BEGIN IMMEDIATE`) across processes too.
 */
import { ClosedError, InvalidInputError, NotFoundError } from '../../errors.ts';
import { newAttemptId, newResourcesId, newRolloutId } from '../ids.ts';
import {
  normalizeAttemptPatch,
  normalizeResources,
  normalizeRolloutPatch,
  normalizeRolloutRequest,
  normalizeSpan,
  requireId,
  requireRolloutStatuses,
  requireWorkerStatuses,
} from '../normalize.ts';
import { spanFromOtel } from '../otel.ts';
import { normalizeLogic, normalizePage } from '../query.ts';
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
  AddOtelSpanOptions,
  Attempt,
  AttemptedRollout,
  AttemptPatch,
  AttemptQuery,
  AttemptSortField,
  AttemptStatus,
  DequeueManyOptions,
  DequeueOptions,
  EnqueueRolloutRequest,
  NamedResources,
  PaginatedResult,
  PruneOptions,
  PruneResult,
  ReadableSpanLike,
  ResourcesQuery,
  ResourcesSortField,
  ResourcesUpdate,
  Rollout,
  RolloutConfig,
  RolloutPatch,
  RolloutQuery,
  RolloutSortField,
  RolloutStatus,
  RolloutStore,
  RolloutStoreOptions,
  RolloutStoreStatistics,
  Span,
  SpanInput,
  SpanQuery,
  SpanSortField,
  SpanWriteResult,
  StartAttemptOptions,
  StartRolloutRequest,
  UpdateWorkerOptions,
  WaitForRolloutsOptions,
  Worker,
  WorkerQuery,
  WorkerSortField,
  WriteOptions,
} from '../types.ts';
import { RolloutWaiters } from '../waiters.ts';
import type { AttemptRow, RolloutRepository, RolloutRow } from './repository.ts';

const ROLLOUT_SORT: readonly RolloutSortField[] = [
  'rolloutId',
  'startTime',
  'endTime',
  'status',
  'mode',
  'resourcesId',
];
const ATTEMPT_SORT: readonly AttemptSortField[] = [
  'sequenceId',
  'startTime',
  'endTime',
  'status',
  'attemptId',
  'workerId',
];
const SPAN_SORT: readonly SpanSortField[] = [
  'sequenceId',
  'startTime',
  'endTime',
  'name',
  'spanId',
  'traceId',
  'parentId',
];
const RESOURCES_SORT: readonly ResourcesSortField[] = ['resourcesId', 'createTime', 'updateTime', 'version'];
const WORKER_SORT: readonly WorkerSortField[] = [
  'workerId',
  'status',
  'lastHeartbeatTime',
  'lastDequeueTime',
  'lastBusyTime',
  'lastIdleTime',
];
// One health-check pass handles at most this many expired attempts; the rest are picked up by the next pass.
const HEALTH_BATCH = 500;
const DEFAULT_HEALTH_INTERVAL_MS = 1000;
// Most operations one group-commit transaction takes; bounds how long one process holds the write lock.
const MAX_BATCH = 256;
const MAX_OPS_PER_TURN = 1024;

/** A write waiting for the next group commit. */
interface PendingWrite {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Public copy of a rollout row (without internal columns). */
function toRollout(row: RolloutRow): Rollout {
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
function toAttempt(row: AttemptRow): Attempt {
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

function toAttempted(row: RolloutRow, attempt: AttemptRow): AttemptedRollout {
  return { ...toRollout(row), attempt: toAttempt(attempt) };
}

/** The shared engine; backends subclass it with their repository. */
export class RepositoryRolloutStore implements RolloutStore {
  /** Backend name. */
  readonly name: string;
  /** The storage under the engine. */
  protected readonly repo: RolloutRepository;
  readonly #now: () => number;
  readonly #createdAt: number;
  readonly #waiters = new RolloutWaiters();
  readonly #timer: NodeJS.Timeout | undefined;
  // Rollouts finished by the running transaction; waiters are woken once it commits.
  #finishedInTransaction: Rollout[] = [];
  #pending: PendingWrite[] = [];
  readonly #maxBatch: number;
  #flushScheduled = false;
  #closed = false;

  /** Wraps a repository; starts the background health check. */
  constructor(repo: RolloutRepository, options: RolloutStoreOptions = {}) {
    this.repo = repo;
    this.name = repo.name;
    this.#now = options.now ?? Date.now;
    this.#createdAt = this.#now();
    this.#maxBatch = options.groupCommit === false ? 1 : MAX_BATCH;
    const interval = options.healthCheckIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    if (!Number.isFinite(interval) || interval < 0) {
      throw new InvalidInputError('healthCheckIntervalMs must be a number of ms >= 0', {
        field: 'healthCheckIntervalMs',
        value: interval,
      });
    }
    if (interval > 0) {
      this.#timer = setInterval(() => this.#tick(), interval);
      // The timer must never keep a process alive on its own.
      this.#timer.unref();
    }
  }

  // ---------------------------------------------------------------- plumbing

  #seconds(): number {
    return this.#now() / 1000;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`the ${this.name} rollout store is closed`);
  }

  /** One write transaction; wakes waiters of rollouts it finished after commit. */
  #write<T>(fn: () => T): T {
    this.#assertOpen();
    this.#finishedInTransaction = [];
    let result: T;
    try {
      result = this.repo.write(fn);
    } catch (error) {
      this.#finishedInTransaction = [];
      throw error;
    }
    const finished = this.#finishedInTransaction;
    this.#finishedInTransaction = [];
    for (const rollout of finished) this.#waiters.notify(rollout);
    return result;
  }

  /**
   * Group commit: operations submitted in the same event-loop turn run in one write transaction, each
   * inside its own savepoint (`repo.atomic`), so one failing operation undoes only itself. With many
   * concurrent runners this turns one BEGIN/COMMIT per call into one per turn, the dominant cost of small
   * SQLite writes. The flush runs on `setImmediate`, not a microtask: an HTTP server handles each request
   * in its own I/O callback, and only a flush after the poll phase sees the writes of every request that
   * phase delivered (a microtask flush committed each request alone and halved server throughput). A
   * caller's promise settles only after the batch committed, so an awaited write is durable and visible.
   */
  #submit<T>(fn: () => T): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    // Bound the work of one turn so timers and I/O still get to run under a flood of writes.
    let budget = MAX_OPS_PER_TURN;
    while (this.#pending.length > 0 && budget > 0) {
      const ops = this.#pending.splice(0, this.#maxBatch);
      budget -= ops.length;
      this.#runBatch(ops);
    }
    if (this.#pending.length > 0 && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #runBatch(ops: PendingWrite[]): void {
    if (this.#closed) {
      const error = new ClosedError(`the ${this.name} rollout store is closed`);
      for (const op of ops) op.reject(error);
      return;
    }
    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    this.#finishedInTransaction = [];
    try {
      this.repo.write(() => {
        for (const op of ops) {
          const mark = this.#finishedInTransaction.length;
          try {
            outcomes.push({ ok: true, value: this.repo.atomic(op.fn) });
          } catch (error) {
            this.#finishedInTransaction.length = mark;
            outcomes.push({ ok: false, value: error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed (another process held the lock past busyTimeoutMs): nothing was written.
      this.#finishedInTransaction = [];
      for (const op of ops) op.reject(error);
      return;
    }
    const finished = this.#finishedInTransaction;
    this.#finishedInTransaction = [];
    for (const rollout of finished) this.#waiters.notify(rollout);
    for (let i = 0; i < ops.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.ok) ops[i]!.resolve(outcome.value);
      else ops[i]!.reject(outcome.value);
    }
  }

  /** Runs `fn` once per idempotency key: a retry with the same key returns the first result. */
  #idempotent<T>(operation: string, options: WriteOptions | undefined, fn: () => T): T {
    const key = options?.idempotencyKey;
    if (key === undefined) return fn();
    requireId(key, 'idempotencyKey');
    const prior = this.repo.getIdempotent(key);
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
    const result = fn();
    this.repo.putIdempotent(key, operation, JSON.stringify(result ?? null), this.#seconds());
    return result;
  }

  #tick(): void {
    if (this.#closed) return;
    try {
      this.#healthCheck();
      // Backstop for writes by other processes sharing the database: in-process writes wake waiters
      // directly; a rollout finished elsewhere is seen here within one interval.
      if (this.#waiters.size > 0) {
        for (const id of this.#waiters.waitedIds()) {
          const row = this.repo.getRollout(id);
          if (row !== null && isFinishedRollout(row.status))
            this.#waiters.notify(this.repo.exportValue(toRollout(row)));
        }
      }
    } catch {
      // A failing background pass (database briefly locked past busy_timeout) is retried on the next tick
      // and before the next read; it must not crash the process from a timer.
    }
  }

  /** Marks expired attempts timeout/unresponsive and propagates; an indexed lookup when nothing is due. */
  #healthCheck(): void {
    this.#assertOpen();
    const now = this.#seconds();
    if (!this.repo.hasDueAttempts(now)) return;
    this.#write(() => {
      for (const attempt of this.repo.dueAttempts(now, HEALTH_BATCH)) {
        const rollout = this.repo.getRollout(attempt.rolloutId);
        const watched =
          rollout !== null &&
          rollout.latestAttemptId === attempt.attemptId &&
          isActiveRollout(rollout.status) &&
          isLiveAttempt(attempt.status);
        if (!watched) {
          this.repo.updateAttempt({ ...attempt, deadline: null });
          continue;
        }
        const verdict = healthVerdict(attempt, rollout.config, now);
        if (verdict === null) {
          // Float rounding put the deadline a hair early: store a fresh one and check again later.
          const deadline = attemptDeadline(attempt, rollout.config, true);
          this.repo.updateAttempt({
            ...attempt,
            deadline: deadline === null ? null : Math.max(deadline, now) + 1e-6,
          });
          continue;
        }
        this.#applyAttemptStatus(rollout, attempt, verdict, now);
      }
    });
  }

  #requireRollout(rolloutId: string): RolloutRow {
    requireId(rolloutId, 'rolloutId');
    const row = this.repo.getRollout(rolloutId);
    if (row === null) throw new NotFoundError(`rollout ${rolloutId} does not exist`, { rolloutId });
    return row;
  }

  #requireResources(resourcesId: string | null): void {
    if (resourcesId !== null && this.repo.getResources(resourcesId) === null) {
      throw new NotFoundError(`resources ${resourcesId} do not exist; add them first or omit resourcesId`, {
        resourcesId,
      });
    }
  }

  /** Saves a rollout with a new status: endTime, queue membership and waiters follow. */
  #setRolloutStatus(row: RolloutRow, status: RolloutStatus, now: number): RolloutRow {
    const previous = row.status;
    const next: RolloutRow = { ...row, status };
    if (isFinishedRollout(status)) next.endTime = now;
    else if (isFinishedRollout(previous)) next.endTime = null;
    this.repo.updateRolloutState(next);
    if (isQueuedRollout(status)) this.repo.enqueue([row.rolloutId]);
    else if (isQueuedRollout(previous)) this.repo.removeQueued(row.rolloutId);
    if (isFinishedRollout(status) && previous !== status) this.#finishedInTransaction.push(toRollout(next));
    return next;
  }

  /** Changes an attempt's status; the latest attempt's status propagates to its rollout. */
  #applyAttemptStatus(
    rollout: RolloutRow,
    attempt: AttemptRow,
    status: AttemptStatus,
    now: number,
  ): AttemptRow {
    const isLatest = rollout.latestAttemptId === attempt.attemptId;
    const next: AttemptRow = { ...attempt, status, endTime: endsAttempt(status) ? now : attempt.endTime };
    next.deadline = attemptDeadline(next, rollout.config, isLatest);
    this.repo.updateAttempt(next);
    // A cancelled rollout stays cancelled whatever its runner reports later (the reference would revive it).
    if (isLatest && rollout.status !== 'cancelled') {
      const target = rolloutStatusFromAttempt(next, rollout.config);
      if (target !== rollout.status) this.#setRolloutStatus(rollout, target, now);
    }
    if (next.workerId !== null) this.#syncWorker(next.workerId, next, now, false);
    return next;
  }

  #syncWorker(workerId: string, attempt: Attempt, now: number, dequeued: boolean): void {
    const worker = this.repo.getWorker(workerId) ?? emptyWorker(workerId);
    this.repo.putWorker(workerAfterAttempt(worker, attempt, now, dequeued));
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
  #createNextAttempt(
    rollout: RolloutRow,
    workerId: string | null,
    now: number,
    fromQueue: boolean,
  ): [RolloutRow, AttemptRow] {
    let sequenceId = 1;
    if (rollout.latestAttemptId !== null) {
      const previous = this.repo.getAttempt(rollout.rolloutId, rollout.latestAttemptId);
      if (previous !== null) {
        sequenceId = previous.sequenceId + 1;
        if (previous.deadline !== null) this.repo.updateAttempt({ ...previous, deadline: null });
      }
    }
    const attempt = this.#newAttempt(rollout, sequenceId, workerId, now);
    this.repo.insertAttempt(attempt);
    const wasQueued = isQueuedRollout(rollout.status);
    const next: RolloutRow = {
      ...rollout,
      status: 'preparing',
      endTime: isFinishedRollout(rollout.status) ? null : rollout.endTime,
      latestAttemptId: attempt.attemptId,
    };
    this.repo.updateRolloutState(next);
    // A dequeued id already left the queue; a rollout started by hand while queued leaves it now.
    if (wasQueued && !fromQueue) this.repo.removeQueued(rollout.rolloutId);
    return [next, attempt];
  }

  #newRolloutRow(
    request: EnqueueRolloutRequest,
    status: RolloutStatus,
    now: number,
    field: string,
    latestResourcesId: () => string | null = () => this.repo.latestResources()?.resourcesId ?? null,
  ): RolloutRow {
    const normalized = normalizeRolloutRequest(request, field);
    let resourcesId = normalized.resourcesId;
    if (resourcesId === null) resourcesId = latestResourcesId();
    else this.#requireResources(resourcesId);
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

  // ---------------------------------------------------------------- rollouts and the queue

  async startRollout(request: StartRolloutRequest, options?: WriteOptions): Promise<AttemptedRollout> {
    this.#healthCheck();
    const result = await this.#submit(() =>
      this.#idempotent('startRollout', options, () => {
        const now = this.#seconds();
        const workerId = request?.workerId ?? null;
        if (workerId !== null) requireId(workerId, 'workerId');
        const row = this.#newRolloutRow(request, 'preparing', now, 'request');
        const attempt = this.#newAttempt(row, 1, workerId, now);
        const stored: RolloutRow = { ...row, latestAttemptId: attempt.attemptId };
        this.repo.insertRollout(stored);
        this.repo.insertAttempt(attempt);
        if (workerId !== null) this.#syncWorker(workerId, attempt, now, false);
        return toAttempted(stored, attempt);
      }),
    );
    return this.repo.exportValue(result);
  }

  async enqueueRollout(request: EnqueueRolloutRequest, options?: WriteOptions): Promise<Rollout> {
    const [rollout] = await this.#enqueue([request], 'enqueueRollout', options, 'request');
    return rollout!;
  }

  async enqueueManyRollouts(requests: EnqueueRolloutRequest[], options?: WriteOptions): Promise<Rollout[]> {
    if (!Array.isArray(requests))
      throw new InvalidInputError('requests must be an array', { field: 'requests' });
    return this.#enqueue(requests, 'enqueueManyRollouts', options, 'requests');
  }

  async #enqueue(
    requests: EnqueueRolloutRequest[],
    operation: string,
    options: WriteOptions | undefined,
    field: string,
  ): Promise<Rollout[]> {
    this.#assertOpen();
    const result = await this.#submit(() =>
      this.#idempotent(operation, options, () => {
        const now = this.#seconds();
        // Looked up once per batch, not once per rollout.
        let latest: string | null | undefined;
        const latestResourcesId = () => {
          if (latest === undefined) latest = this.repo.latestResources()?.resourcesId ?? null;
          return latest;
        };
        const rows = requests.map((request, index) =>
          this.#newRolloutRow(
            request,
            'queuing',
            now,
            requests.length === 1 && field === 'request' ? field : `${field}[${index}]`,
            latestResourcesId,
          ),
        );
        for (const row of rows) this.repo.insertRollout(row);
        this.repo.enqueue(rows.map((row) => row.rolloutId));
        return rows.map(toRollout);
      }),
    );
    return this.repo.exportValue(result);
  }

  async dequeueRollout(options?: DequeueOptions): Promise<AttemptedRollout | null> {
    const [first] = await this.dequeueManyRollouts({ ...options, limit: 1 });
    return first ?? null;
  }

  async dequeueManyRollouts(options: DequeueManyOptions = {}): Promise<AttemptedRollout[]> {
    const limit = options.limit ?? 1;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new InvalidInputError('limit must be an integer >= 0', { field: 'limit', value: limit });
    }
    const workerId = options.workerId ?? null;
    if (workerId !== null) requireId(workerId, 'workerId');
    this.#healthCheck();
    const result = await this.#submit(() => {
      const now = this.#seconds();
      const out: AttemptedRollout[] = [];
      let last: AttemptRow | null = null;
      while (out.length < limit) {
        const ids = this.repo.takeQueued(limit - out.length);
        if (ids.length === 0) break;
        for (const id of ids) {
          const rollout = this.repo.getRollout(id);
          // A queued id whose rollout changed status meanwhile (cancelled, started by hand) is skipped.
          if (rollout === null || !isQueuedRollout(rollout.status)) continue;
          const [next, attempt] = this.#createNextAttempt(rollout, workerId, now, true);
          out.push(toAttempted(next, attempt));
          last = attempt;
        }
      }
      if (workerId !== null) {
        // One worker runs one attempt at a time as far as the store knows: the last one dequeued.
        if (last !== null) this.#syncWorker(workerId, last, now, true);
        else
          this.repo.putWorker(
            workerAfterEmptyDequeue(this.repo.getWorker(workerId) ?? emptyWorker(workerId), now),
          );
      }
      return out;
    });
    return this.repo.exportValue(result);
  }

  async startAttempt(rolloutId: string, options?: StartAttemptOptions): Promise<AttemptedRollout> {
    this.#healthCheck();
    const workerId = options?.workerId ?? null;
    if (workerId !== null) requireId(workerId, 'workerId');
    const result = await this.#submit(() =>
      this.#idempotent('startAttempt', options, () => {
        const now = this.#seconds();
        const rollout = this.#requireRollout(rolloutId);
        const [next, attempt] = this.#createNextAttempt(rollout, workerId, now, false);
        if (workerId !== null) this.#syncWorker(workerId, attempt, now, false);
        return toAttempted(next, attempt);
      }),
    );
    return this.repo.exportValue(result);
  }

  async queryRollouts(query: RolloutQuery = {}): Promise<PaginatedResult<Rollout | AttemptedRollout>> {
    this.#healthCheck();
    const page = normalizePage(query, ROLLOUT_SORT, null);
    if (query.statusIn) requireRolloutStatuses(query.statusIn, 'statusIn');
    const filter = {
      statusIn: query.statusIn ?? null,
      rolloutIdIn: query.rolloutIdIn ?? null,
      rolloutIdContains: query.rolloutIdContains ?? null,
      logic: normalizeLogic(query.filterLogic),
    };
    const result = this.repo.queryRollouts(filter, page);
    const items = result.items.map((row) => this.#withLatestAttempt(row));
    return this.repo.exportValue({ ...result, items });
  }

  #withLatestAttempt(row: RolloutRow): Rollout | AttemptedRollout {
    const attempt =
      row.latestAttemptId === null ? null : this.repo.getAttempt(row.rolloutId, row.latestAttemptId);
    return attempt === null ? toRollout(row) : toAttempted(row, attempt);
  }

  async getRolloutById(rolloutId: string): Promise<Rollout | AttemptedRollout | null> {
    this.#healthCheck();
    requireId(rolloutId, 'rolloutId');
    const row = this.repo.getRollout(rolloutId);
    return row === null ? null : this.repo.exportValue(this.#withLatestAttempt(row));
  }

  async updateRollout(rolloutId: string, patch: RolloutPatch, options?: WriteOptions): Promise<Rollout> {
    this.#healthCheck();
    const changes = normalizeRolloutPatch(patch);
    const result = await this.#submit(() =>
      this.#idempotent('updateRollout', options, () => {
        const now = this.#seconds();
        let row = this.#requireRollout(rolloutId);
        if (changes.resourcesId !== undefined && changes.resourcesId !== null)
          this.#requireResources(changes.resourcesId);
        const next: RolloutRow = { ...row };
        if ('input' in changes) next.input = changes.input;
        if ('mode' in changes) next.mode = changes.mode ?? null;
        if ('resourcesId' in changes) next.resourcesId = changes.resourcesId ?? null;
        if ('metadata' in changes) next.metadata = changes.metadata ?? null;
        if (changes.config !== undefined) next.config = changes.config as RolloutConfig;
        if (Object.keys(changes).some((key) => key !== 'status')) this.repo.updateRollout(next);
        row = next;
        if (changes.status !== undefined && changes.status !== row.status) {
          row = this.#setRolloutStatus(row, changes.status, now);
        } else if (changes.status !== undefined && isFinishedRollout(changes.status)) {
          // Re-stating a finished status refreshes endTime as the reference does.
          row = { ...row, endTime: now };
          this.repo.updateRolloutState(row);
        }
        // A new config or status changes what the health check watches on the latest attempt.
        if (row.latestAttemptId !== null && (changes.config !== undefined || changes.status !== undefined)) {
          const latest = this.repo.getAttempt(row.rolloutId, row.latestAttemptId);
          if (latest !== null) {
            const deadline = isActiveRollout(row.status) ? attemptDeadline(latest, row.config, true) : null;
            if (deadline !== latest.deadline) this.repo.updateAttempt({ ...latest, deadline });
          }
        }
        return toRollout(row);
      }),
    );
    return this.repo.exportValue(result);
  }

  // ---------------------------------------------------------------- attempts

  async queryAttempts(rolloutId: string, query: AttemptQuery = {}): Promise<PaginatedResult<Attempt>> {
    this.#healthCheck();
    requireId(rolloutId, 'rolloutId');
    const page = normalizePage(query, ATTEMPT_SORT, 'sequenceId');
    const result = this.repo.queryAttempts(rolloutId, page);
    return this.repo.exportValue({ ...result, items: result.items.map(toAttempt) });
  }

  async getLatestAttempt(rolloutId: string): Promise<Attempt | null> {
    this.#healthCheck();
    requireId(rolloutId, 'rolloutId');
    const row = this.repo.getRollout(rolloutId);
    if (row === null || row.latestAttemptId === null) return null;
    const attempt = this.repo.getAttempt(rolloutId, row.latestAttemptId);
    return attempt === null ? null : this.repo.exportValue(toAttempt(attempt));
  }

  async updateAttempt(
    rolloutId: string,
    attemptId: string,
    patch: AttemptPatch,
    options?: WriteOptions,
  ): Promise<Attempt> {
    this.#healthCheck();
    requireId(attemptId, 'attemptId');
    const changes = normalizeAttemptPatch(patch);
    const result = await this.#submit(() =>
      this.#idempotent('updateAttempt', options, () => {
        const now = this.#seconds();
        const rollout = this.#requireRollout(rolloutId);
        const id = attemptId === 'latest' ? rollout.latestAttemptId : attemptId;
        const attempt = id === null ? null : this.repo.getAttempt(rolloutId, id);
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
          next = this.#applyAttemptStatus(rollout, next, changes.status, now);
        } else {
          next.deadline = isActiveRollout(rollout.status)
            ? attemptDeadline(next, rollout.config, rollout.latestAttemptId === next.attemptId)
            : null;
          this.repo.updateAttempt(next);
          if (changes.workerId) this.#syncWorker(changes.workerId, next, now, false);
        }
        return toAttempt(next);
      }),
    );
    return this.repo.exportValue(result);
  }

  // ---------------------------------------------------------------- spans

  async addSpan(span: SpanInput, options?: WriteOptions): Promise<Span | null> {
    const result = await this.#submit(() =>
      this.#idempotent('addSpan', options, () => {
        const { stored } = this.#addSpans([span]);
        return stored[0] ?? null;
      }),
    );
    return this.repo.exportValue(result);
  }

  async addManySpans(spans: SpanInput[], options?: WriteOptions): Promise<SpanWriteResult> {
    if (!Array.isArray(spans)) throw new InvalidInputError('spans must be an array', { field: 'spans' });
    const result = await this.#submit(() =>
      this.#idempotent('addManySpans', options, () => this.#addSpans(spans).result),
    );
    return result;
  }

  async addOtelSpan(
    rolloutId: string,
    attemptId: string,
    span: ReadableSpanLike,
    options?: AddOtelSpanOptions,
  ): Promise<Span | null> {
    requireId(rolloutId, 'rolloutId');
    requireId(attemptId, 'attemptId');
    if (typeof span?.spanContext !== 'function') {
      throw new InvalidInputError('span must be an OpenTelemetry ReadableSpan (spanContext() is missing)', {
        field: 'span',
      });
    }
    const converted = spanFromOtel(rolloutId, attemptId, span, options?.sequenceId);
    return this.addSpan(converted, options);
  }

  /**
   * Stores spans in the running transaction: validates every span and its rollout/attempt first (an unknown
   * one stores nothing), issues missing sequence ids, skips duplicates, then records one heartbeat per
   * attempt that got a new span.
   */
  #addSpans(inputs: SpanInput[]): { result: SpanWriteResult; stored: Array<Span | null> } {
    const now = this.#seconds();
    const spans = inputs.map((input, index) => normalizeSpan(input, index));
    const targets = new Map<string, { rollout: RolloutRow; attempt: AttemptRow; inserted: boolean }>();
    const perRollout = new Map<string, { missing: number; maxGiven: number }>();
    for (const span of spans) {
      const key = `${span.rolloutId}\u0000${span.attemptId}`;
      if (!targets.has(key)) {
        const rollout = this.#requireRollout(span.rolloutId);
        const attempt = this.repo.getAttempt(span.rolloutId, span.attemptId);
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
      if (counts.maxGiven >= 0) this.repo.raiseSpanSequenceId(rolloutId, counts.maxGiven);
      if (counts.missing > 0)
        nextIssued.set(rolloutId, this.repo.reserveSpanSequenceIds(rolloutId, counts.missing));
    }
    const complete = spans.map((span) => {
      if (span.sequenceId !== undefined) return span as Span;
      const next = nextIssued.get(span.rolloutId)!;
      nextIssued.set(span.rolloutId, next + 1);
      return { ...span, sequenceId: next } as Span;
    });
    const inserted = this.repo.insertSpans(complete);
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
      if (target.inserted) this.#heartbeat(target.rollout, target.attempt, now);
    }
    return { result, stored };
  }

  /**
   * A span is a heartbeat: preparing/unresponsive attempts become running (timeout, failed, succeeded
   * stay: a late span never revives a timed-out attempt), and the rollout of the latest attempt runs.
   */
  #heartbeat(rollout: RolloutRow, attempt: AttemptRow, now: number): void {
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
    this.repo.updateAttempt(next);
    if (rolloutRuns) this.#setRolloutStatus(rollout, 'running', now);
    if (revived && next.workerId !== null) this.#syncWorker(next.workerId, next, now, false);
  }

  async getNextSpanSequenceId(rolloutId: string, attemptId: string): Promise<number> {
    requireId(attemptId, 'attemptId');
    return await this.#submit(() => {
      this.#requireRollout(rolloutId);
      return this.repo.reserveSpanSequenceIds(rolloutId, 1);
    });
  }

  async querySpans(rolloutId: string, query: SpanQuery = {}): Promise<PaginatedResult<Span>> {
    this.#healthCheck();
    requireId(rolloutId, 'rolloutId');
    const page = normalizePage(query, SPAN_SORT, 'sequenceId');
    const filter = {
      traceId: query.traceId ?? null,
      traceIdContains: query.traceIdContains ?? null,
      spanId: query.spanId ?? null,
      spanIdContains: query.spanIdContains ?? null,
      parentId: query.parentId ?? null,
      parentIdContains: query.parentIdContains ?? null,
      name: query.name ?? null,
      nameContains: query.nameContains ?? null,
      logic: normalizeLogic(query.filterLogic),
    };
    let attemptId = query.attemptId ?? null;
    if (attemptId === 'latest') {
      attemptId = this.repo.getRollout(rolloutId)?.latestAttemptId ?? null;
      if (attemptId === null) return { items: [], limit: page.limit, offset: page.offset, total: 0 };
    }
    return this.repo.exportValue(this.repo.querySpans(rolloutId, attemptId, filter, page));
  }

  // ---------------------------------------------------------------- resources

  async addResources(resources: NamedResources, options?: WriteOptions): Promise<ResourcesUpdate> {
    const checked = normalizeResources(resources);
    const result = await this.#submit(() =>
      this.#idempotent('addResources', options, () => {
        const now = this.#seconds();
        const update: ResourcesUpdate = {
          resourcesId: newResourcesId(),
          createTime: now,
          updateTime: now,
          version: 1,
          resources: checked,
        };
        this.repo.putResources(update);
        return update;
      }),
    );
    return this.repo.exportValue(result);
  }

  async updateResources(
    resourcesId: string,
    resources: NamedResources,
    options?: WriteOptions,
  ): Promise<ResourcesUpdate> {
    requireId(resourcesId, 'resourcesId');
    const checked = normalizeResources(resources);
    const result = await this.#submit(() =>
      this.#idempotent('updateResources', options, () => {
        const now = this.#seconds();
        const existing = this.repo.getResources(resourcesId);
        const update: ResourcesUpdate =
          existing === null
            ? { resourcesId, createTime: now, updateTime: now, version: 1, resources: checked }
            : { ...existing, updateTime: now, version: existing.version + 1, resources: checked };
        this.repo.putResources(update);
        return update;
      }),
    );
    return this.repo.exportValue(result);
  }

  async queryResources(query: ResourcesQuery = {}): Promise<PaginatedResult<ResourcesUpdate>> {
    this.#assertOpen();
    const page = normalizePage(query, RESOURCES_SORT, null);
    const filter = {
      resourcesId: query.resourcesId ?? null,
      resourcesIdContains: query.resourcesIdContains ?? null,
    };
    return this.repo.exportValue(this.repo.queryResources(filter, page));
  }

  async getResourcesById(resourcesId: string): Promise<ResourcesUpdate | null> {
    this.#assertOpen();
    requireId(resourcesId, 'resourcesId');
    return this.repo.exportValue(this.repo.getResources(resourcesId));
  }

  async getLatestResources(): Promise<ResourcesUpdate | null> {
    this.#assertOpen();
    return this.repo.exportValue(this.repo.latestResources());
  }

  // ---------------------------------------------------------------- workers

  async queryWorkers(query: WorkerQuery = {}): Promise<PaginatedResult<Worker>> {
    this.#healthCheck();
    const page = normalizePage(query, WORKER_SORT, null);
    if (query.statusIn) requireWorkerStatuses(query.statusIn, 'statusIn');
    const filter = {
      statusIn: query.statusIn ?? null,
      workerIdContains: query.workerIdContains ?? null,
      logic: normalizeLogic(query.filterLogic),
    };
    return this.repo.exportValue(this.repo.queryWorkers(filter, page));
  }

  async getWorkerById(workerId: string): Promise<Worker | null> {
    this.#healthCheck();
    requireId(workerId, 'workerId');
    return this.repo.exportValue(this.repo.getWorker(workerId));
  }

  async updateWorker(workerId: string, options?: UpdateWorkerOptions): Promise<Worker> {
    requireId(workerId, 'workerId');
    const stats = options?.heartbeatStats;
    if (stats !== undefined && stats !== null && (typeof stats !== 'object' || Array.isArray(stats))) {
      throw new InvalidInputError('heartbeatStats must be a plain object or null', {
        field: 'heartbeatStats',
      });
    }
    const result = await this.#submit(() =>
      this.#idempotent('updateWorker', options, () => {
        const worker: Worker = { ...(this.repo.getWorker(workerId) ?? emptyWorker(workerId)) };
        worker.lastHeartbeatTime = this.#seconds();
        if (options !== undefined && 'heartbeatStats' in options) worker.heartbeatStats = stats ?? null;
        this.repo.putWorker(worker);
        return worker;
      }),
    );
    return this.repo.exportValue(result);
  }

  // ---------------------------------------------------------------- waits, statistics, retention

  async waitForRollouts(options: WaitForRolloutsOptions): Promise<Rollout[]> {
    const ids = options?.rolloutIds;
    if (!Array.isArray(ids))
      throw new InvalidInputError('rolloutIds must be an array', { field: 'rolloutIds' });
    for (const id of ids) requireId(id, 'rolloutIds[]');
    const timeoutMs = options.timeoutMs ?? Number.POSITIVE_INFINITY;
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
      throw new InvalidInputError('timeoutMs must be a number of ms >= 0', {
        field: 'timeoutMs',
        value: timeoutMs,
      });
    }
    this.#healthCheck();
    const unique = [...new Set(ids)];
    const finished = new Map<string, Rollout>();
    const pending: string[] = [];
    for (const id of unique) {
      const row = this.repo.getRollout(id);
      // Unknown ids are left out of the result at once, as in the reference.
      if (row === null) continue;
      if (isFinishedRollout(row.status)) finished.set(id, toRollout(row));
      else pending.push(id);
    }
    // Registration happens in the same synchronous turn as the check above, so no finishing write can slip
    // between them.
    if (pending.length > 0 && timeoutMs > 0) {
      const woken = await this.#waiters.waitAll(pending, timeoutMs);
      for (const [id, rollout] of woken) finished.set(id, rollout);
      this.#assertOpen();
      for (const id of pending) {
        if (finished.has(id)) continue;
        const row = this.repo.getRollout(id);
        if (row !== null && isFinishedRollout(row.status)) finished.set(id, toRollout(row));
      }
    }
    return this.repo.exportValue(unique.flatMap((id) => (finished.has(id) ? [finished.get(id)!] : [])));
  }

  async statistics(): Promise<RolloutStoreStatistics> {
    this.#healthCheck();
    return { name: this.name, ...this.repo.statistics(), uptimeMs: this.#now() - this.#createdAt };
  }

  async runHealthCheck(): Promise<void> {
    this.#healthCheck();
  }

  async pruneFinished(options: PruneOptions): Promise<PruneResult> {
    const olderThanMs = options?.olderThanMs;
    if (typeof olderThanMs !== 'number' || !Number.isFinite(olderThanMs) || olderThanMs < 0) {
      throw new InvalidInputError('olderThanMs must be a number of ms >= 0', {
        field: 'olderThanMs',
        value: olderThanMs,
      });
    }
    return await this.#submit(() => this.repo.pruneFinished(this.#seconds() - olderThanMs / 1000));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Writes already submitted are committed, not dropped.
    while (this.#pending.length > 0) this.#runBatch(this.#pending.splice(0, this.#maxBatch));
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#waiters.close();
    this.repo.close();
  }
}
