/**
 * How the operations of one group-commit batch run inside its transaction.
 *
 * Run one after the other, a batch of 32 operations waits for PostgreSQL about 100 times in a row (each
 * operation reads, then writes), and under load each wait costs the scheduling of two processes. So the
 * common operations (dequeue, spans, attempt and rollout updates, heartbeats) run side by side: their
 * statements share the pipelined connection, and the whole batch waits about as often as one operation.
 *
 * Side by side is only right when they touch different rows, which is known only once they ran (a dequeue
 * learns its rollouts from the queue). Each operation records the rows it touched (`Touched`, by key); if
 * two touched the same rollout or idempotency key, or one read and wrote a worker that another wrote, the
 * transaction is rolled back and the batch re-run one operation at a time, as every batch ran before.
 * Rare in practice (two concurrent calls on one rollout), and then exactly the old behaviour.
 *
 * Each operation holds back its writes in its own buffer, so a failing write names its operation: the
 * batch is re-run without it and the others still succeed, as before.
 */
import type { RolloutTransaction } from './transaction.ts';

/** One operation of a batch. */
export interface BatchOperation {
  /** Whether it may run side by side with its neighbours (it touches only rows its `Touched` keys name). */
  concurrent: boolean;
  fn: (tx: RolloutTransaction) => Promise<unknown>;
}

/** Thrown inside a batch to say which operation failed (the batch is re-run without it). */
export class OperationFailed extends Error {
  readonly index: number;
  readonly error: unknown;
  constructor(index: number, error: unknown) {
    super('operation failed');
    this.index = index;
    this.error = error;
  }
}

/** Operations run side by side touched the same rows: the batch is re-run one operation at a time. */
export class OperationsOverlapped extends Error {
  constructor() {
    super('operations of one batch touched the same rows');
  }
}

// What PostgreSQL answers to every statement after one failed in the same transaction.
const TRANSACTION_ABORTED = '25P02';

function isAborted(error: unknown): boolean {
  return (error as { code?: unknown })?.code === TRANSACTION_ABORTED;
}

/**
 * The error a batch fails with when some of its operations (or their writes) failed: a lost lock race as
 * it is (the whole transaction is re-run), else the first failure that is not just the aborted
 * transaction's echo, named by its operation.
 */
export function batchFailure(
  failures: ReadonlyArray<{ index: number; error: unknown }>,
  isTransient: (error: unknown) => boolean,
): unknown {
  const transient = failures.find((f) => isTransient(f.error));
  if (transient !== undefined) return transient.error;
  const cause = failures.find((f) => !isAborted(f.error)) ?? failures[0]!;
  return new OperationFailed(cause.index, cause.error);
}

/** Whether operations `from`..`to` (exclusive) touched rows in common (see `Touched`). */
export function overlapped(txs: readonly RolloutTransaction[], from: number, to: number): boolean {
  const seen = new Map<string, { op: number; readWrite: boolean }>();
  for (let op = from; op < to; op++) {
    for (const key of txs[op]!.touched) {
      if (key === '*') return true;
      const kind = key.charCodeAt(0);
      // Workers: written blind (w) by many is fine (any order is a valid one); read and written (W) is not.
      const worker = kind === 119 || kind === 87;
      const id = worker ? `w${key.slice(1)}` : key;
      const readWrite = !worker || kind === 87;
      const prior = seen.get(id);
      if (prior === undefined) seen.set(id, { op, readWrite });
      else if (prior.op === op) prior.readWrite ||= readWrite;
      else if (prior.readWrite || readWrite) return true;
    }
  }
  return false;
}

/**
 * Runs the operations of a batch on transactions `txs` (one per operation, in order) and returns their
 * results. Consecutive concurrent operations run side by side unless `serial` or the connection is not
 * pipelined; the others one at a time.
 * The writes an operation holds back at its end travel with the next operations' first statements; the
 * last ones are left for the commit. Throws `OperationFailed`, `OperationsOverlapped` or a transient error.
 */
export async function runOperations(
  ops: readonly BatchOperation[],
  txs: readonly RolloutTransaction[],
  serial: boolean,
  isTransient: (error: unknown) => boolean,
): Promise<unknown[]> {
  const out: unknown[] = new Array(ops.length);
  // Without pipelining (a pool passed in without pg's `pipeline` mode) one statement at a time may be in
  // flight on the connection: operations run one by one, each one's last writes sent before the next starts.
  const pipelined = txs[0]?.pipelined ?? true;
  let outstanding: Array<{ index: number; flushed: Promise<void> }> = [];
  for (let from = 0; from < ops.length; ) {
    let to = from + 1;
    if (!serial && pipelined && ops[from]!.concurrent) while (to < ops.length && ops[to]!.concurrent) to++;
    const running: Array<Promise<unknown>> = [];
    for (let k = from; k < to; k++) running.push(ops[k]!.fn(txs[k]!));
    const settled = await Promise.allSettled(running);
    // Earlier writes first: if they failed, what failed after is the aborted transaction's echo.
    const failures: Array<{ index: number; error: unknown }> = [];
    for (const { index, flushed } of outstanding) {
      await flushed.catch((error: unknown) => failures.push({ index, error }));
    }
    if (failures.length > 0) throw batchFailure(failures, isTransient);
    if (to - from > 1 && overlapped(txs, from, to)) throw new OperationsOverlapped();
    for (let k = from; k < to; k++) {
      const result = settled[k - from]!;
      if (result.status === 'rejected') failures.push({ index: k, error: result.reason });
      else out[k] = result.value;
    }
    if (failures.length > 0) throw batchFailure(failures, isTransient);
    outstanding = [];
    if (to < ops.length) {
      for (let k = from; k < to; k++) {
        const flushed = txs[k]!.flush();
        flushed.catch(() => {});
        outstanding.push({ index: k, flushed });
      }
      if (!pipelined) {
        for (const { index, flushed } of outstanding) {
          await flushed.catch((error: unknown) => failures.push({ index, error }));
        }
        if (failures.length > 0) throw batchFailure(failures, isTransient);
        outstanding = [];
      }
    }
    from = to;
  }
  return out;
}
