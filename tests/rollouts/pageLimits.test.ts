// Paging numbers beyond what the databases bind (2^63 on SQLite, bigint on PostgreSQL) are the caller's
// INVALID_INPUT naming the field on every backend, not a driver error.
import { describe, expect, it } from 'vitest';
import type { RolloutStoreFactory } from '../conformance/rolloutStore.ts';
import { memoryRolloutFactory, sqliteRolloutFactory } from './backends.ts';
import { postgresRolloutFactory } from './postgresBackend.ts';

const HUGE = 1e20;

for (const factory of [
  memoryRolloutFactory,
  sqliteRolloutFactory,
  postgresRolloutFactory,
] as RolloutStoreFactory[]) {
  describe.skipIf(!(await factory.available()))(`paging limits: ${factory.name}`, () => {
    it('refuses a limit or offset that is not a safe integer, naming the field', async () => {
      const { store, cleanup } = await factory.create({ healthCheckIntervalMs: 0 });
      try {
        const r = await store.startRollout({ input: 1 });
        for (const [call, field] of [
          [() => store.queryRollouts({ limit: HUGE }), 'limit'],
          [() => store.queryRollouts({ offset: HUGE }), 'offset'],
          [() => store.queryAttempts(r.rolloutId, { limit: HUGE }), 'limit'],
          [() => store.querySpans(r.rolloutId, { offset: HUGE }), 'offset'],
          [() => store.queryWorkers({ limit: HUGE }), 'limit'],
          [() => store.queryResources({ offset: HUGE }), 'offset'],
          [() => store.dequeueManyRollouts({ limit: HUGE }), 'limit'],
        ] as const) {
          await expect(call()).rejects.toMatchObject({
            code: 'INVALID_INPUT',
            details: { field, value: HUGE },
          });
        }
        // The largest safe values still work.
        expect((await store.queryRollouts({ limit: 2 ** 40, offset: 2 ** 40 })).items).toEqual([]);
      } finally {
        await cleanup();
      }
    });
  });
}
