/**
 * In-process storage of the rollout store. Spans are kept as JSON strings: that is their exact size for the
 * byte budget, and every read parses a fresh copy, so callers can never mutate stored spans.
 *
 * Byte budget (`maxSpanBytes`, default 256 MiB): a span batch that would exceed it is refused with
 * `CapacityExceededError` and nothing of it is stored. The reference instead evicts spans, including those
 * of running rollouts, which silently corrupts training data. With `evictFinishedSpans: true` the store
 * first frees room by dropping spans of *finished* rollouts, oldest finished first, and counts them in
 * `statistics().evictedSpans`; spans of unfinished rollouts are never dropped. Use `pruneFinished` or the
 * SQLite backend for long runs.
 *
 * The memory "transaction" is a synchronous critical section: the engine validates everything before its
 * first write, so an operation that throws has written nothing (or only advanced a span sequence counter,
 * which only leaves a gap in issued ids).
 */
import { CapacityExceededError, InvalidInputError } from '../../errors.ts';
import type {
  AttemptRow,
  IdempotencyRecord,
  ResourcesFilter,
  RolloutFilter,
  RolloutRepository,
  RolloutRow,
  SpanFilter,
  WorkerFilter,
} from '../engine/repository.ts';
import { spanJson } from '../normalize.ts';
import {
  combine,
  type Page,
  pagesOf,
  READ_PAGE_ROWS,
  type Sortable,
  sortAndPage,
  sortedPagesOf,
} from '../query.ts';
import { isFinishedRollout } from '../transitions.ts';
import type {
  AttemptSortField,
  PaginatedResult,
  PruneResult,
  ResourcesSortField,
  ResourcesUpdate,
  RolloutSortField,
  RolloutStatus,
  RolloutStoreStatistics,
  Span,
  SpanSortField,
  Worker,
  WorkerSortField,
} from '../types.ts';

/** Options of the memory repository. */
export interface MemoryRepositoryOptions {
  /** Budget for stored span JSON, in bytes (UTF-16 length, a close upper bound of UTF-8 bytes for ASCII). */
  maxSpanBytes?: number;
  /** Free room by dropping spans of finished rollouts (oldest finished first) instead of refusing. */
  evictFinishedSpans?: boolean;
}

interface StoredSpan {
  key: string;
  attemptId: string;
  sequenceId: number;
  traceId: string;
  spanId: string;
  parentId: string | null;
  name: string;
  startTime: number | null;
  endTime: number | null;
  json: string;
}

interface RolloutSpans {
  spans: StoredSpan[];
  keys: Set<string>;
  bytes: number;
}

/** Everything a memory rollout store holds, as plain rows (see `exportState`). */
export interface MemoryRolloutState {
  rollouts: RolloutRow[];
  /** Queued rollout ids, front first. */
  queue: string[];
  attempts: AttemptRow[];
  spans: Span[];
  /** Last issued span sequence id per rollout. */
  sequences: Array<[string, number]>;
  /** Resources with their write order (ties of "latest" on update time). */
  resources: Array<{ update: ResourcesUpdate; writeSeq: number }>;
  workers: Worker[];
  idempotency: Array<IdempotencyRecord & { key: string; createdAt: number }>;
}

const DEFAULT_MAX_SPAN_BYTES = 256 * 1024 * 1024;

function contains(value: string | null, part: string): boolean {
  return value?.includes(part) === true;
}

/**
 * The pages of the rows of a live map (creation order) matching `match`. Creation order ascending walks the
 * map itself (nothing copied; rows created meanwhile come last, as a later SQL page would see them). Another
 * order needs the matching rows ordered: an array of references, not of copies (pages are copied one at a
 * time as they leave the store).
 */
function livePages<T, F extends string & keyof T>(
  rows: ReadonlyMap<string, T>,
  match: (row: T) => boolean,
  page: Page<F>,
  pageRows: number,
): Generator<T[]> {
  if (page.sortBy === null && page.sortOrder === 'asc') return pagesOf(rows.values(), match, page, pageRows);
  return sortedPagesOf(
    [...rows.values()].filter(match),
    page,
    (row, field) => row[field] as Sortable,
    pageRows,
  );
}

