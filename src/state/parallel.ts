import { AgentStateError, errorMessage, RevisionConflictError } from '../errors.ts';
import { MutationBatch } from './batch.ts';
import type { Snapshot } from './snapshot.ts';
import type { StateStore } from './store.ts';

/** What a parallel task gets: the shared snapshot to read and its own batch to write. */
export interface ParallelTaskContext {
  /** The state all tasks of the round read (or, on the sequential fallback, a fresh one). */
  snapshot: Snapshot;
  /** This task's batch; record updates here, do not commit it. */
  batch: MutationBatch;
  /** 1 on the parallel round, 2 when re-run alone after an exclusive-key conflict. */
  attempt: 1 | 2;
}

/** A task of `runParallel`: reads the snapshot, records updates, may return a result. */
export type ParallelTask<R = void> = (context: ParallelTaskContext) => R | Promise<R>;

/** What `runParallel` did. */
export interface ParallelRunResult<R> {
  /** Store revision after the last commit. */
  revision: number;
  /** Each task's return value, from its last run, in task order. */
  results: R[];
  /** Tasks whose batches were merged and committed together. */
  merged: number[];
  /** Tasks that conflicted on an exclusive key and were re-run one at a time (the sequential fallback). */
  rerun: number[];
}

/**
 * Runs tasks concurrently against one snapshot, merges their batches and commits once.
 *
 * Conflicts: batches are taken in task order; a batch that writes an `exclusive` key already written by an
 * earlier accepted batch is set aside. The accepted batches are merged and committed; then each set-aside
 * task is re-run alone, in task order, on a fresh snapshot with a new batch, and committed (the sequential
 * fallback). So no update is lost, and a re-run task sees the writes it conflicted with. Tasks must
 * therefore be safe to run twice; the batch of their first run is discarded.
 *
 * Failures: if any task throws in the parallel round, nothing is committed and the first error is
 * rethrown. If something else commits to the store while the parallel round runs, the merged commit
 * throws `RevisionConflictError` and nothing is committed. If that happens during a fallback re-run (or a
 * re-run throws), the error says in `details.committedTasks` and `details.uncommittedTasks` which tasks'
 * updates are in the store and which are not, so the caller can re-run exactly the missing ones.
 */
export async function runParallel<R>(
  store: StateStore,
  tasks: readonly ParallelTask<R>[],
): Promise<ParallelRunResult<R>> {
  const snapshot = store.snapshot();
  const batches = tasks.map(() => store.batch());
  const settled = await Promise.allSettled(
    tasks.map(async (task, i) => task({ snapshot, batch: batches[i]!, attempt: 1 })),
  );
  const results: R[] = [];
  for (const outcome of settled) {
    if (outcome.status === 'rejected') throw outcome.reason;
    results.push(outcome.value);
  }

  const merged: number[] = [];
  const rerun: number[] = [];
  const claimed = new Set<string>();
  for (let i = 0; i < batches.length; i++) {
    const exclusive = new Set<string>();
    for (const op of batches[i]!.ops) if (op.key.merge === 'exclusive') exclusive.add(op.key.key);
    let conflicts = false;
    for (const key of exclusive) if (claimed.has(key)) conflicts = true;
    if (conflicts) {
      rerun.push(i);
      continue;
    }
    for (const key of exclusive) claimed.add(key);
    merged.push(i);
  }

  let revision = store.revision;
  if (merged.length > 0) {
    revision = store.commit(MutationBatch.mergeParallel(...merged.map((i) => batches[i]!)));
  }
  const committed = [...merged];
  for (let n = 0; n < rerun.length; n++) {
    const i = rerun[n]!;
    try {
      const batch = store.batch();
      results[i] = await tasks[i]!({ snapshot: store.snapshot(), batch, attempt: 2 });
      revision = store.commit(batch);
    } catch (error) {
      throw partialFailure(error, i, committed, rerun.slice(n));
    }
    committed.push(i);
  }
  return { revision, results, merged, rerun };
}

// The fallback's error, with which tasks' updates are committed and which are not.
function partialFailure(
  error: unknown,
  task: number,
  committed: number[],
  uncommitted: number[],
): AgentStateError {
  const details = {
    task,
    committedTasks: [...committed].sort((a, b) => a - b),
    uncommittedTasks: uncommitted,
  };
  if (error instanceof RevisionConflictError) {
    return new RevisionConflictError(
      `runParallel: the store changed while task ${task} was re-run alone; tasks ${details.uncommittedTasks.join(', ')} are not committed, re-run them`,
      { ...error.details, ...details },
    );
  }
  return new AgentStateError(
    error instanceof AgentStateError ? error.code : 'INTERNAL',
    `runParallel: task ${task} failed when re-run alone: ${errorMessage(error)}; tasks ${details.uncommittedTasks.join(', ')} are not committed`,
    { ...(error instanceof AgentStateError ? error.details : {}), ...details },
    { cause: error },
  );
}
