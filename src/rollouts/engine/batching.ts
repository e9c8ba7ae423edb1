/**
 * How group commit cuts the queue of pending writes into transactions, shared by the synchronous engine
 * and PostgreSQL. A transaction is bounded by operations and by rows: a dequeue of 1,000 rollouts weighs
 * 1,000, so 32 of them cannot lock 32,000 rows (or hold SQLite's write lock for seconds) in one transaction.
 */

/** Rows one group-commit transaction may write, counted by the writes' weights. */
export const MAX_ROWS_PER_TRANSACTION = 1024;

/** A pending write with its weight: the rows it may write (1 for most; a dequeue's limit). */
export interface Weighted {
  weight: number;
}

/**
 * How many writes from the front of `pending` the next transaction takes: at most `maxOps`, whose weights
 * sum to at most `budget`. A first write heavier than the budget runs alone when `heavyFirst` allows it
 * (it must run some time); otherwise 0 is returned and it waits for a fresh budget.
 */
export function batchLength(
  pending: readonly Weighted[],
  maxOps: number,
  budget: number,
  heavyFirst = true,
): number {
  let count = 0;
  let weight = 0;
  while (count < pending.length && count < maxOps) {
    const next = pending[count]!.weight;
    if (weight + next > budget && (count > 0 || !heavyFirst)) break;
    weight += next;
    count++;
  }
  return count;
}

/** The sum of the weights of the first `count` writes. */
export function batchWeight(pending: readonly Weighted[], count: number): number {
  let weight = 0;
  for (let i = 0; i < count; i++) weight += pending[i]!.weight;
  return weight;
}
