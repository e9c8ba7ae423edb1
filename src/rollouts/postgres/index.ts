// The PostgreSQL rollout store.
export { PostgresRolloutRepository } from './repository.ts';
export { POSTGRES_ROLLOUT_SCHEMA_VERSION, postgresRolloutSchema } from './schema.ts';
export { PostgresRolloutStore, type PostgresRolloutStoreOptions } from './store.ts';
