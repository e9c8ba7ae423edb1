/**
 * The rollout-store engine for the synchronous backends: `InMemoryRolloutStore` and `SqliteRolloutStore`
 * are this class plus a `RolloutRepository`. The rules of every write live once in ./writes.ts (shared with
 * PostgreSQL); this class runs them with `runSync`, checks arguments with ./arguments.ts, and adds group
 * commit, the health-check timer, waits and the reads.
 *
 * Each public operation is one repository transaction with no await inside, so an operation is atomic
 * in-process, and on SQLite (`BEGIN IMMEDIATE`) across processes too.
 */
import { ClosedError } from '../../errors.ts';
import { normalizeAttemptPatch, normalizeResources, normalizeRolloutPatch, requireId } from '../normalize.ts';
import { isFinishedRollout } from '../transitions.ts';
import type {
  AddOtelSpanOptions,
  Attempt,
  AttemptedRollout,
  AttemptPatch,
  AttemptQuery,
  DequeueManyOptions,
  DequeueOptions,
  EnqueueRolloutRequest,
  IterateOptions,
  NamedResources,
  PaginatedResult,
  PruneOptions,
  PruneResult,
  ReadableSpanLike,
  ResourcesQuery,
  ResourcesUpdate,
  Rollout,
  RolloutPatch,
  RolloutQuery,
  RolloutStore,
  RolloutStoreOptions,
  RolloutStoreStatistics,
  Span,
  SpanInput,
  SpanQuery,
  SpanWriteResult,
  StartAttemptOptions,
  StartRolloutRequest,
  UpdateWorkerOptions,
  WaitForRolloutsOptions,
  Worker,
  WorkerQuery,
  WriteOptions,
} from '../types.ts';
import { RolloutWaiters } from '../waiters.ts';
import {
  attemptPage,
  dequeueArguments,
  healthCheckInterval,
  heartbeatStats,
  maxDequeuePerCall,
  optionalWorkerId,
  otelSpanInput,
  pruneAge,
  readPageRows,
  requireArray,
  resourcesListing,
  rolloutListing,
  spanListing,
  waitArguments,
  workerListing,
} from './arguments.ts';
import { batchLength, batchWeight, MAX_ROWS_PER_TRANSACTION } from './batching.ts';
import type { RolloutRepository, RolloutRow } from './repository.ts';
import { RepositoryWriteTransaction } from './repositoryTransaction.ts';
import { toAttempt, toAttempted, toRollout } from './rows.ts';
import { addSpans, firstStored, writeResult } from './spanWrites.ts';
import { runSync, type Steps } from './steps.ts';
import {
  addResources,
  dequeue,
  enqueue,
  idempotent,
  nextSpanSequenceId,
  prune,
  startAttempt,
  startRollout,
  sweep,
  updateAttempt,
  updateResources,
  updateRollout,
  updateWorker,
} from './writes.ts';

// One health-check pass handles at most this many expired attempts; the rest are picked up by the next pass.
const HEALTH_BATCH = 500;
const DEFAULT_HEALTH_INTERVAL_MS = 1000;
// Most operations one group-commit transaction takes; bounds how long one process holds the write lock.
const MAX_BATCH = 256;
const MAX_OPS_PER_TURN = MAX_ROWS_PER_TRANSACTION;

/** A write waiting for the next group commit. */
interface PendingWrite {
  fn: () => unknown;
  /** Rows the operation may write (1 for most; a dequeue's limit): what the per-turn budget counts. */
  weight: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
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
  // The write rules' view of the repository; its `finished` lists the rollouts the running transaction
  // finished, whose waiters are woken once it commits.
  readonly #tx: RepositoryWriteTransaction;
  #pending: PendingWrite[] = [];
  readonly #maxBatch: number;
  readonly #maxDequeue: number;
  #flushScheduled = false;
  #closed = false;

