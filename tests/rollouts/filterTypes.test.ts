// Query filters of the wrong type are INVALID_INPUT naming the filter on every backend (a string given for
// rolloutIdIn matched by characters on memory, as one id on SQLite, and failed as INTERNAL on PostgreSQL).
import { describe, expect, it } from 'vitest';
import type { RolloutStoreFactory } from '../conformance/rolloutStore.ts';
import { memoryRolloutFactory, sqliteRolloutFactory } from './backends.ts';
import { postgresRolloutFactory } from './postgresBackend.ts';

for (const factory of [
  memoryRolloutFactory,
  sqliteRolloutFactory,
  postgresRolloutFactory,
] as RolloutStoreFactory[]) {
  describe.skipIf(!(await factory.available()))(`query filter types: ${factory.name}`, () => {
    it('refuses a filter of the wrong type, naming it', async () => {
      const { store, cleanup } = await factory.create({ healthCheckIntervalMs: 0 });
      try {
        const r = await store.startRollout({ input: 1 });
        const wrong = <T>(value: unknown) => value as T;
        for (const [call, field] of [
          [() => store.queryRollouts({ rolloutIdIn: wrong(r.rolloutId) }), 'rolloutIdIn'],
          [() => store.queryRollouts({ rolloutIdIn: wrong([1]) }), 'rolloutIdIn'],
          [() => store.queryRollouts({ statusIn: wrong('running') }), 'statusIn'],
          [() => store.queryRollouts({ rolloutIdContains: wrong(['ro-']) }), 'rolloutIdContains'],
          [() => store.querySpans(r.rolloutId, { traceId: wrong(5) }), 'traceId'],
          [() => store.querySpans(r.rolloutId, { nameContains: wrong({}) }), 'nameContains'],
          [() => store.queryWorkers({ workerIdContains: wrong(1) }), 'workerIdContains'],
          [() => store.queryResources({ resourcesId: wrong(1) }), 'resourcesId'],
        ] as const) {
          await expect(call(), field).rejects.toMatchObject({ code: 'INVALID_INPUT', details: { field } });
        }
        expect((await store.queryRollouts({ rolloutIdIn: [r.rolloutId] })).total).toBe(1);
      } finally {
        await cleanup();
      }
    });
  });
}
