// The rollout store: Agent Lightning's LightningStore on memory, SQLite (and PostgreSQL in ./postgres/).

export type {
  AttemptRow,
  IdempotencyRecord,
  ResourcesFilter,
  RolloutFilter,
  RolloutRepository,
  RolloutRow,
  SpanFilter,
  WorkerFilter,
} from './engine/repository.ts';
export { RepositoryRolloutStore } from './engine/repositoryStore.ts';
export { newAttemptId, newResourcesId, newRolloutId } from './ids.ts';
// MemoryRolloutState and memoryRolloutRepository are for backups (operations/backup): they read and
// replace the rows of an in-memory store in one synchronous step.
export {
  type MemoryRepositoryOptions,
  MemoryRolloutRepository,
  type MemoryRolloutState,
} from './memory/repository.ts';
export {
  InMemoryRolloutStore,
  type InMemoryRolloutStoreOptions,
  memoryRolloutRepository,
} from './memory/store.ts';
export * from './model.ts';
export * from './postgres/index.ts';
/** The SQL column each public sort field sorts on (the wire spells fields as these columns). */
export {
  ATTEMPT_COLUMNS,
  RESOURCES_COLUMNS,
  ROLLOUT_COLUMNS,
  SPAN_COLUMNS,
  WORKER_COLUMNS,
} from './sql/columns.ts';
/** For backups (operations/backup): rows <-> the model, in the portable form shared by the SQL stores. */
export { rowMappers } from './sql/rowMapping.ts';
/** For backups (operations/backup): the values of a row's columns in the SQL stores' insert order. */
export {
  attemptInsertValues,
  resourcesValues,
  rolloutFields,
  spanValues,
  workerValues,
} from './sql/rowValues.ts';
export {
  DEFAULT_ROLLOUT_DB_PATH,
  type SqliteRepositoryOptions,
  SqliteRolloutRepository,
} from './sqlite/repository.ts';
export { ROLLOUT_SCHEMA, ROLLOUT_SCHEMA_VERSION } from './sqlite/schema.ts';
export { SqliteRolloutStore, type SqliteRolloutStoreOptions } from './sqlite/store.ts';
export * from './transitions.ts';
