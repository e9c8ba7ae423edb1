/**
 * What the write rules (./writes.ts) need from one open write transaction. Each method returns a value
 * (memory, SQLite) or a promise of one (PostgreSQL); the rules yield it and get the value back (./steps.ts).
 * Reads of rollouts and workers lock the row where the backend has row locks (PostgreSQL `FOR UPDATE`),
 * because other processes write at the same time; the synchronous backends hold the whole database instead.
 */
import type { Attempt, PruneResult, ResourcesUpdate, Rollout, Span, Worker } from '../types.ts';
import type { AttemptRow, IdempotencyRecord, RolloutRow } from './repository.ts';
import type { Maybe } from './steps.ts';

/** One open write transaction: its storage calls, its clock, and the rollouts it finished. */
export interface RolloutWriteTransaction {
  /** Now, in epoch seconds. */
  seconds(): number;
  /** Rollouts this transaction finished; their waiters are woken once it commits. */
  readonly finished: Rollout[];

  /** A rollout, locked. */
  getRollout(rolloutId: string): Maybe<RolloutRow | null>;
  /** A rollout and one attempt of it (null: its latest), both locked; null when the rollout does not exist. */
  getRolloutAndAttempt(
    rolloutId: string,
    attemptId: string | null,
  ): Maybe<{ rollout: RolloutRow; attempt: AttemptRow | null } | null>;
  insertRollouts(rows: readonly RolloutRow[]): Maybe<void>;
  updateRollout(row: RolloutRow): Maybe<void>;
  /** Writes only status, endTime and latestAttemptId. */
  updateRolloutState(row: RolloutRow): Maybe<void>;

  /** Appends to the FIFO queue; ids already queued keep their place. */
  enqueue(rolloutIds: readonly string[]): Maybe<void>;
  /** Removes up to `limit` entries from the head of the queue and returns their rollouts (locked), in order. */
  takeQueued(limit: number): Maybe<RolloutRow[]>;
  removeQueued(rolloutId: string): Maybe<void>;

  getAttempt(rolloutId: string, attemptId: string): Maybe<AttemptRow | null>;
  insertAttempt(row: AttemptRow): Maybe<void>;
  updateAttempt(row: AttemptRow): Maybe<void>;
  /** Attempts whose deadline is before `nowSeconds`, earliest first, at most `limit`. */
  dueAttempts(nowSeconds: number, limit: number): Maybe<AttemptRow[]>;

  /** Inserts spans; per span, false when it already existed (nothing written). */
  insertSpans(spans: readonly Span[]): Maybe<boolean[]>;
  /** Reserves `count` consecutive span sequence ids of a rollout; returns the first. */
  reserveSpanSequenceIds(rolloutId: string, count: number): Maybe<number>;
  /** Makes sure ids issued later are greater than `sequenceId`. */
  raiseSpanSequenceId(rolloutId: string, sequenceId: number): Maybe<void>;

  getResources(resourcesId: string): Maybe<ResourcesUpdate | null>;
  putResources(update: ResourcesUpdate): Maybe<void>;
  latestResources(): Maybe<ResourcesUpdate | null>;

  /** A worker, locked. */
  getWorker(workerId: string): Maybe<Worker | null>;
  putWorker(worker: Worker): Maybe<void>;
  /** Stores the worker as `workerAfterAttempt` (transitions.ts) makes it after one of its attempts changed. */
  syncWorker(workerId: string, attempt: Attempt, now: number, dequeued: boolean): Maybe<void>;

  getIdempotent(key: string): Maybe<IdempotencyRecord | null>;
  putIdempotent(key: string, operation: string, result: string, createdAtSeconds: number): Maybe<void>;

  /** Deletes finished rollouts with endTime before the cutoff (see `RolloutRepository.pruneFinished`). */
  pruneFinished(cutoffSeconds: number): Maybe<PruneResult>;
}
