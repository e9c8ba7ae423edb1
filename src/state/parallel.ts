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
 * Failures: if any task throws, nothing is committed and the first error is rethrown. If something else
 * commits to the store while tasks run, the commit throws `RevisionConflictError` and nothing of this
 * round is committed (batches already committed by the fallback stay committed).
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
  for (const i of rerun) {
    const batch = store.batch();
    results[i] = await tasks[i]!({ snapshot: store.snapshot(), batch, attempt: 2 });
    revision = store.commit(batch);
  }
  return { revision, results, merged, rerun };
}
