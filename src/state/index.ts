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
export { Snapshot } from './snapshot.ts';
export { StateMap } from './stateMap.ts';
export {
  type CommitEvent,
  type CommitListener,
  StateStore,
  type StateStoreOptions,
  type UninstallReport,
} from './store.ts';
export {
  type ThreadPage,
  type ThreadRecord,
  type ThreadSaveOptions,
  ThreadSession,
  ThreadStateRepository,
  type ThreadStateRepositoryOptions,
} from './threadRepository.ts';
