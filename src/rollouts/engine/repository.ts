/**
 * The synchronous storage contract of memory and SQLite (`RepositoryRolloutStore`), adapted to the one
 * store's asynchronous one by ./syncRepository.ts. A repository only stores and finds rows; every rule of
 * the state machine lives once in the engine. Calls are synchronous:
 * the memory backend and better-sqlite3 are, which lets a whole operation run as one transaction without a
 * single await (and so without interleaving). The write rules themselves (./writes.ts) see the repository
 * through `RolloutWriteTransaction` (./repositoryTransaction.ts), the same interface PostgreSQL implements.
 */
import type { Page } from '../query.ts';
import type {
  Attempt,
  AttemptSortField,
  FilterLogic,
  PaginatedResult,
  PruneResult,
  ResourcesSortField,
  ResourcesUpdate,
  Rollout,
  RolloutSortField,
  RolloutStatus,
  RolloutStoreStatistics,
  Span,
  SpanSortField,
  Worker,
  WorkerSortField,
  WorkerStatus,
} from '../types.ts';

/** A stored rollout: the public fields plus the id of its latest attempt. */
export interface RolloutRow extends Rollout {
  /** The latest attempt, null before the first. */
  latestAttemptId: string | null;
}

/** A stored attempt: the public fields plus its health-check deadline (epoch seconds; null = nothing due). */
export interface AttemptRow extends Attempt {
  /** See `attemptDeadline`. */
  deadline: number | null;
}

/** Normalized rollout filters. */
export interface RolloutFilter {
  statusIn: RolloutStatus[] | null;
  rolloutIdIn: string[] | null;
  rolloutIdContains: string | null;
  logic: FilterLogic;
}

/** Normalized span filters (rollout and attempt are separate, always-applied conditions). */
export interface SpanFilter {
  traceId: string | null;
  traceIdContains: string | null;
  spanId: string | null;
  spanIdContains: string | null;
  parentId: string | null;
  parentIdContains: string | null;
  name: string | null;
  nameContains: string | null;
  logic: FilterLogic;
}

/** Normalized resources filters (always combined with and). */
export interface ResourcesFilter {
  resourcesId: string | null;
  resourcesIdContains: string | null;
}

/** Normalized worker filters. */
export interface WorkerFilter {
  statusIn: WorkerStatus[] | null;
  workerIdContains: string | null;
  logic: FilterLogic;
}

/** A stored idempotency record. */
export interface IdempotencyRecord {
  operation: string;
  /** The first call's result, JSON. */
  result: string;
}

/** Synchronous storage of rollouts, attempts, spans, resources, workers, the queue and idempotency keys. */
export interface RolloutRepository {
  /** Backend name. */
  readonly name: string;
  /** Runs `fn` as one write transaction; on SQLite `BEGIN IMMEDIATE`, so writers across processes serialize. */
  write<T>(fn: () => T): T;
  /**
   * Runs `fn` inside the current write transaction so that if it throws, its writes are undone and the
   * transaction goes on (SQLite: SAVEPOINT). The memory backend validates before writing and just runs `fn`.
   */
  atomic<T>(fn: () => T): T;
  /**
   * Whether `write` undoes everything `fn` wrote when `fn` throws (SQLite: ROLLBACK). A batch of writes then
   * runs without a savepoint each, and again with them only if one write fails (see SyncRepositoryBackend).
   * Absent: false.
   */
  readonly undoesFailedWrite?: boolean;
  /** Copies a value before it leaves the store when the backend shares objects (memory); identity otherwise. */
  exportValue<T>(value: T): T;

  getRollout(rolloutId: string): RolloutRow | null;
  insertRollout(row: RolloutRow): void;
  updateRollout(row: RolloutRow): void;
  /** Writes only status, endTime and latestAttemptId (the hot path: no re-encoding of input and config). */
  updateRolloutState(row: RolloutRow): void;
  /** Rows in creation order unless sorted. */
  queryRollouts(filter: RolloutFilter, page: Page<RolloutSortField>): PaginatedResult<RolloutRow>;
  /**
   * The rows `queryRollouts(filter, page)` returns, a page of at most `pageRows` at a time, each page read
   * only when asked for (SQLite: one keyset statement per page): a read of any size in bounded memory.
   */
  rolloutPages(
    filter: RolloutFilter,
    page: Page<RolloutSortField>,
    pageRows?: number,
  ): Iterable<RolloutRow[]>;

