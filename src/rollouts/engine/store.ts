/**
 * The one `RolloutStore` implementation: every public method written once over an `AsyncRolloutRepository`
 * (./asyncRepository.ts). `InMemoryRolloutStore` and `SqliteRolloutStore` are this class over their
 * synchronous repository (./syncRepository.ts), `PostgresRolloutStore` over ../postgres/backend.ts.
 *
 * The store checks arguments (./arguments.ts), runs the health check before operations, submits the write
 * rules (./writes.ts, once per idempotency key) to group commit (./groupCommit.ts), maps rows to the public
 * shapes, runs the listings and the waits, and owns the background timers, whose failures go to `onError`.
 * A repository result may be a value or a promise: the synchronous backends hand back values, and the hot
 * paths await only promises, so they pay nothing for the asynchronous shape.
 */
import { type BackgroundErrorHandler, reportBackgroundError } from '../../shared/backgroundErrors.ts';
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
import type { AsyncRolloutRepository, Pages, RolloutReads } from './asyncRepository.ts';
import { GroupCommit } from './groupCommit.ts';
import type { RolloutRow } from './repository.ts';
import { toAttempt, toAttempted, toRollout } from './rows.ts';
import { addSpans, firstStored, writeResult } from './spanWrites.ts';
import type { Maybe, Steps } from './steps.ts';
import {
  addResources,
  dequeue,
  enqueue,
  idempotent,
  nextSpanSequenceId,
  prune,
  startAttempt,
  startRollout,
  updateAttempt,
  updateResources,
  updateRollout,
  updateWorker,
} from './writes.ts';
import type { RolloutWriteTransaction } from './writeTransaction.ts';

/** The rollout store over any backend; the public backend classes extend it. */
export class AsyncRepositoryStore implements RolloutStore {
  /** Backend name. */
  readonly name: string;
  readonly #backend: AsyncRolloutRepository;
  readonly #now: () => number;
  readonly #createdAt: number;
  readonly #onError: BackgroundErrorHandler | undefined;
  readonly #waiters = new RolloutWaiters();
  readonly #writes: GroupCommit;
  readonly #maxDequeue: number;
  readonly #timers: NodeJS.Timeout[] = [];
  #timedPass: Promise<void> | undefined;
  #closed = false;

