/**
 * The queue takes of one transaction's operations, merged: the dequeues of a group-commit batch run side by
 * side (./operations.ts) and each used to send its own `... ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED`.
 * PostgreSQL runs them one after the other, and each walks the head of the queue again, past the entries
 * the statements before it in the same transaction took and past every entry other transactions hold
 * (a lock attempt each): under load that walk was a quarter of PostgreSQL's time. Takes asked for in the
 * same event-loop turn now go out as one statement for their total, and the rows are handed out in queue
 * order, in the order the takes were asked for: the result is the one the statements would have had one
 * after the other.
 */
import type { RolloutRow } from '../engine/repository.ts';
import type { BufferedWrites, PostgresRolloutRepository } from './repository.ts';

interface Take {
  limit: number;
  /** The asking operation's held-back writes, sent before the merged take (see BufferedWrites.query). */
  flushed: Promise<void>;
  resolve: (rows: RolloutRow[]) => void;
  reject: (error: unknown) => void;
}

/** Merges the queue takes of one transaction. */
export class QueueTakes {
  readonly #repo: PostgresRolloutRepository;
  #waiting: Take[] = [];
  // The connection of the transaction (every operation's buffer writes to the same one).
  #q: BufferedWrites | undefined;

  constructor(repo: PostgresRolloutRepository) {
    this.#repo = repo;
  }

  /**
   * Up to `limit` rollouts from the head of the queue, locked, as `repo.takeQueued`. `q` is the asking
   * operation's buffer: its held-back writes are sent first, and their failure is this take's error.
   */
  async take(q: BufferedWrites, limit: number): Promise<RolloutRow[]> {
    const flushed = q.flush();
    flushed.catch(() => {});
    const rows = new Promise<RolloutRow[]>((resolve, reject) => {
      this.#waiting.push({ limit, flushed, resolve, reject });
    });
    rows.catch(() => {});
    if (this.#waiting.length === 1) {
      this.#q = q;
      // The operations of a batch are started one after the other in one synchronous loop and reach their
      // first take before any await, so a microtask sees every take of that round. It also runs before
      // the turn's socket write (CoalescedWrites uncorks on nextTick), so the take leaves with BEGIN.
      queueMicrotask(() => void this.#send());
    }
    await flushed;
    return rows;
  }

  async #send(): Promise<void> {
    const takes = this.#waiting;
    const q = this.#q!;
    this.#waiting = [];
    this.#q = undefined;
    let total = 0;
    for (const take of takes) total += take.limit;
    try {
      // A connection without pipelining takes one statement at a time: the askers' writes go first.
      if (!q.pipelined) for (const take of takes) await take.flushed;
      const rows = await this.#repo.takeQueued(q, total);
      let next = 0;
      for (const take of takes) {
        take.resolve(rows.slice(next, next + take.limit));
        next += take.limit;
      }
    } catch (error) {
      for (const take of takes) take.reject(error);
    }
  }
}
