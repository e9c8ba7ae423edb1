import { describe, expect, it } from 'vitest';
import {
  BaseRevisionMismatchError,
  ParallelMergeConflictError,
  RevisionConflictError,
} from '../../src/errors.ts';
import {
  appendList,
  counter,
  lastValue,
  MutationBatch,
  type ParallelTaskContext,
  runParallel,
  StateStore,
} from '../../src/state/index.ts';

const Hits = counter({ key: 'hits' });
const Log = appendList<string>({ key: 'log' });
const Answer = lastValue<string>({ key: 'answer', initial: () => '' });
const Plan = lastValue<string>({ key: 'plan', initial: () => '' });

function newStore(): StateStore {
  return new StateStore({ keys: [Hits, Log, Answer, Plan] });
}

function errorOf(fn: () => unknown): Error & { code?: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('MutationBatch.mergeParallel', () => {
  it('concatenates commutative ops in batch order and keeps disjoint exclusive ops', () => {
    const store = newStore();
    const a = store.batch().update(Log, 'a1').update(Hits, 1).update(Answer, 'from a');
    const b = store.batch().update(Log, 'b1').update(Hits, 2).update(Plan, 'from b');
    const c = store.batch().update(Log, 'c1');
    const merged = MutationBatch.mergeParallel(a, b, c);
    expect(merged.baseRevision).toBe(0);
    expect(merged.size).toBe(7);
    store.commit(merged);
    expect(store.get(Log)).toEqual(['a1', 'b1', 'c1']);
    expect(store.get(Hits)).toBe(3);
    expect(store.get(Answer)).toBe('from a');
    expect(store.get(Plan)).toBe('from b');
    expect(store.revision).toBe(1);
  });

  it('one batch may write an exclusive key several times', () => {
    const store = newStore();
    const a = store.batch().update(Answer, 'x').update(Answer, 'y');
    store.commit(MutationBatch.mergeParallel(a, store.batch().update(Hits, 1)));
    expect(store.get(Answer)).toBe('y');
  });

  it('throws ParallelMergeConflictError naming the exclusive key written by two batches', () => {
    const store = newStore();
    const a = store.batch().update(Log, 'a').update(Answer, 'a');
    const b = store.batch().update(Hits, 1);
    const c = store.batch().update(Answer, 'c');
    const error = errorOf(() => MutationBatch.mergeParallel(a, b, c));
    expect(error).toBeInstanceOf(ParallelMergeConflictError);
    expect(error.code).toBe('PARALLEL_MERGE_CONFLICT');
    expect(error.details).toMatchObject({ key: 'answer', batches: [0, 2] });
    expect(error.message).toContain("'answer'");
  });

  it('throws BaseRevisionMismatchError for batches from different revisions', () => {
    const store = newStore();
    const a = store.batch().update(Hits, 1);
    store.update(Hits, 1);
    const b = store.batch().update(Hits, 1);
    const error = errorOf(() => MutationBatch.mergeParallel(a, b));
    expect(error).toBeInstanceOf(BaseRevisionMismatchError);
    expect(error.details).toMatchObject({ batchIndex: 1, expectedRevision: 0, actualRevision: 1 });
  });

  it('needs at least one batch', () => {
    expect(() => MutationBatch.mergeParallel()).toThrow(/at least one/);
  });
});

describe('runParallel', () => {
  it('runs tasks on one snapshot and commits their merged batches once', async () => {
    const store = newStore();
    const revisions: number[] = [];
    const result = await runParallel(
      store,
      Array.from({ length: 8 }, (_, i) => async ({ snapshot, batch }) => {
        revisions.push(snapshot.revision);
        await new Promise((resolve) => setTimeout(resolve, 8 - i));
        batch.update(Hits, 1).update(Log, `task ${i}`);
        return i * 10;
      }),
    );
    expect(new Set(revisions)).toEqual(new Set([0]));
    expect(result).toMatchObject({ revision: 1, merged: [0, 1, 2, 3, 4, 5, 6, 7], rerun: [] });
    expect(result.results).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(store.get(Hits)).toBe(8);
    // Task order, not completion order.
    expect(store.get(Log)).toEqual(Array.from({ length: 8 }, (_, i) => `task ${i}`));
  });

  it('re-runs exclusive-key conflicts one at a time on fresh snapshots, losing no update', async () => {
    const store = newStore();
    const seen: Array<{ task: number; attempt: number; answer: string }> = [];
    const tasks = [0, 1, 2].map((i) => ({ snapshot, batch, attempt }: ParallelTaskContext) => {
      const answer = snapshot.get(Answer);
      seen.push({ task: i, attempt, answer });
      batch.update(Answer, `${answer}+${i}`).update(Hits, 1);
    });
    const result = await runParallel(store, tasks);
    expect(result.merged).toEqual([0]);
    expect(result.rerun).toEqual([1, 2]);
    expect(result.revision).toBe(3);
    expect(store.get(Answer)).toBe('+0+1+2');
    // The discarded first attempts of tasks 1 and 2 added nothing; each re-run counted once.
    expect(store.get(Hits)).toBe(3);
    expect(seen.filter((s) => s.attempt === 2)).toEqual([
      { task: 1, attempt: 2, answer: '+0' },
      { task: 2, attempt: 2, answer: '+0+1' },
    ]);
  });

  it('commits nothing when a task throws', async () => {
    const store = newStore();
    await expect(
      runParallel(store, [
        ({ batch }) => {
          batch.update(Hits, 1);
        },
        () => {
          throw new Error('tool failed');
        },
      ]),
    ).rejects.toThrow('tool failed');
    expect(store.revision).toBe(0);
    expect(store.get(Hits)).toBe(0);
  });

  it('refuses to commit over a change made by someone else while the tasks ran', async () => {
    const store = newStore();
    await expect(
      runParallel(store, [
        async ({ batch }) => {
          store.update(Hits, 100);
          batch.update(Hits, 1);
        },
      ]),
    ).rejects.toThrow(RevisionConflictError);
    expect(store.get(Hits)).toBe(100);
  });
});

describe('runParallel fallback failures', () => {
  it('says which tasks are committed when the store changes during a re-run', async () => {
    const store = newStore();
    const tasks = [0, 1, 2].map((i) => async ({ batch, attempt }: ParallelTaskContext) => {
      batch.update(Answer, `task ${i}`);
      // Someone else commits while task 1 is re-run alone.
      if (i === 1 && attempt === 2) store.update(Hits, 1);
    });
    const error = (await runParallel(store, tasks).catch((e: unknown) => e)) as RevisionConflictError;
    expect(error).toBeInstanceOf(RevisionConflictError);
    expect(error.details).toMatchObject({ task: 1, committedTasks: [0], uncommittedTasks: [1, 2] });
    expect(store.get(Answer)).toBe('task 0');
  });
});
