/**
 * `RolloutWriteTransaction` on PostgreSQL: one open database transaction that the shared write rules
 * (../engine/writes.ts) run in with `runAsync`. What differs from the synchronous backends is only what
 * PostgreSQL needs: rollout and worker rows read by a write are locked (`FOR UPDATE`), because other
 * processes write at the same time, and a worker's update after an attempt change is one upsert.
 */
import type { AttemptRow, IdempotencyRecord, RolloutRow } from '../engine/repository.ts';
import type { RolloutWriteTransaction } from '../engine/writeTransaction.ts';
import { emptyWorker, workerAfterAttempt } from '../transitions.ts';
import type { Attempt, PruneResult, ResourcesUpdate, Rollout, Span, Worker } from '../types.ts';
import type { QueueTakes } from './queueTakes.ts';
import type { BufferedWrites, PostgresRolloutRepository } from './repository.ts';

// Every field of a worker but its key, taken from a complete worker so a new field cannot be missed.
const WORKER_KEYS = (Object.keys(emptyWorker('')) as Array<keyof Worker>).filter((key) => key !== 'workerId');

/** Two workers that differ in every field (see `syncWorker`). */
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

/**
 * The rows one operation touched, by key: `r:<rolloutId>` (the rollout and everything under it: attempts,
 * spans, span counter, queue entry), `w:<workerId>` for a worker written without reading it, `W:<workerId>`
 * for a worker read and written, `i:<key>` for an idempotency key, `*` for anything wider (resources, prune,
 * the health check's scan). Operations of one group-commit batch run side by side only when their keys show
 * they did not touch the same rows (see ./operations.ts).
 */
export type Touched = Set<string>;

/**
 * What one operation sees of the open transaction: the connection (its writes held back in its own buffer),
 * the clock, the rollouts it finished (to notify after commit), and the rows it touched.
 */
export class RolloutTransaction implements RolloutWriteTransaction {
  readonly #repo: PostgresRolloutRepository;
  readonly #takes: QueueTakes;
  readonly #q: BufferedWrites;
  readonly #seconds: () => number;
  /** Rollouts this transaction finished; waiters are woken (and NOTIFY sent) with the commit. */
  readonly finished: Rollout[] = [];
  /** The rows touched so far (see `Touched`). */
  readonly touched: Touched = new Set();

  /**
   * An operation's view of the transaction on the connection behind `q` (BEGIN already sent); `takes`
   * merges the queue takes of the transaction's operations.
   */
  constructor(repo: PostgresRolloutRepository, q: BufferedWrites, seconds: () => number, takes: QueueTakes) {
    this.#repo = repo;
    this.#q = q;
    this.#seconds = seconds;
    this.#takes = takes;
  }

  /**
   * Whether the connection takes a statement before the previous one is answered; without it (a pool
   * passed in without pg's `pipeline` mode) one statement at a time may be in flight.
   */
  get pipelined(): boolean {
    return this.#q.pipelined;
  }

  /** Sends writes still held back; run after each operation so an error belongs to the operation that caused it. */
  flush(): Promise<void> {
    return this.#q.flush();
  }

  seconds(): number {
    return this.#seconds();
  }

  getRollout(rolloutId: string): Promise<RolloutRow | null> {
    this.touched.add(`r:${rolloutId}`);
    return this.#repo.getRollout(this.#q, rolloutId, true);
  }

  getRolloutAndAttempt(
    rolloutId: string,
    attemptId: string | null,
  ): Promise<{ rollout: RolloutRow; attempt: AttemptRow | null } | null> {
    this.touched.add(`r:${rolloutId}`);
    return this.#repo.getRolloutAndAttempt(this.#q, rolloutId, attemptId);
  }

  insertRollouts(rows: readonly RolloutRow[]): Promise<void> {
    // Creation order is shared by every insert.
    this.touched.add('*');
    return this.#repo.insertRollouts(this.#q, rows);
  }

  updateRollout(row: RolloutRow): Promise<void> {
    this.touched.add(`r:${row.rolloutId}`);
    return this.#repo.updateRollout(this.#q, row);
  }

  updateRolloutState(row: RolloutRow): Promise<void> {
    this.touched.add(`r:${row.rolloutId}`);
    return this.#repo.updateRolloutState(this.#q, row);
  }

  enqueue(rolloutIds: readonly string[]): Promise<void> {
    for (const id of rolloutIds) this.touched.add(`r:${id}`);
    return this.#repo.enqueue(this.#q, rolloutIds);
  }