  /** Wraps a backend; starts the background health check and the re-check of awaited rollouts. */
  constructor(backend: AsyncRolloutRepository, options: RolloutStoreOptions = {}) {
    this.#backend = backend;
    this.name = backend.name;
    this.#now = options.now ?? Date.now;
    this.#createdAt = this.#now();
    this.#onError = options.onError;
    this.#maxDequeue = maxDequeuePerCall(options.maxDequeuePerCall);
    const interval = healthCheckInterval(options.healthCheckIntervalMs);
    backend.attach({
      isClosed: () => this.#closed,
      finished: (rollout) => this.#waiters.notify(rollout),
      changed: (ids) => this.#recheck(ids),
      waitedIds: () => this.#waiters.waitedIds(),
      backgroundError: (error, source) => this.#report(error, source),
    });
    this.#writes = new GroupCommit(
      (batch) => backend.commit(batch),
      backend.limits,
      () => this.#assertOpen(),
    );
    if (interval > 0) this.#every(interval, () => this.#tick());
    // Backstop for writes by other processes: in-process writes wake waiters directly; a rollout finished
    // elsewhere and not announced is seen here within one interval.
    if (backend.recheckIntervalMs > 0) {
      this.#every(backend.recheckIntervalMs, () => {
        if (this.#waiters.size > 0) this.#recheck(this.#waiters.waitedIds());
      });
    }
  }

  // ---------------------------------------------------------------- plumbing

  #every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    // Timers never keep a process alive on their own.
    timer.unref();
    this.#timers.push(timer);
  }

  #report(error: unknown, source: string): void {
    reportBackgroundError(this.#onError, error, { source: `${this.name} rollout store ${source}` });
  }

  #assertOpen(): void {
    if (this.#closed) throw this.#backend.closedError();
  }

  /** The health check before an operation (a synchronous backend's is done on return: `await` costs a tick only). */
  #healthCheck(): Maybe<void> {
    this.#assertOpen();
    return this.#backend.healthCheck();
  }

  #read<T>(operation: string, fn: (reads: RolloutReads) => Maybe<T>): Maybe<T> {
    this.#assertOpen();
    return this.#backend.read(operation, fn);
  }

  /** A write rule for the next group commit. */
  #submit<T>(
    operation: string,
    steps: (tx: RolloutWriteTransaction) => Steps<T>,
    weight = 1,
    queueOrder = false,
  ): Promise<T> {
    return this.#writes.submit<T>({ operation, steps, weight }, queueOrder);
  }

  /** A write rule for the next group commit, run once per idempotency key (see `idempotent`). */
  #submitRule<T>(
    operation: string,
    options: WriteOptions | undefined,
    rule: (tx: RolloutWriteTransaction) => Steps<T>,
    queueOrder = false,
  ): Promise<T> {
    const key = options?.idempotencyKey;
    return this.#submit(operation, (tx) => idempotent(tx, operation, key, rule(tx)), 1, queueOrder);
  }

  #tick(): void {
    // The timer never overlaps itself.
    if (this.#closed || this.#timedPass !== undefined) return;
    let pass: Maybe<void>;
    try {
      pass = this.#backend.timedSweep();
    } catch (error) {
      // A failing pass (database briefly locked or away) is retried on the next tick and before the next
      // read; it must not crash the process from a timer.
      this.#report(error, 'health check');
      return;
    }
    if (pass === undefined) return;
    this.#timedPass = Promise.resolve(pass)
      .catch((error: unknown) => this.#report(error, 'health check'))
      .finally(() => {
        this.#timedPass = undefined;
      });
  }

  /** Re-reads rollouts someone waits for and wakes the waiters of those finished (notification, backstop). */
  #recheck(ids: readonly string[]): void {
    if (this.#closed || ids.length === 0) return;
    const waited = new Set(this.#waiters.waitedIds());
    const wanted = ids.filter((id) => waited.has(id));
    if (wanted.length === 0) return;
    const wake = (rows: RolloutRow[]) => {
      for (const row of rows) {
        if (isFinishedRollout(row.status)) this.#waiters.notify(this.#backend.exportValue(toRollout(row)));
      }
    };
    // The next notification, reconnect or backstop pass tries again; the failure is reported.
    const failed = (error: unknown) => this.#report(error, 'wait re-check');
    try {
      const rows = this.#backend.read('waitForRollouts', (reads) => reads.getRollouts(wanted));
      if (Array.isArray(rows)) wake(rows);
      else Promise.resolve(rows).then(wake, failed);
    } catch (error) {
      failed(error);
    }
  }

  async #withLatestAttempt(reads: RolloutReads, row: RolloutRow): Promise<Rollout | AttemptedRollout> {
    const attempt =
      row.latestAttemptId === null ? null : await reads.getAttempt(row.rolloutId, row.latestAttemptId);
    return attempt === null ? toRollout(row) : toAttempted(row, attempt);
  }

  // The latest attempts of a page of rollouts (one query where the backend can), attached.
  async #withLatestAttempts(
    reads: RolloutReads,
    rows: RolloutRow[],
  ): Promise<Array<Rollout | AttemptedRollout>> {
    const attempts = new Map((await reads.latestAttempts(rows)).map((a) => [a.rolloutId, a]));
    return rows.map((row) => {
      const attempt = attempts.get(row.rolloutId);
      return attempt !== undefined && attempt.attemptId === row.latestAttemptId
        ? toAttempted(row, attempt)
        : toRollout(row);
    });
  }

  // The pages of a read in pages as they leave the store (mapped, then copied when the backend shares rows).
  async *#exported<R, T>(pages: Pages<R>, map: (rows: R[]) => Maybe<T[]>): AsyncGenerator<T[]> {
    for await (const rows of pages) yield this.#backend.exportValue(await map(rows));
  }

  // ---------------------------------------------------------------- rollouts and the queue

  async startRollout(request: StartRolloutRequest, options?: WriteOptions): Promise<AttemptedRollout> {
    await this.#healthCheck();
    const result = await this.#submitRule('startRollout', options, (tx) => startRollout(tx, request));
    return this.#backend.exportValue(result);
  }

  async enqueueRollout(request: EnqueueRolloutRequest, options?: WriteOptions): Promise<Rollout> {
    const [rollout] = await this.#submitRule(
      'enqueueRollout',
      options,
      (tx) => enqueue(tx, [request], 'request'),
      true,
    );
    return this.#backend.exportValue(rollout!);
  }

  async enqueueManyRollouts(requests: EnqueueRolloutRequest[], options?: WriteOptions): Promise<Rollout[]> {
    requireArray(requests, 'requests');
    const result = await this.#submitRule(
      'enqueueManyRollouts',
      options,
      (tx) => enqueue(tx, requests, 'requests'),
      true,
    );
    return this.#backend.exportValue(result);
  }

  async dequeueRollout(options?: DequeueOptions): Promise<AttemptedRollout | null> {
    const [first] = await this.dequeueManyRollouts({ ...options, limit: 1 });
    return first ?? null;
  }

  async dequeueManyRollouts(options: DequeueManyOptions = {}): Promise<AttemptedRollout[]> {
    const { limit, workerId } = dequeueArguments(options, this.#maxDequeue);
    await this.#healthCheck();
    const result = await this.#submit(
      'dequeueManyRollouts',
      (tx) => dequeue(tx, limit, workerId),
      Math.max(1, limit),
      true,
    );
    return this.#backend.exportValue(result);
  }

  async startAttempt(rolloutId: string, options?: StartAttemptOptions): Promise<AttemptedRollout> {
    await this.#healthCheck();
    const workerId = optionalWorkerId(options);
    const result = await this.#submitRule('startAttempt', options, (tx) =>
      startAttempt(tx, rolloutId, workerId),
    );
    return this.#backend.exportValue(result);
  }

  async queryRollouts(query: RolloutQuery = {}): Promise<PaginatedResult<Rollout | AttemptedRollout>> {
    await this.#healthCheck();
    const { page, filter } = rolloutListing(query);
    const result = await this.#read('queryRollouts', async (reads) => {
      const rows = await reads.queryRollouts(filter, page);
      return { ...rows, items: await this.#withLatestAttempts(reads, rows.items) };
    });
    return this.#backend.exportValue(result);
  }

  async *iterateRollouts(
    query: RolloutQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<Array<Rollout | AttemptedRollout>> {
    const { page, filter } = rolloutListing(query);
    const pageRows = readPageRows(options);
    await this.#healthCheck();
    yield* this.#exported(this.#backend.rolloutPages(filter, page, pageRows), (rows) =>
      this.#read('iterateRollouts', (reads) => this.#withLatestAttempts(reads, rows)),
    );
  }

  async getRolloutById(rolloutId: string): Promise<Rollout | AttemptedRollout | null> {
    await this.#healthCheck();
    requireId(rolloutId, 'rolloutId');
    const result = await this.#read('getRolloutById', async (reads) => {
      const row = await reads.getRollout(rolloutId);
      return row === null ? null : this.#withLatestAttempt(reads, row);
    });
    return this.#backend.exportValue(result);
  }

  async updateRollout(rolloutId: string, patch: RolloutPatch, options?: WriteOptions): Promise<Rollout> {
    await this.#healthCheck();
    const changes = normalizeRolloutPatch(patch);
    const result = await this.#submitRule('updateRollout', options, (tx) =>
      updateRollout(tx, rolloutId, changes),
    );
    return this.#backend.exportValue(result);
  }

  // ---------------------------------------------------------------- attempts

  async queryAttempts(rolloutId: string, query: AttemptQuery = {}): Promise<PaginatedResult<Attempt>> {
    await this.#healthCheck();
    const page = attemptPage(rolloutId, query);
    const result = await this.#read('queryAttempts', (reads) => reads.queryAttempts(rolloutId, page));
    return this.#backend.exportValue({ ...result, items: result.items.map(toAttempt) });
  }

  async *iterateAttempts(
    rolloutId: string,
    query: AttemptQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<Attempt[]> {
    const page = attemptPage(rolloutId, query);
    const pageRows = readPageRows(options);
    await this.#healthCheck();
    yield* this.#exported(this.#backend.attemptPages(rolloutId, page, pageRows), (rows) =>
      rows.map(toAttempt),
    );
  }

  async getLatestAttempt(rolloutId: string): Promise<Attempt | null> {
    await this.#healthCheck();
    requireId(rolloutId, 'rolloutId');
    const result = await this.#read('getLatestAttempt', async (reads) => {
      const row = await reads.getRollout(rolloutId);
      if (row === null || row.latestAttemptId === null) return null;
      const attempt = await reads.getAttempt(rolloutId, row.latestAttemptId);
      return attempt === null ? null : toAttempt(attempt);
    });
    return this.#backend.exportValue(result);
  }

  async updateAttempt(
    rolloutId: string,
    attemptId: string,
    patch: AttemptPatch,
    options?: WriteOptions,
  ): Promise<Attempt> {
    await this.#healthCheck();
    requireId(attemptId, 'attemptId');
    const changes = normalizeAttemptPatch(patch);
    const result = await this.#submitRule('updateAttempt', options, (tx) =>
      updateAttempt(tx, rolloutId, attemptId, changes),
    );
    return this.#backend.exportValue(result);
  }

  // ---------------------------------------------------------------- spans

  async addSpan(span: SpanInput, options?: WriteOptions): Promise<Span | null> {
    const result = await this.#submitRule('addSpan', options, (tx) => addSpans(tx, [span], firstStored));
    return this.#backend.exportValue(result);
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
    return this.#submit('getNextSpanSequenceId', (tx) => nextSpanSequenceId(tx, rolloutId));
  }

  async querySpans(rolloutId: string, query: SpanQuery = {}): Promise<PaginatedResult<Span>> {
    await this.#healthCheck();
    const { page, filter } = spanListing(rolloutId, query);
    const result = await this.#read('querySpans', async (reads) => {
      const attemptId = await this.#spanAttempt(reads, rolloutId, query);
      if (attemptId === undefined) return { items: [], limit: page.limit, offset: page.offset, total: 0 };
      return reads.querySpans(rolloutId, attemptId, filter, page);
    });
    return this.#backend.exportValue(result);
  }

  async *iterateSpans(
    rolloutId: string,
    query: SpanQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<Span[]> {
    const { page, filter } = spanListing(rolloutId, query);
    const pageRows = readPageRows(options);
    await this.#healthCheck();
    const attemptId = await this.#read('iterateSpans', (reads) => this.#spanAttempt(reads, rolloutId, query));
    if (attemptId === undefined) return;
    yield* this.#exported(
      this.#backend.spanPages(rolloutId, attemptId, filter, page, pageRows),
      (spans) => spans,
    );
  }

  // The attempt a span query reads (null: every attempt), 'latest' resolved; undefined when it asks for the
  // latest attempt of a rollout that has none.
  async #spanAttempt(
    reads: RolloutReads,
    rolloutId: string,
    query: SpanQuery,
  ): Promise<string | null | undefined> {
    const attemptId = query.attemptId ?? null;
    if (attemptId !== 'latest') return attemptId;
    return (await reads.getRollout(rolloutId))?.latestAttemptId ?? undefined;
  }

  // ---------------------------------------------------------------- resources

  async addResources(resources: NamedResources, options?: WriteOptions): Promise<ResourcesUpdate> {
    const checked = normalizeResources(resources);
    const result = await this.#submitRule('addResources', options, (tx) => addResources(tx, checked));
    return this.#backend.exportValue(result);
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
    return this.#backend.exportValue(result);
  }

  async queryResources(query: ResourcesQuery = {}): Promise<PaginatedResult<ResourcesUpdate>> {
    this.#assertOpen();
    const { page, filter } = resourcesListing(query);
    const result = await this.#read('queryResources', (reads) => reads.queryResources(filter, page));
    return this.#backend.exportValue(result);
  }

  async *iterateResources(
    query: ResourcesQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<ResourcesUpdate[]> {
    const { page, filter } = resourcesListing(query);
    const pageRows = readPageRows(options);
    this.#assertOpen();
    yield* this.#exported(this.#backend.resourcesPages(filter, page, pageRows), (rows) => rows);
  }

  async getResourcesById(resourcesId: string): Promise<ResourcesUpdate | null> {
    this.#assertOpen();
    requireId(resourcesId, 'resourcesId');
    const result = await this.#read('getResourcesById', (reads) => reads.getResources(resourcesId));
    return this.#backend.exportValue(result);
  }

  async getLatestResources(): Promise<ResourcesUpdate | null> {
    const result = await this.#read('getLatestResources', (reads) => reads.latestResources());
    return this.#backend.exportValue(result);
  }

  // ---------------------------------------------------------------- workers

  async queryWorkers(query: WorkerQuery = {}): Promise<PaginatedResult<Worker>> {
    await this.#healthCheck();
    const { page, filter } = workerListing(query);
    const result = await this.#read('queryWorkers', (reads) => reads.queryWorkers(filter, page));
    return this.#backend.exportValue(result);
  }

  async *iterateWorkers(query: WorkerQuery = {}, options?: IterateOptions): AsyncGenerator<Worker[]> {
    const { page, filter } = workerListing(query);
    const pageRows = readPageRows(options);
    await this.#healthCheck();
    yield* this.#exported(this.#backend.workerPages(filter, page, pageRows), (rows) => rows);
  }

  async getWorkerById(workerId: string): Promise<Worker | null> {
    await this.#healthCheck();
    requireId(workerId, 'workerId');
    const result = await this.#read('getWorkerById', (reads) => reads.getWorker(workerId));
    return this.#backend.exportValue(result);
  }

  async updateWorker(workerId: string, options?: UpdateWorkerOptions): Promise<Worker> {
    const stats = heartbeatStats(workerId, options);
    const result = await this.#submitRule('updateWorker', options, (tx) => updateWorker(tx, workerId, stats));
    return this.#backend.exportValue(result);
  }

  // ---------------------------------------------------------------- waits, statistics, retention

  async waitForRollouts(options: WaitForRolloutsOptions): Promise<Rollout[]> {
    const { ids: unique, timeoutMs } = waitArguments(options);
    await this.#healthCheck();
    // Listening before the first read, so a rollout finishing elsewhere after that read is announced.
    if (timeoutMs > 0 && this.#backend.listen !== undefined) {
      await this.#backend.listen();
      this.#assertOpen();
    }
    const finished = new Map<string, Rollout>();
    const pending: string[] = [];
    const rows = new Map(
      (await this.#read('waitForRollouts', (reads) => reads.getRollouts(unique))).map((r) => [
        r.rolloutId,
        r,
      ]),
    );
    for (const id of unique) {
      const row = rows.get(id);
      // Unknown ids are left out of the result at once, as in the reference.
      if (row === undefined) continue;
      if (isFinishedRollout(row.status)) finished.set(id, toRollout(row));
      else pending.push(id);
    }
    if (pending.length > 0 && timeoutMs > 0) {
      this.#assertOpen();
      const wait = this.#waiters.waitAll(pending, timeoutMs, options.signal);
      // A write announced (or a health check run) between the read above and this registration found no
      // waiter: read again now that the waiters are registered, so no finishing write slips between the two.
      this.#recheck(pending);
      const woken = await wait;
      for (const [id, rollout] of woken) finished.set(id, rollout);
      const missing = pending.filter((id) => !finished.has(id));
      if (missing.length > 0) {
        for (const row of await this.#read('waitForRollouts', (reads) => reads.getRollouts(missing))) {
          if (isFinishedRollout(row.status)) finished.set(row.rolloutId, toRollout(row));
        }
      }
    }
    return this.#backend.exportValue(unique.flatMap((id) => (finished.has(id) ? [finished.get(id)!] : [])));
  }

  async statistics(): Promise<RolloutStoreStatistics> {
    await this.#healthCheck();
    const counts = await this.#read('statistics', (reads) => reads.statistics());
    return { name: this.name, ...counts, uptimeMs: this.#now() - this.#createdAt };
  }

  async runHealthCheck(): Promise<void> {
    this.#assertOpen();
    await this.#backend.sweep();
  }

  async pruneFinished(options: PruneOptions): Promise<PruneResult> {
    const olderThanMs = pruneAge(options);
    return this.#submit('pruneFinished', (tx) => prune(tx, olderThanMs));
  }

  /** Commits writes already submitted, stops the timers, rejects pending waits with CLOSED, releases the backend. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    // Writes already submitted are committed, not dropped.
    const drained = this.#writes.drain();
    if (drained !== undefined) await drained;
    if (this.#timedPass !== undefined) await this.#timedPass;
    this.#waiters.close();
    const closed = this.#backend.close();
    if (closed !== undefined) await closed;
  }
}
