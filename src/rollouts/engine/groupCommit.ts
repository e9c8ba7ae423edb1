/**
 * Group commit: writes submitted in the same event-loop turn share one transaction. With many concurrent
 * runners this turns one BEGIN/COMMIT per call into one per turn, the dominant cost of small writes. The
 * flush runs on `setImmediate`, not a microtask: an HTTP server handles each request in its own I/O
 * callback, and only a flush after the poll phase sees the writes of every request that phase delivered (a
 * microtask flush committed each request alone and halved server throughput); runners resumed by one
 * finished batch likewise all submit their next call first. A caller's promise settles only after its
 * batch committed, so an awaited write is durable and visible.
 *
 * How a batch commits is the backend's (`AsyncRolloutRepository.commit`); this file only cuts the queue
 * (./batching.ts bounds a transaction by writes and by rows) and keeps at most `maxInFlight` committing.
 */
import type { GroupCommitLimits, PendingWrite } from './asyncRepository.ts';
import { batchLength, batchWeight, MAX_ROWS_PER_TRANSACTION } from './batching.ts';
import type { Maybe } from './steps.ts';

/** The queue of pending writes of one store. */
export class GroupCommit {
  readonly #commit: (batch: PendingWrite[]) => Maybe<void>;
  readonly #limits: GroupCommitLimits;
  readonly #assertOpen: () => void;
  #pending: PendingWrite[] = [];
  #flushScheduled = false;
  #inFlight = 0;
  #draining = false;
  #drained: Array<() => void> = [];
  // With group commit off on a backend that commits several transactions at once, queue appends and takes
  // of one store still run one at a time, in call order, so one handle keeps FIFO order (with group commit
  // on, a turn's calls share one ordered transaction).
  #queueLane: Promise<unknown> = Promise.resolve();

  /** `commit` runs one batch; `assertOpen` throws once the store is closed. */
  constructor(
    commit: (batch: PendingWrite[]) => Maybe<void>,
    limits: GroupCommitLimits,
    assertOpen: () => void,
  ) {
    this.#commit = commit;
    this.#limits = limits;
    this.#assertOpen = assertOpen;
  }

  /**
   * Queues a write for the next group commit; settles after its transaction committed (or it failed).
   * `queueOrder`: a write whose order against other queue writes of this store matters (enqueue, dequeue).
   */
  submit<T>(write: Omit<PendingWrite, 'resolve' | 'reject'>, queueOrder = false): Promise<T> {
    this.#assertOpen();
    if (queueOrder && this.#limits.maxBatch === 1 && this.#limits.maxInFlight > 1) {
      const turn = this.#queueLane.then(() => this.#push<T>(write));
      this.#queueLane = turn.catch(() => {});
      return turn;
    }
    return this.#push(write);
  }

  #push<T>(write: Omit<PendingWrite, 'resolve' | 'reject'>): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ ...write, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    // Bound the work of one turn so timers and I/O still get to run under a flood of writes. The budget
    // counts rows, not calls: 256 dequeues of 1,000 rollouts in one turn would block the loop for seconds.
    const first = this.#draining ? Number.POSITIVE_INFINITY : this.#limits.rowsPerTurn;
    let budget = first;
    const pending = this.#pending;
    while (pending.length > 0 && this.#inFlight < this.#limits.maxInFlight && budget > 0) {
      // The first write of a turn runs however heavy it is; after it, only what the budget allows.
      const rows = Math.min(budget, MAX_ROWS_PER_TRANSACTION);
      const count = batchLength(pending, this.#limits.maxBatch, rows, budget === first);
      if (count === 0) break;
      budget -= batchWeight(pending, count);
      const committing = this.#commit(pending.splice(0, count));
      if (committing !== undefined) {
        this.#inFlight++;
        const done = () => {
          this.#inFlight--;
          if (this.#pending.length > 0) this.#flush();
          else this.#settleDrain();
        };
        committing.then(done, done);
      }
    }
    if (pending.length > 0 && this.#inFlight < this.#limits.maxInFlight) this.#schedule();
  }

  #settleDrain(): void {
    if (this.#inFlight === 0 && this.#pending.length === 0)
      for (const done of this.#drained.splice(0)) done();
  }

  /**
   * Commits every write already submitted (without the per-turn bound); settles once none is pending or
   * committing. Nothing to wait for (a synchronous backend): undefined, the writes are committed.
   */
  drain(): Maybe<void> {
    this.#draining = true;
    if (this.#pending.length > 0) this.#flush();
    if (this.#inFlight === 0 && this.#pending.length === 0) return undefined;
    return new Promise<void>((resolve) => this.#drained.push(resolve));
  }
}
