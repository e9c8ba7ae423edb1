/**
 * Typed, scoped, revisioned agent state: the seed's Awaken state keys (`StateKey`, `StateMap`, `Snapshot`,
 * `MutationBatch`, `PersistedState`), made to hold up under parallel work and more than one process.
 * Where the seed is lax, this layer is strict, and says so where it matters:
 * - parallel batches that write the same exclusive key are refused on every merge, not only in tests;
 * - a batch started from an older revision (or before a restore) is refused instead of applied over
 *   state its author never saw;
 * - restore is all-or-nothing, and persisted values of keys this process does not know are kept aside,
 *   written back on export and adopted by a later install, never dropped;
 * - thread saves are compare-and-set on the stored document, so two processes cannot both win.
 */
export { findExclusiveConflict, MutationBatch, type MutationBatchOptions, type MutationOp } from './batch.ts';
export { appendList, counter, type HelperKeyOptions, lastValue, mergeRecord } from './helpers.ts';
export {
  type AnyStateKey,
  defineStateKey,
  type KeyScope,
  type MergeStrategy,
  type StateKey,
  type StateKeyDefinition,
  type StateUpdate,
  type StateValue,
} from './key.ts';
export {
  type ParallelRunResult,
  type ParallelTask,
  type ParallelTaskContext,
  runParallel,
} from './parallel.ts';
export type { PersistedState, RestoreReport } from './persisted.ts';
export { validateSync } from './schema.ts';
export { Snapshot } from './snapshot.ts';
export { StateMap } from './stateMap.ts';
export {
  type CommitEvent,
  type CommitListener,
  StateStore,
  type StateStoreOptions,
  type UninstallReport,
} from './store.ts';
export { appendChunk, type Chunk, type ThreadBase } from './threadDelta.ts';
export type { ThreadStateAt } from './threadPast.ts';
export {
  type ThreadPage,
  type ThreadRecord,
  type ThreadRevision,
  type ThreadSaveOptions,
  ThreadSession,
  ThreadStateRepository,
  type ThreadStateRepositoryOptions,
} from './threadRepository.ts';