  /** Wraps a repository; starts the background health check. */
  constructor(repo: RolloutRepository, options: RolloutStoreOptions = {}) {
    this.repo = repo;
    this.name = repo.name;
    this.#now = options.now ?? Date.now;
    this.#createdAt = this.#now();
    this.#tx = new RepositoryWriteTransaction(repo, this.#now);
    this.#maxBatch = options.groupCommit === false ? 1 : MAX_BATCH;
    this.#maxDequeue = maxDequeuePerCall(options.maxDequeuePerCall);
    const interval = healthCheckInterval(options.healthCheckIntervalMs, DEFAULT_HEALTH_INTERVAL_MS);
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

  /** Wakes the waiters of the rollouts the last transaction finished (after its commit). */
  #notifyFinished(): void {
    if (this.#tx.finished.length === 0) return;
    for (const rollout of this.#tx.finished.splice(0)) this.#waiters.notify(rollout);
  }

  /** One write transaction running a write rule; wakes waiters of rollouts it finished after commit. */
  #write<T>(steps: Steps<T>): T {
    this.#assertOpen();
    this.#tx.finished.length = 0;
    let result: T;
    try {
      result = this.repo.write(() => runSync(steps));
    } catch (error) {
      this.#tx.finished.length = 0;
      throw error;
    }
    this.#notifyFinished();
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
  #submit<T>(fn: () => T, weight = 1): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ fn, weight, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Submits a write rule for the next group commit, once per idempotency key (see `idempotent`). */
  #submitRule<T>(
    operation: string,
    options: WriteOptions | undefined,
    rule: (tx: RepositoryWriteTransaction) => Steps<T>,
  ): Promise<T> {
    return this.#submit(() =>
      runSync(idempotent(this.#tx, operation, options?.idempotencyKey, rule(this.#tx))),
    );
  }

  #flush(): void {
    this.#flushScheduled = false;
    // Bound the work of one turn so timers and I/O still get to run under a flood of writes. The budget
    // counts rows, not calls: 256 dequeues of 1,000 rollouts in one turn would block the loop for seconds.
    let budget = MAX_OPS_PER_TURN;
    const pending = this.#pending;
    while (pending.length > 0 && budget > 0) {
      // The first operation of a turn runs however heavy it is; after it, only what the budget allows.
      const count = batchLength(pending, this.#maxBatch, budget, budget === MAX_OPS_PER_TURN);
      if (count === 0) break;
      budget -= batchWeight(pending, count);
      this.#runBatch(pending.splice(0, count));
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
    const finished = this.#tx.finished;
    finished.length = 0;
    try {
      this.repo.write(() => {
        for (const op of ops) {
          const mark = finished.length;
          try {
            outcomes.push({ ok: true, value: this.repo.atomic(op.fn) });
          } catch (error) {
            // The failed operation's writes were undone, so must be the rollouts it finished.
            finished.length = mark;
            outcomes.push({ ok: false, value: error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed (another process held the lock past busyTimeoutMs): nothing was written.
      finished.length = 0;
      for (const op of ops) op.reject(error);
      return;
    }
    this.#notifyFinished();
    for (let i = 0; i < ops.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.ok) ops[i]!.resolve(outcome.value);
      else ops[i]!.reject(outcome.value);
    }
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
    if (!this.repo.hasDueAttempts(this.#seconds())) return;
    this.#write(sweep(this.#tx, HEALTH_BATCH));
  }

  #withLatestAttempt(row: RolloutRow): Rollout | AttemptedRollout {
    const attempt =
      row.latestAttemptId === null ? null : this.repo.getAttempt(row.rolloutId, row.latestAttemptId);
    return attempt === null ? toRollout(row) : toAttempted(row, attempt);
  }

  // ---------------------------------------------------------------- rollouts and the queue

  async startRollout(request: StartRolloutRequest, options?: WriteOptions): Promise<AttemptedRollout> {
    this.#healthCheck();
    const result = await this.#submitRule('startRollout', options, (tx) => startRollout(tx, request));
    return this.repo.exportValue(result);
  }

  async enqueueRollout(request: EnqueueRolloutRequest, options?: WriteOptions): Promise<Rollout> {
    this.#assertOpen();
    const [rollout] = await this.#submitRule('enqueueRollout', options, (tx) =>
      enqueue(tx, [request], 'request'),
    );
    return this.repo.exportValue(rollout!);
  }

  async enqueueManyRollouts(requests: EnqueueRolloutRequest[], options?: WriteOptions): Promise<Rollout[]> {
    requireArray(requests, 'requests');
    this.#assertOpen();
    const result = await this.#submitRule('enqueueManyRollouts', options, (tx) =>
      enqueue(tx, requests, 'requests'),
    );
    return this.repo.exportValue(result);
  }

  async dequeueRollout(options?: DequeueOptions): Promise<AttemptedRollout | null> {
    const [first] = await this.dequeueManyRollouts({ ...options, limit: 1 });
    return first ?? null;
  }

  async dequeueManyRollouts(options: DequeueManyOptions = {}): Promise<AttemptedRollout[]> {
    const { limit, workerId } = dequeueArguments(options, this.#maxDequeue);
    this.#healthCheck();
    const result = await this.#submit(() => runSync(dequeue(this.#tx, limit, workerId)), Math.max(1, limit));
    return this.repo.exportValue(result);
  }

  async startAttempt(rolloutId: string, options?: StartAttemptOptions): Promise<AttemptedRollout> {
    this.#healthCheck();
    const workerId = optionalWorkerId(options);
    const result = await this.#submitRule('startAttempt', options, (tx) =>
      startAttempt(tx, rolloutId, workerId),
    );
    return this.repo.exportValue(result);
  }

  async queryRollouts(query: RolloutQuery = {}): Promise<PaginatedResult<Rollout | AttemptedRollout>> {
    this.#healthCheck();
    const { page, filter } = rolloutListing(query);
    const result = this.repo.queryRollouts(filter, page);
    const items = result.items.map((row) => this.#withLatestAttempt(row));
    return this.repo.exportValue({ ...result, items });
  }

  async *iterateRollouts(
    query: RolloutQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<Array<Rollout | AttemptedRollout>> {
    const { page, filter } = rolloutListing(query);
    const pageRows = readPageRows(options);
    this.#healthCheck();
    yield* this.#exported(this.repo.rolloutPages(filter, page, pageRows), (row) =>
      this.#withLatestAttempt(row),
    );
  }

  // The pages of a read in pages as they leave the store (mapped, then copied when the backend shares rows).
  async *#exported<R, T>(pages: Iterable<R[]>, map: (row: R) => T): AsyncGenerator<T[]> {
    for (const rows of pages) yield this.repo.exportValue(rows.map(map));
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
    const result = await this.#submitRule('updateRollout', options, (tx) =>
      updateRollout(tx, rolloutId, changes),
    );
    return this.repo.exportValue(result);
  }

  // ---------------------------------------------------------------- attempts

  async queryAttempts(rolloutId: string, query: AttemptQuery = {}): Promise<PaginatedResult<Attempt>> {
    this.#healthCheck();
    const result = this.repo.queryAttempts(rolloutId, attemptPage(rolloutId, query));
    return this.repo.exportValue({ ...result, items: result.items.map(toAttempt) });
  }

  async *iterateAttempts(
    rolloutId: string,
    query: AttemptQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<Attempt[]> {
    const page = attemptPage(rolloutId, query);
    const pageRows = readPageRows(options);
    this.#healthCheck();
    yield* this.#exported(this.repo.attemptPages(rolloutId, page, pageRows), toAttempt);
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
    const result = await this.#submitRule('updateAttempt', options, (tx) =>
      updateAttempt(tx, rolloutId, attemptId, changes),
    );
    return this.repo.exportValue(result);
  }

  // ---------------------------------------------------------------- spans

  async addSpan(span: SpanInput, options?: WriteOptions): Promise<Span | null> {
    const result = await this.#submitRule('addSpan', options, (tx) => addSpans(tx, [span], firstStored));
    return this.repo.exportValue(result);
  }

  async addManySpans(spans: SpanInput[], options?: WriteOptions): Promise<SpanWriteResult> {
    requireArray(spans, 'spans');
    return this.#submitRule('addManySpans', options, (tx) => addSpans(tx, spans, writeResult));
  }

  async addOtelSpan(
    rolloutId: string,
    attemptId: string,
    span: ReadableSpanLike,
    options?: AddOtelSpanOptions,
  ): Promise<Span | null> {
    return this.addSpan(otelSpanInput(rolloutId, attemptId, span, options), options);
  }

  async getNextSpanSequenceId(rolloutId: string, attemptId: string): Promise<number> {
    requireId(attemptId, 'attemptId');
    return await this.#submit(() => runSync(nextSpanSequenceId(this.#tx, rolloutId)));
  }

  async querySpans(rolloutId: string, query: SpanQuery = {}): Promise<PaginatedResult<Span>> {
    this.#healthCheck();
    const { page, filter } = spanListing(rolloutId, query);
    const attemptId = this.#spanAttempt(rolloutId, query);
    if (attemptId === undefined) return { items: [], limit: page.limit, offset: page.offset, total: 0 };
    return this.repo.exportValue(this.repo.querySpans(rolloutId, attemptId, filter, page));
  }

  async *iterateSpans(
    rolloutId: string,
    query: SpanQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<Span[]> {
    const { page, filter } = spanListing(rolloutId, query);
    const pageRows = readPageRows(options);
    this.#healthCheck();
    const attemptId = this.#spanAttempt(rolloutId, query);
    if (attemptId === undefined) return;
    yield* this.#exported(this.repo.spanPages(rolloutId, attemptId, filter, page, pageRows), (span) => span);
  }

  // The attempt a span query reads (null: every attempt), 'latest' resolved; undefined when it asks for the
  // latest attempt of a rollout that has none.
  #spanAttempt(rolloutId: string, query: SpanQuery): string | null | undefined {
    const attemptId = query.attemptId ?? null;
    if (attemptId !== 'latest') return attemptId;
    return this.repo.getRollout(rolloutId)?.latestAttemptId ?? undefined;
  }

  // ---------------------------------------------------------------- resources

  async addResources(resources: NamedResources, options?: WriteOptions): Promise<ResourcesUpdate> {
    const checked = normalizeResources(resources);
    const result = await this.#submitRule('addResources', options, (tx) => addResources(tx, checked));
    return this.repo.exportValue(result);
  }

  async updateResources(
    resourcesId: string,
    resources: NamedResources,
    options?: WriteOptions,
  ): Promise<ResourcesUpdate> {
    requireId(resourcesId, 'resourcesId');
    const checked = normalizeResources(resources);
    const result = await this.#submitRule('updateResources', options, (tx) =>
      updateResources(tx, resourcesId, checked),
    );
    return this.repo.exportValue(result);
  }

  async queryResources(query: ResourcesQuery = {}): Promise<PaginatedResult<ResourcesUpdate>> {
    this.#assertOpen();
    const { page, filter } = resourcesListing(query);
    return this.repo.exportValue(this.repo.queryResources(filter, page));
  }

  async *iterateResources(
    query: ResourcesQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<ResourcesUpdate[]> {
    const { page, filter } = resourcesListing(query);
    const pageRows = readPageRows(options);
    this.#assertOpen();
    yield* this.#exported(this.repo.resourcesPages(filter, page, pageRows), (update) => update);
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
    const { page, filter } = workerListing(query);
    return this.repo.exportValue(this.repo.queryWorkers(filter, page));
  }

  async *iterateWorkers(query: WorkerQuery = {}, options?: IterateOptions): AsyncGenerator<Worker[]> {
    const { page, filter } = workerListing(query);
    const pageRows = readPageRows(options);
    this.#healthCheck();
    yield* this.#exported(this.repo.workerPages(filter, page, pageRows), (worker) => worker);
  }

  async getWorkerById(workerId: string): Promise<Worker | null> {
    this.#healthCheck();
    requireId(workerId, 'workerId');
    return this.repo.exportValue(this.repo.getWorker(workerId));
  }

  async updateWorker(workerId: string, options?: UpdateWorkerOptions): Promise<Worker> {
    const stats = heartbeatStats(workerId, options);
    const result = await this.#submitRule('updateWorker', options, (tx) => updateWorker(tx, workerId, stats));
    return this.repo.exportValue(result);
  }

  // ---------------------------------------------------------------- waits, statistics, retention

  async waitForRollouts(options: WaitForRolloutsOptions): Promise<Rollout[]> {
    const { ids: unique, timeoutMs } = waitArguments(options);
    this.#healthCheck();
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
      const woken = await this.#waiters.waitAll(pending, timeoutMs, options.signal);
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
    const olderThanMs = pruneAge(options);
    return await this.#submit(() => runSync(prune(this.#tx, olderThanMs)));
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