/** Memory implementation of `RolloutRepository`. */
export class MemoryRolloutRepository implements RolloutRepository {
  readonly name = 'memory';
  // Writes are applied as they run; the write rules validate before writing (see `atomic`).
  readonly undoesFailedWrite = false;
  readonly #maxSpanBytes: number;
  readonly #evict: boolean;
  // Map iteration order is insertion order: that is the "creation order" of rollouts and resources.
  readonly #rollouts = new Map<string, RolloutRow>();
  readonly #attempts = new Map<string, Map<string, AttemptRow>>();
  // Attempts with a deadline, and a lower bound of their earliest one: `hasDueAttempts` is O(1) until
  // something can actually be due.
  readonly #withDeadline = new Map<string, AttemptRow>();
  #minDeadline = Number.POSITIVE_INFINITY;
  // FIFO queue: an array consumed from `#head`, compacted when half of it is consumed. An entry is live
  // only while `#queued` maps its id to the entry's ticket: a removed and re-queued id gets a new ticket,
  // so its old entry is skipped and it really goes to the back.
  #queue: Array<{ id: string; ticket: number }> = [];
  #head = 0;
  #tickets = 0;
  readonly #queued = new Map<string, number>();
  readonly #spans = new Map<string, RolloutSpans>();
  readonly #sequences = new Map<string, number>();
  #spanBytes = 0;
  #spanCount = 0;
  #evictedSpans = 0;
  readonly #resources = new Map<string, ResourcesUpdate>();
  // Write order of resources, for "latest" ties on updateTime.
  readonly #resourceWrites = new Map<string, number>();
  #writeCounter = 0;
  readonly #workers = new Map<string, Worker>();
  readonly #idempotency = new Map<string, IdempotencyRecord & { createdAt: number }>();

  constructor(options: MemoryRepositoryOptions = {}) {
    const max = options.maxSpanBytes ?? DEFAULT_MAX_SPAN_BYTES;
    if (!Number.isFinite(max) || max <= 0) {
      throw new InvalidInputError('maxSpanBytes must be a number of bytes > 0', {
        field: 'maxSpanBytes',
        value: max,
      });
    }
    this.#maxSpanBytes = max;
    this.#evict = options.evictFinishedSpans ?? false;
  }

  write<T>(fn: () => T): T {
    return fn();
  }

  atomic<T>(fn: () => T): T {
    return fn();
  }

  exportValue<T>(value: T): T {
    return structuredClone(value);
  }

  // ------------------------------------------------------------ rollouts

  getRollout(rolloutId: string): RolloutRow | null {
    return this.#rollouts.get(rolloutId) ?? null;
  }

  insertRollout(row: RolloutRow): void {
    // Copy caller-provided JSON (input, metadata) so later mutation by the caller cannot reach the store.
    this.#rollouts.set(row.rolloutId, structuredClone(row));
  }

  updateRollout(row: RolloutRow): void {
    this.#rollouts.set(row.rolloutId, structuredClone(row));
  }