  /** The rollouts come locked with their queue entries (one statement, not one read per id). */
  async takeQueued(limit: number): Promise<RolloutRow[]> {
    const rows = await this.#takes.take(this.#q, limit);
    for (const row of rows) this.touched.add(`r:${row.rolloutId}`);
    return rows;
  }

  removeQueued(rolloutId: string): Promise<void> {
    this.touched.add(`r:${rolloutId}`);
    return this.#repo.removeQueued(this.#q, rolloutId);
  }

  getAttempt(rolloutId: string, attemptId: string): Promise<AttemptRow | null> {
    this.touched.add(`r:${rolloutId}`);
    return this.#repo.getAttempt(this.#q, rolloutId, attemptId);
  }

  insertAttempt(row: AttemptRow): Promise<void> {
    this.touched.add(`r:${row.rolloutId}`);
    return this.#repo.insertAttempt(this.#q, row);
  }

  updateAttempt(row: AttemptRow): Promise<void> {
    this.touched.add(`r:${row.rolloutId}`);
    return this.#repo.updateAttempt(this.#q, row);
  }

  dueAttempts(nowSeconds: number, limit: number): Promise<AttemptRow[]> {
    this.touched.add('*');
    return this.#repo.dueAttempts(this.#q, nowSeconds, limit);
  }

  insertSpans(spans: readonly Span[]): Promise<boolean[]> {
    for (const span of spans) this.touched.add(`r:${span.rolloutId}`);
    return this.#repo.insertSpans(this.#q, spans);
  }

  reserveSpanSequenceIds(rolloutId: string, count: number): Promise<number> {
    this.touched.add(`r:${rolloutId}`);
    return this.#repo.reserveSpanSequenceIds(this.#q, rolloutId, count);
  }

  raiseSpanSequenceId(rolloutId: string, sequenceId: number): Promise<void> {
    this.touched.add(`r:${rolloutId}`);
    return this.#repo.raiseSpanSequenceId(this.#q, rolloutId, sequenceId);
  }

  getResources(resourcesId: string): Promise<ResourcesUpdate | null> {
    this.touched.add('*');
    return this.#repo.getResources(this.#q, resourcesId);
  }

  putResources(update: ResourcesUpdate): Promise<void> {
    this.touched.add('*');
    return this.#repo.putResources(this.#q, update);
  }

  latestResources(): Promise<ResourcesUpdate | null> {
    this.touched.add('*');
    return this.#repo.latestResources(this.#q);
  }

  getWorker(workerId: string): Promise<Worker | null> {
    this.touched.add(`W:${workerId}`);
    return this.#repo.getWorker(this.#q, workerId, true);
  }

  putWorker(worker: Worker): Promise<void> {
    this.touched.add(`W:${worker.workerId}`);
    return this.#repo.putWorker(this.#q, worker);
  }

  /**
   * The worker after one of its attempts changed (`workerAfterAttempt`), written as one upsert of the fields
   * the rule sets instead of a locked read plus a write (the hot path runs this on every dequeue, revival
   * and finish). Which fields the rule sets is found by running it on two probe workers that differ in every
   * field: a field with the same result on both does not depend on the old worker. Should the rule ever
   * depend on the old worker, the locked read-modify-write is used instead.
   */
  async syncWorker(workerId: string, attempt: Attempt, now: number, dequeued: boolean): Promise<void> {
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
      this.touched.add(`W:${workerId}`);
      const worker = (await this.#repo.getWorker(this.#q, workerId, true)) ?? emptyWorker(workerId);
      await this.#repo.putWorker(this.#q, workerAfterAttempt(worker, attempt, now, dequeued));
      return;
    }
    this.touched.add(`w:${workerId}`);
    const insert = workerAfterAttempt(emptyWorker(workerId), attempt, now, dequeued);
    await this.#repo.patchWorker(this.#q, insert, set);
  }

  getIdempotent(key: string): Promise<IdempotencyRecord | null> {
    this.touched.add(`i:${key}`);
    return this.#repo.getIdempotent(this.#q, key);
  }

  putIdempotent(key: string, operation: string, result: string, createdAtSeconds: number): Promise<void> {
    this.touched.add(`i:${key}`);
    return this.#repo.putIdempotent(this.#q, key, operation, result, createdAtSeconds);
  }

  pruneFinished(cutoffSeconds: number): Promise<PruneResult> {
    this.touched.add('*');
    return this.#repo.pruneFinished(this.#q, cutoffSeconds);
  }
}
