/**
 * One group-commit batch on PostgreSQL: its writes run in one transaction (./operations.ts: the common ones
 * side by side). If one of them fails, the transaction is rolled back and run again without it, so each
 * call still succeeds or fails on its own; writes that ran side by side and touched the same rows are re-run
 * one at a time.
 */
import type { AgentStateError } from '../../errors.ts';
import type { PendingWrite } from '../engine/asyncRepository.ts';
import { runAsync } from '../engine/steps.ts';
import {
  type BatchOperation,
  batchFailure,
  OperationFailed,
  OperationsOverlapped,
  runOperations,
} from './operations.ts';
import type { Transactions } from './transactions.ts';
import { isTransient } from './transient.ts';

// Operations that touch only the rows their `Touched` keys name, so a batch may run them side by side
// (./operations.ts). The others (enqueue and startRollout append in creation order, resources, prune) run
// one at a time in their place in the batch.
const CONCURRENT_OPERATIONS = new Set([
  'dequeueManyRollouts',
  'addSpan',
  'addManySpans',
  'updateAttempt',
  'updateRollout',
  'startAttempt',
  'getNextSpanSequenceId',
  'updateWorker',
]);

/** Commits `batch` with `transactions`, settling each write; errors reach callers through `wrap`. */
export async function commitBatch(
  batch: readonly PendingWrite[],
  transactions: Transactions,
  wrap: (error: unknown) => AgentStateError,
): Promise<void> {
  let writes = batch;
  let serial = false;
  while (writes.length > 0) {
    const ops: BatchOperation[] = writes.map((write) => ({
      concurrent: CONCURRENT_OPERATIONS.has(write.operation),
      fn: (tx) => runAsync(write.steps(tx)),
    }));
    try {
      const results = await transactions.run(
        writes.map((write) => write.operation),
        (open) =>
          runOperations(
            ops,
            ops.map(() => open()),
            serial,
            isTransient,
          ),
        // A lost lock race is the whole transaction's problem: the transaction is re-run.
        (error, index) => batchFailure([{ index, error }], isTransient),
      );
      for (let i = 0; i < writes.length; i++) writes[i]!.resolve(results[i]);
      return;
    } catch (error) {
      if (error instanceof OperationsOverlapped) {
        serial = true;
        continue;
      }
      if (error instanceof OperationFailed) {
        writes[error.index]!.reject(wrap(error.error));
        writes = writes.filter((_, i) => i !== error.index);
        continue;
      }
      for (const write of writes) write.reject(wrap(error));
      return;
    }
  }
}
