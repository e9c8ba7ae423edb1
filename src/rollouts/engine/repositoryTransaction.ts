/**
 * `RolloutWriteTransaction` over a synchronous `RolloutRepository` (memory, SQLite): every call returns its
 * value directly, so `runSync` drives the write rules without a promise. No row locks are needed: the
 * caller runs the rules inside `repo.write`, which holds the whole database.
 */
import { emptyWorker, workerAfterAttempt } from '../transitions.ts';
import type { Attempt, PruneResult, ResourcesUpdate, Rollout, Span, Worker } from '../types.ts';
import type { AttemptRow, IdempotencyRecord, RolloutRepository, RolloutRow } from './repository.ts';
import type { RolloutWriteTransaction } from './writeTransaction.ts';

/** The write transaction of a synchronous repository; one per store, reused by every write. */
export class RepositoryWriteTransaction implements RolloutWriteTransaction {
  readonly #repo: RolloutRepository;
  readonly #now: () => number;
  /** Rollouts finished by the running transaction; the store empties it after each commit or failure. */
  readonly finished: Rollout[] = [];

  /** Wraps `repo`; `now` is the store's clock in ms. */
  constructor(repo: RolloutRepository, now: () => number) {
    this.#repo = repo;
    this.#now = now;
  }

  seconds(): number {
    return this.#now() / 1000;
  }

  getRollout(rolloutId: string): RolloutRow | null {
    return this.#repo.getRollout(rolloutId);
  }

  getRolloutAndAttempt(
    rolloutId: string,
    attemptId: string | null,
  ): { rollout: RolloutRow; attempt: AttemptRow | null } | null {
    const rollout = this.#repo.getRollout(rolloutId);
    if (rollout === null) return null;
    const id = attemptId ?? rollout.latestAttemptId;
    return { rollout, attempt: id === null ? null : this.#repo.getAttempt(rolloutId, id) };
  }

  insertRollouts(rows: readonly RolloutRow[]): void {
    for (const row of rows) this.#repo.insertRollout(row);
  }

  updateRollout(row: RolloutRow): void {
    this.#repo.updateRollout(row);
  }

  updateRolloutState(row: RolloutRow): void {
    this.#repo.updateRolloutState(row);
  }

  enqueue(rolloutIds: readonly string[]): void {
    this.#repo.enqueue(rolloutIds);
  }

  takeQueued(limit: number): RolloutRow[] {
    const rows: RolloutRow[] = [];
    for (const id of this.#repo.takeQueued(limit)) {
      const row = this.#repo.getRollout(id);
      if (row !== null) rows.push(row);
    }
    return rows;
  }

  removeQueued(rolloutId: string): void {
    this.#repo.removeQueued(rolloutId);
  }

  getAttempt(rolloutId: string, attemptId: string): AttemptRow | null {
    return this.#repo.getAttempt(rolloutId, attemptId);
  }

  insertAttempt(row: AttemptRow): void {
    this.#repo.insertAttempt(row);
  }

  updateAttempt(row: AttemptRow): void {
    this.#repo.updateAttempt(row);
  }

  dueAttempts(nowSeconds: number, limit: number): AttemptRow[] {
    return this.#repo.dueAttempts(nowSeconds, limit);
  }

  insertSpans(spans: readonly Span[]): boolean[] {
    return this.#repo.insertSpans(spans);
  }

  reserveSpanSequenceIds(rolloutId: string, count: number): number {
    return this.#repo.reserveSpanSequenceIds(rolloutId, count);
  }

  raiseSpanSequenceId(rolloutId: string, sequenceId: number): void {
    this.#repo.raiseSpanSequenceId(rolloutId, sequenceId);
  }

  getResources(resourcesId: string): ResourcesUpdate | null {
    return this.#repo.getResources(resourcesId);
  }

  putResources(update: ResourcesUpdate): void {
    this.#repo.putResources(update);
  }

  latestResources(): ResourcesUpdate | null {
    return this.#repo.latestResources();
  }

  getWorker(workerId: string): Worker | null {
    return this.#repo.getWorker(workerId);
  }

  putWorker(worker: Worker): void {
    this.#repo.putWorker(worker);
  }

  syncWorker(workerId: string, attempt: Attempt, now: number, dequeued: boolean): void {
    const worker = this.#repo.getWorker(workerId) ?? emptyWorker(workerId);
    this.#repo.putWorker(workerAfterAttempt(worker, attempt, now, dequeued));
  }

  getIdempotent(key: string): IdempotencyRecord | null {
    return this.#repo.getIdempotent(key);
  }

  putIdempotent(key: string, operation: string, result: string, createdAtSeconds: number): void {
    this.#repo.putIdempotent(key, operation, result, createdAtSeconds);
  }

  pruneFinished(cutoffSeconds: number): PruneResult {
    return this.#repo.pruneFinished(cutoffSeconds);
  }
}
