/**
 * The storage contract under the one rollout store (./store.ts): what a backend does, as values or promises
 * (`Maybe`). The store writes every public method once (argument checks, health checks, idempotency, row
 * mapping, waits, listings); a backend only reads, commits batches of write rules, sweeps, and tells the
 * store what happened. A new backend is one class implementing this interface (memory and SQLite adapt
 * their synchronous `RolloutRepository` through ./syncRepository.ts; PostgreSQL is ../postgres/backend.ts).
 */
import type { Page } from '../query.ts';
import type {
  AttemptSortField,
  PaginatedResult,
  ResourcesSortField,
  ResourcesUpdate,
  Rollout,
  RolloutSortField,
  RolloutStoreStatistics,
  Span,
  SpanSortField,
  Worker,
  WorkerSortField,
} from '../types.ts';
import type { Weighted } from './batching.ts';
import type {
  AttemptRow,
  ResourcesFilter,
  RolloutFilter,
  RolloutRow,
  SpanFilter,
  WorkerFilter,
} from './repository.ts';
import type { Maybe, Steps } from './steps.ts';
import type { RolloutWriteTransaction } from './writeTransaction.ts';

/** Pages of a read in pages, each read only when asked for. */
export type Pages<T> = Iterable<T[]> | AsyncIterable<T[]>;

/** The reads of one connection (or of the whole database, for the synchronous backends). */
export interface RolloutReads {
  getRollout(rolloutId: string): Maybe<RolloutRow | null>;
  /** The rollouts of these ids that exist, in any order. */
  getRollouts(rolloutIds: readonly string[]): Maybe<RolloutRow[]>;
  getAttempt(rolloutId: string, attemptId: string): Maybe<AttemptRow | null>;
  /** The latest attempts of those of `rows` that have one, in any order. */
  latestAttempts(rows: readonly RolloutRow[]): Maybe<AttemptRow[]>;
  queryRollouts(filter: RolloutFilter, page: Page<RolloutSortField>): Maybe<PaginatedResult<RolloutRow>>;
  queryAttempts(rolloutId: string, page: Page<AttemptSortField>): Maybe<PaginatedResult<AttemptRow>>;
  querySpans(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
  ): Maybe<PaginatedResult<Span>>;
  getResources(resourcesId: string): Maybe<ResourcesUpdate | null>;
  latestResources(): Maybe<ResourcesUpdate | null>;
  queryResources(
    filter: ResourcesFilter,
    page: Page<ResourcesSortField>,
  ): Maybe<PaginatedResult<ResourcesUpdate>>;
  getWorker(workerId: string): Maybe<Worker | null>;
  queryWorkers(filter: WorkerFilter, page: Page<WorkerSortField>): Maybe<PaginatedResult<Worker>>;
  statistics(): Maybe<Omit<RolloutStoreStatistics, 'name' | 'uptimeMs'>>;
}

/** A write waiting for its group commit. */
export interface PendingWrite extends Weighted {
  /** The store method that submitted it (for round-trip counts and concurrency rules). */
  operation: string;
  /** The write rule, run on the batch's transaction. */
  steps: (tx: RolloutWriteTransaction) => Steps<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** How group commit cuts pending writes into transactions for one backend (see ./groupCommit.ts). */
export interface GroupCommitLimits {
  /** Most writes per transaction (1: group commit off). */
  maxBatch: number;
  /** Transactions committing at once (a synchronous backend commits one before the next starts). */
  maxInFlight: number;
  /** Rows (write weights) committed per event-loop turn; Infinity: no per-turn bound. */
  rowsPerTurn: number;
}

/** What the store tells a backend, and how the backend reaches back. */
export interface RepositoryContext {
  /** Whether the store is closed (or closing). */
  isClosed(): boolean;
  /** A rollout finished by a write this process committed: wakes its waiters. */
  finished(rollout: Rollout): void;
  /** Rollouts that may have finished in another process: the store re-reads those someone waits for. */
  changed(rolloutIds: readonly string[]): void;
  /** Every rollout someone waits for. */
  waitedIds(): string[];
  /** A failure no caller can catch (goes to the store's `onError`). */
  backgroundError(error: unknown, source: string): void;
}

/** Storage of one rollout-store backend. */
export interface AsyncRolloutRepository {
  /** Backend name (`store.name`). */
  readonly name: string;
  /** Group-commit limits. */
  readonly limits: GroupCommitLimits;
  /** How often the store re-reads awaited rollouts for writes of other processes (ms; 0 = never). */
  readonly recheckIntervalMs: number;
  /** Called once by the store before any other call. */
  attach(context: RepositoryContext): void;
  /** The error of a call on a closed store. */
  closedError(): Error;
  /** Copies a value before it leaves the store when the backend shares objects (memory); identity otherwise. */
  exportValue<T>(value: T): T;

  /** Runs `fn` on the backend's reads; `operation` names the store method. */
  read<T>(operation: string, fn: (reads: RolloutReads) => Maybe<T>): Maybe<T>;
  rolloutPages(filter: RolloutFilter, page: Page<RolloutSortField>, pageRows: number): Pages<RolloutRow>;
  attemptPages(rolloutId: string, page: Page<AttemptSortField>, pageRows: number): Pages<AttemptRow>;
  spanPages(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
    pageRows: number,
  ): Pages<Span>;
  resourcesPages(
    filter: ResourcesFilter,
    page: Page<ResourcesSortField>,
    pageRows: number,
  ): Pages<ResourcesUpdate>;
  workerPages(filter: WorkerFilter, page: Page<WorkerSortField>, pageRows: number): Pages<Worker>;

  /**
   * Commits one batch of writes in one transaction and settles each write (a failing write fails alone);
   * rollouts they finished go to `context.finished` after the commit. Never throws or rejects.
   */
  commit(batch: PendingWrite[]): Maybe<void>;
  /** The health check before an operation: marks expired attempts (calls of one turn may share one). */
  healthCheck(): Maybe<void>;
  /** A health check now (`runHealthCheck`). */
  sweep(): Maybe<void>;
  /** The health-check timer's pass. */
  timedSweep(): Maybe<void>;
  /** Before a wait: starts receiving other processes' finishes (PostgreSQL LISTEN); resolves once active. */
  listen?(): Promise<void>;
  /** Releases the backend (after the store drained its writes and stopped its timers). */
  close(): Maybe<void>;
}