  updateRolloutState(row: RolloutRow): void {
    const stored = this.#rollouts.get(row.rolloutId);
    if (stored === undefined) return;
    // Stored rows are never handed out (the engine copies), so updating three scalars in place is safe.
    this.#rollouts.set(row.rolloutId, {
      ...stored,
      status: row.status,
      endTime: row.endTime,
      latestAttemptId: row.latestAttemptId,
    });
  }

  #rolloutMatch(filter: RolloutFilter): (row: RolloutRow) => boolean {
    const predicates: Array<(row: RolloutRow) => boolean> = [];
    if (filter.statusIn !== null) {
      const set = new Set(filter.statusIn);
      predicates.push((row) => set.has(row.status));
    }
    if (filter.rolloutIdIn !== null) {
      const set = new Set(filter.rolloutIdIn);
      predicates.push((row) => set.has(row.rolloutId));
    }
    const part = filter.rolloutIdContains;
    if (part !== null) predicates.push((row) => row.rolloutId.includes(part));
    return combine(predicates, filter.logic);
  }

  queryRollouts(filter: RolloutFilter, page: Page<RolloutSortField>): PaginatedResult<RolloutRow> {
    const rows = [...this.#rollouts.values()].filter(this.#rolloutMatch(filter));
    return sortAndPage(rows, page, (row, field) => row[field]);
  }

  rolloutPages(
    filter: RolloutFilter,
    page: Page<RolloutSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<RolloutRow[]> {
    return livePages(this.#rollouts, this.#rolloutMatch(filter), page, pageRows);
  }

  // ------------------------------------------------------------ queue

  enqueue(rolloutIds: readonly string[]): void {
    for (const id of rolloutIds) {
      if (this.#queued.has(id)) continue;
      const ticket = ++this.#tickets;
      this.#queued.set(id, ticket);
      this.#queue.push({ id, ticket });
    }
  }

  takeQueued(limit: number): string[] {
    const out: string[] = [];
    while (out.length < limit && this.#head < this.#queue.length) {
      const entry = this.#queue[this.#head++]!;
      // Entries of removed (or removed and re-queued) ids are stale; skip them.
      if (this.#queued.get(entry.id) !== entry.ticket) continue;
      this.#queued.delete(entry.id);
      out.push(entry.id);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  removeQueued(rolloutId: string): void {
    this.#queued.delete(rolloutId);
  }

  // ------------------------------------------------------------ attempts

  getAttempt(rolloutId: string, attemptId: string): AttemptRow | null {
    return this.#attempts.get(rolloutId)?.get(attemptId) ?? null;
  }

  #trackDeadline(row: AttemptRow): void {
    const key = `${row.rolloutId}\u0000${row.attemptId}`;
    if (row.deadline === null) {
      this.#withDeadline.delete(key);
      return;
    }
    this.#withDeadline.set(key, row);
    if (row.deadline < this.#minDeadline) this.#minDeadline = row.deadline;
  }

  insertAttempt(row: AttemptRow): void {
    let attempts = this.#attempts.get(row.rolloutId);
    if (attempts === undefined) {
      attempts = new Map();
      this.#attempts.set(row.rolloutId, attempts);
    }
    const copy = structuredClone(row);
    attempts.set(row.attemptId, copy);
    this.#trackDeadline(copy);
  }

  updateAttempt(row: AttemptRow): void {
    this.insertAttempt(row);
  }

  // A rollout's attempts in sequence order (references).
  #attemptRows(rolloutId: string): AttemptRow[] {
    return [...(this.#attempts.get(rolloutId)?.values() ?? [])].sort((a, b) => a.sequenceId - b.sequenceId);
  }

  queryAttempts(rolloutId: string, page: Page<AttemptSortField>): PaginatedResult<AttemptRow> {
    return sortAndPage(this.#attemptRows(rolloutId), page, (row, field) => row[field]);
  }

  attemptPages(
    rolloutId: string,
    page: Page<AttemptSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<AttemptRow[]> {
    return sortedPagesOf(this.#attemptRows(rolloutId), page, (row, field) => row[field], pageRows);
  }

  hasDueAttempts(nowSeconds: number): boolean {
    if (nowSeconds <= this.#minDeadline) return false;
    // The bound is stale (deadlines moved later or were cleared): recompute it exactly.
    let min = Number.POSITIVE_INFINITY;
    for (const row of this.#withDeadline.values()) if (row.deadline! < min) min = row.deadline!;
    this.#minDeadline = min;
    return nowSeconds > min;
  }

  dueAttempts(nowSeconds: number, limit: number): AttemptRow[] {
    const due = [...this.#withDeadline.values()].filter((row) => row.deadline! < nowSeconds);
    due.sort((a, b) => a.deadline! - b.deadline!);
    return due.slice(0, limit);
  }

  // ------------------------------------------------------------ spans

  insertSpans(spans: readonly Span[]): boolean[] {
    const encoded: Array<{ span: Span; json: string; key: string }> = [];
    let bytes = 0;
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i]!;
      const json = spanJson(span, i);
      encoded.push({ span, json, key: `${span.attemptId}\u0000${span.spanId}` });
      bytes += json.length;
    }
    this.#makeRoom(bytes, spans);
    const result: boolean[] = [];
    for (const { span, json, key } of encoded) {
      let bucket = this.#spans.get(span.rolloutId);
      if (bucket === undefined) {
        bucket = { spans: [], keys: new Set(), bytes: 0 };
        this.#spans.set(span.rolloutId, bucket);
      }
      if (bucket.keys.has(key)) {
        result.push(false);
        continue;
      }
      bucket.keys.add(key);
      bucket.spans.push({
        key,
        attemptId: span.attemptId,
        sequenceId: span.sequenceId,
        traceId: span.traceId,
        spanId: span.spanId,
        parentId: span.parentId,
        name: span.name,
        startTime: span.startTime,
        endTime: span.endTime,
        json,
      });
      bucket.bytes += json.length;
      this.#spanBytes += json.length;
      this.#spanCount++;
      result.push(true);
    }
    return result;
  }

  /** Refuses a batch that does not fit, after evicting finished rollouts' spans when allowed. */
  #makeRoom(bytes: number, spans: readonly Span[]): void {
    if (this.#spanBytes + bytes <= this.#maxSpanBytes) return;
    if (this.#evict) {
      const incoming = new Set(spans.map((span) => span.rolloutId));
      const finished = [...this.#spans.keys()]
        .map((id) => this.#rollouts.get(id))
        .filter(
          (row): row is RolloutRow =>
            row !== undefined && isFinishedRollout(row.status) && !incoming.has(row.rolloutId),
        )
        .sort((a, b) => (a.endTime ?? 0) - (b.endTime ?? 0));
      for (const row of finished) {
        if (this.#spanBytes + bytes <= this.#maxSpanBytes) break;
        const bucket = this.#spans.get(row.rolloutId)!;
        this.#spanBytes -= bucket.bytes;
        this.#spanCount -= bucket.spans.length;
        this.#evictedSpans += bucket.spans.length;
        this.#spans.delete(row.rolloutId);
      }
    }
    if (this.#spanBytes + bytes > this.#maxSpanBytes) {
      throw new CapacityExceededError(
        `span budget of ${this.#maxSpanBytes} bytes exceeded (${this.#spanBytes} used, ${bytes} more asked); nothing was stored. Prune finished rollouts, raise maxSpanBytes, or use the SQLite backend`,
        { maxSpanBytes: this.#maxSpanBytes, usedBytes: this.#spanBytes, requestedBytes: bytes },
      );
    }
  }

  // The stored spans of a rollout (and attempt) matching the filter, in sequence order (references).
  #spanRows(rolloutId: string, attemptId: string | null, filter: SpanFilter): StoredSpan[] {
    const bucket = this.#spans.get(rolloutId);
    if (bucket === undefined) return [];
    const predicates: Array<(span: StoredSpan) => boolean> = [];
    const exact = (value: string | null, get: (span: StoredSpan) => string | null) => {
      if (value !== null) predicates.push((span) => get(span) === value);
    };
    const part = (value: string | null, get: (span: StoredSpan) => string | null) => {
      if (value !== null) predicates.push((span) => contains(get(span), value));
    };
    exact(filter.traceId, (s) => s.traceId);
    part(filter.traceIdContains, (s) => s.traceId);
    exact(filter.spanId, (s) => s.spanId);
    part(filter.spanIdContains, (s) => s.spanId);
    exact(filter.parentId, (s) => s.parentId);
    part(filter.parentIdContains, (s) => s.parentId);
    exact(filter.name, (s) => s.name);
    part(filter.nameContains, (s) => s.name);
    const match = combine(predicates, filter.logic);
    return bucket.spans
      .filter((span) => (attemptId === null || span.attemptId === attemptId) && match(span))
      .sort((a, b) => a.sequenceId - b.sequenceId);
  }

  querySpans(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
  ): PaginatedResult<Span> {
    const rows = this.#spanRows(rolloutId, attemptId, filter);
    const result = sortAndPage(rows, page, (span, field) => span[field]);
    return { ...result, items: result.items.map((span) => JSON.parse(span.json) as Span) };
  }

  *spanPages(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<Span[]> {
    const rows = this.#spanRows(rolloutId, attemptId, filter);
    // Spans are kept as JSON text: a page is parsed only when it is read.
    for (const stored of sortedPagesOf(rows, page, (span, field) => span[field], pageRows)) {
      yield stored.map((span) => JSON.parse(span.json) as Span);
    }
  }

  reserveSpanSequenceIds(rolloutId: string, count: number): number {
    const last = this.#sequences.get(rolloutId) ?? 0;
    this.#sequences.set(rolloutId, last + count);
    return last + 1;
  }

  raiseSpanSequenceId(rolloutId: string, sequenceId: number): void {
    if ((this.#sequences.get(rolloutId) ?? 0) < sequenceId) this.#sequences.set(rolloutId, sequenceId);
  }

  // ------------------------------------------------------------ resources

  getResources(resourcesId: string): ResourcesUpdate | null {
    return this.#resources.get(resourcesId) ?? null;
  }

  putResources(update: ResourcesUpdate): void {
    this.#resources.set(update.resourcesId, structuredClone(update));
    this.#resourceWrites.set(update.resourcesId, ++this.#writeCounter);
  }

  latestResources(): ResourcesUpdate | null {
    let best: ResourcesUpdate | null = null;
    let bestWrite = -1;
    for (const update of this.#resources.values()) {
      const write = this.#resourceWrites.get(update.resourcesId)!;
      if (
        best === null ||
        update.updateTime > best.updateTime ||
        (update.updateTime === best.updateTime && write > bestWrite)
      ) {
        best = update;
        bestWrite = write;
      }
    }
    return best;
  }

  #resourcesMatch(filter: ResourcesFilter): (row: ResourcesUpdate) => boolean {
    return (row) =>
      (filter.resourcesId === null || row.resourcesId === filter.resourcesId) &&
      (filter.resourcesIdContains === null || row.resourcesId.includes(filter.resourcesIdContains));
  }

  queryResources(filter: ResourcesFilter, page: Page<ResourcesSortField>): PaginatedResult<ResourcesUpdate> {
    const rows = [...this.#resources.values()].filter(this.#resourcesMatch(filter));
    return sortAndPage(rows, page, (row, field) => row[field]);
  }

  resourcesPages(
    filter: ResourcesFilter,
    page: Page<ResourcesSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<ResourcesUpdate[]> {
    return livePages(this.#resources, this.#resourcesMatch(filter), page, pageRows);
  }

  // ------------------------------------------------------------ workers

  getWorker(workerId: string): Worker | null {
    return this.#workers.get(workerId) ?? null;
  }

  putWorker(worker: Worker): void {
    this.#workers.set(worker.workerId, structuredClone(worker));
  }

  // The workers matching the filter in workerId order (references).
  #workerRows(filter: WorkerFilter): Worker[] {
    const predicates: Array<(worker: Worker) => boolean> = [];
    if (filter.statusIn !== null) {
      const set = new Set(filter.statusIn);
      predicates.push((worker) => set.has(worker.status));
    }
    const part = filter.workerIdContains;
    if (part !== null) predicates.push((worker) => worker.workerId.includes(part));
    const match = combine(predicates, filter.logic);
    return [...this.#workers.values()]
      .filter(match)
      .sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0));
  }

  queryWorkers(filter: WorkerFilter, page: Page<WorkerSortField>): PaginatedResult<Worker> {
    return sortAndPage(this.#workerRows(filter), page, (worker, field) => worker[field]);
  }

  workerPages(
    filter: WorkerFilter,
    page: Page<WorkerSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<Worker[]> {
    return sortedPagesOf(this.#workerRows(filter), page, (worker, field) => worker[field], pageRows);
  }

  // ------------------------------------------------------------ idempotency, statistics, retention

  getIdempotent(key: string): IdempotencyRecord | null {
    return this.#idempotency.get(key) ?? null;
  }

  putIdempotent(key: string, operation: string, result: string, createdAtSeconds: number): void {
    this.#idempotency.set(key, { operation, result, createdAt: createdAtSeconds });
  }

  statistics(): Omit<RolloutStoreStatistics, 'name' | 'uptimeMs'> {
    const rolloutsByStatus: Partial<Record<RolloutStatus, number>> = {};
    let attempts = 0;
    for (const row of this.#rollouts.values())
      rolloutsByStatus[row.status] = (rolloutsByStatus[row.status] ?? 0) + 1;
    for (const map of this.#attempts.values()) attempts += map.size;
    return {
      totalRollouts: this.#rollouts.size,
      totalAttempts: attempts,
      totalSpans: this.#spanCount,
      totalResources: this.#resources.size,
      totalWorkers: this.#workers.size,
      queueLength: this.#queued.size,
      rolloutsByStatus,
      spanBytes: this.#spanBytes,
      maxSpanBytes: this.#maxSpanBytes,
      evictedSpans: this.#evictedSpans,
    };
  }

  pruneFinished(cutoffSeconds: number): PruneResult {
    const result: PruneResult = { rollouts: 0, attempts: 0, spans: 0, idempotencyKeys: 0 };
    for (const row of [...this.#rollouts.values()]) {
      if (!isFinishedRollout(row.status) || row.endTime === null || row.endTime >= cutoffSeconds) continue;
      const id = row.rolloutId;
      this.#rollouts.delete(id);
      this.#queued.delete(id);
      const attempts = this.#attempts.get(id);
      if (attempts !== undefined) {
        result.attempts += attempts.size;
        for (const attempt of attempts.values()) this.#withDeadline.delete(`${id}\u0000${attempt.attemptId}`);
        this.#attempts.delete(id);
      }
      const bucket = this.#spans.get(id);
      if (bucket !== undefined) {
        result.spans += bucket.spans.length;
        this.#spanBytes -= bucket.bytes;
        this.#spanCount -= bucket.spans.length;
        this.#spans.delete(id);
      }
      result.rollouts++;
    }
    // Counters of ids no rollout has (getNextSpanSequenceId issues numbers for any id; the store makes
    // rollout ids itself, so such an id never gets a rollout later).
    for (const id of this.#sequences.keys()) if (!this.#rollouts.has(id)) this.#sequences.delete(id);
    for (const [key, record] of this.#idempotency) {
      if (record.createdAt < cutoffSeconds) {
        this.#idempotency.delete(key);
        result.idempotencyKeys++;
      }
    }
    return result;
  }

  // ------------------------------------------------------------ backups (src/operations)

  /** A copy of everything stored, in creation/queue/write order (one moment: the store is synchronous). */
  exportState(): MemoryRolloutState {
    const live = this.#queue.slice(this.#head).filter((e) => this.#queued.get(e.id) === e.ticket);
    return structuredClone({
      rollouts: [...this.#rollouts.values()],
      queue: live.map((e) => e.id),
      attempts: [...this.#attempts.values()].flatMap((m) => [...m.values()]),
      spans: [...this.#spans.values()].flatMap((b) => b.spans.map((x) => JSON.parse(x.json) as Span)),
      sequences: [...this.#sequences.entries()],
      resources: [...this.#resources.values()].map((update) => ({
        update,
        writeSeq: this.#resourceWrites.get(update.resourcesId)!,
      })),
      workers: [...this.#workers.values()],
      idempotency: [...this.#idempotency.entries()].map(([key, r]) => ({ key, ...r })),
    });
  }

  /**
   * Replaces everything stored with `state`, all or nothing: the state is loaded into a fresh repository
   * first (which applies the span byte budget and may refuse), then its maps are adopted in one
   * synchronous step.
   */
  importState(state: MemoryRolloutState): void {
    const next = new MemoryRolloutRepository({ maxSpanBytes: this.#maxSpanBytes, evictFinishedSpans: false });
    for (const row of state.rollouts) next.insertRollout(row);
    next.enqueue(state.queue);
    for (const row of state.attempts) next.insertAttempt(row);
    next.insertSpans(state.spans);
    for (const [id, n] of state.sequences) next.#sequences.set(id, n);
    for (const { update, writeSeq } of [...state.resources].sort((a, b) => a.writeSeq - b.writeSeq)) {
      next.putResources(update);
      next.#resourceWrites.set(update.resourcesId, writeSeq);
      next.#writeCounter = Math.max(next.#writeCounter, writeSeq);
    }
    for (const worker of state.workers) next.putWorker(worker);
    for (const r of state.idempotency) next.putIdempotent(r.key, r.operation, r.result, r.createdAt);
    const adopt = <K, V>(mine: Map<K, V>, theirs: Map<K, V>) => {
      mine.clear();
      for (const [k, v] of theirs) mine.set(k, v);
    };
    adopt(this.#rollouts, next.#rollouts);
    adopt(this.#attempts, next.#attempts);
    adopt(this.#withDeadline, next.#withDeadline);
    adopt(this.#queued, next.#queued);
    adopt(this.#spans, next.#spans);
    adopt(this.#sequences, next.#sequences);
    adopt(this.#resources, next.#resources);
    adopt(this.#resourceWrites, next.#resourceWrites);
    adopt(this.#workers, next.#workers);
    adopt(this.#idempotency, next.#idempotency);
    this.#minDeadline = next.#minDeadline;
    this.#queue = next.#queue;
    this.#head = next.#head;
    this.#tickets = next.#tickets;
    this.#spanBytes = next.#spanBytes;
    this.#spanCount = next.#spanCount;
    this.#writeCounter = next.#writeCounter;
  }

  close(): void {
    this.#rollouts.clear();
    this.#attempts.clear();
    this.#spans.clear();
  }
}
