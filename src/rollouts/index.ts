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
export { type MemoryRepositoryOptions, MemoryRolloutRepository } from './memory/repository.ts';
export { InMemoryRolloutStore, type InMemoryRolloutStoreOptions } from './memory/store.ts';
export { MAX_ROLLOUT_ID_LENGTH, MAX_SPAN_NAME_LENGTH } from './normalize.ts';
export { spanFromOtel } from './otel.ts';
export * from './postgres/index.ts';
export {
  DEFAULT_ROLLOUT_DB_PATH,
  type SqliteRepositoryOptions,
  SqliteRolloutRepository,
} from './sqlite/repository.ts';
export { ROLLOUT_SCHEMA, ROLLOUT_SCHEMA_VERSION } from './sqlite/schema.ts';
export { SqliteRolloutStore, type SqliteRolloutStoreOptions } from './sqlite/store.ts';
export * from './transitions.ts';
export * from './types.ts';
