/**
 * The PostgreSQL RolloutStore backend for the conformance suite: one fresh schema per test, dropped after.
 */
import { PostgresRolloutStore } from '../../src/index.ts';
import type { RolloutStoreFactory } from '../conformance/rolloutStore.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

/** The PostgreSQL backend (skipped loudly when no server runs; fails under CI=true). */
export const postgresRolloutFactory: RolloutStoreFactory = {
  name: 'postgres',
  durable: true,
  available: postgresAvailable,
  async create(options) {
    const schema = uniqueName('rollouts');
    const store = new PostgresRolloutStore({
      ...options,
      connectionString: POSTGRES_URL,
      schema,
      poolSize: 4,
    });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await dropSchema(schema);
      },
      reopen: async (more) =>
        new PostgresRolloutStore({
          ...options,
          ...more,
          connectionString: POSTGRES_URL,
          schema,
          poolSize: 4,
        }),
    };
  },
};