  /** Appends to the FIFO queue; ids already queued keep their place. */
  enqueue(rolloutIds: readonly string[]): void;
  /** Removes and returns up to `limit` ids from the head of the queue. */
  takeQueued(limit: number): string[];
  /** Removes an id from the queue if present. */
  removeQueued(rolloutId: string): void;

  getAttempt(rolloutId: string, attemptId: string): AttemptRow | null;
  insertAttempt(row: AttemptRow): void;
  updateAttempt(row: AttemptRow): void;
  queryAttempts(rolloutId: string, page: Page<AttemptSortField>): PaginatedResult<AttemptRow>;
  /** The rows `queryAttempts(rolloutId, page)` returns, in pages (see `rolloutPages`). */
  attemptPages(rolloutId: string, page: Page<AttemptSortField>, pageRows?: number): Iterable<AttemptRow[]>;
  /** Whether any attempt's deadline is before `nowSeconds` (a cheap check, run before reads). */
  hasDueAttempts(nowSeconds: number): boolean;
  /** Attempts whose deadline is before `nowSeconds`, earliest first, at most `limit`. */
  dueAttempts(nowSeconds: number, limit: number): AttemptRow[];

  /** Inserts spans; per span, false when (rolloutId, attemptId, spanId) already existed (nothing written). */
  insertSpans(spans: readonly Span[]): boolean[];
  /** Spans of a rollout (and attempt, when given) matching the filter; sequenceId order unless sorted. */
  querySpans(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
  ): PaginatedResult<Span>;
  /** The spans `querySpans(rolloutId, attemptId, filter, page)` returns, in pages (see `rolloutPages`). */
  spanPages(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
    pageRows?: number,
  ): Iterable<Span[]>;
  /** Reserves `count` consecutive span sequence ids of a rollout; returns the first. */
  reserveSpanSequenceIds(rolloutId: string, count: number): number;
  /** Makes sure ids issued later are greater than `sequenceId`. */
  raiseSpanSequenceId(rolloutId: string, sequenceId: number): void;

  getResources(resourcesId: string): ResourcesUpdate | null;
  /** Inserts or replaces a snapshot; the last written wins ties on updateTime for "latest". */
  putResources(update: ResourcesUpdate): void;
  latestResources(): ResourcesUpdate | null;
  queryResources(filter: ResourcesFilter, page: Page<ResourcesSortField>): PaginatedResult<ResourcesUpdate>;
  /** The snapshots `queryResources(filter, page)` returns, in pages (see `rolloutPages`). */
  resourcesPages(
    filter: ResourcesFilter,
    page: Page<ResourcesSortField>,
    pageRows?: number,
  ): Iterable<ResourcesUpdate[]>;

  getWorker(workerId: string): Worker | null;
  putWorker(worker: Worker): void;
  queryWorkers(filter: WorkerFilter, page: Page<WorkerSortField>): PaginatedResult<Worker>;
  /** The workers `queryWorkers(filter, page)` returns, in pages (see `rolloutPages`). */
  workerPages(filter: WorkerFilter, page: Page<WorkerSortField>, pageRows?: number): Iterable<Worker[]>;

  getIdempotent(key: string): IdempotencyRecord | null;
  putIdempotent(key: string, operation: string, result: string, createdAtSeconds: number): void;

  /** Counts for `statistics()`. */
  statistics(): Omit<RolloutStoreStatistics, 'name' | 'uptimeMs'>;
  /** Deletes finished rollouts with endTime before the cutoff (and their attempts, spans, sequence counters), and older idempotency records. */
  pruneFinished(cutoffSeconds: number): PruneResult;
  /** Releases the backend. */
  close(): void;
}
