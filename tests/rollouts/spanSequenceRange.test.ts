// A span sequence id the caller gives must fit every backend's column (PostgreSQL stores it as integer):
// one beyond it is INVALID_INPUT naming the field everywhere, and the spans of other calls in the same
// group commit are stored as usual.
import { describe, expect, it } from 'vitest';
import type { RolloutStoreFactory } from '../conformance/rolloutStore.ts';
import { memoryRolloutFactory, sqliteRolloutFactory } from './backends.ts';
import { postgresRolloutFactory } from './postgresBackend.ts';

const MAX = 2 ** 31 - 1;

for (const factory of [
  memoryRolloutFactory,
  sqliteRolloutFactory,
  postgresRolloutFactory,
] as RolloutStoreFactory[]) {
  describe.skipIf(!(await factory.available()))(`span sequence id range: ${factory.name}`, () => {
    it('refuses a sequence id above 2^31-1 naming the field, and stores the other calls of its group', async () => {
      const { store, cleanup } = await factory.create({ healthCheckIntervalMs: 0 });
      try {
        const r = await store.startRollout({ input: 1 });
        const span = (spanId: string, sequenceId?: number) => ({
          rolloutId: r.rolloutId,
          attemptId: r.attempt.attemptId,
          traceId: 't',
          spanId,
          name: 'n',
          ...(sequenceId === undefined ? {} : { sequenceId }),
        });
        const [before, tooBig, after] = await Promise.allSettled([
          store.addSpan(span('a')),
          store.addSpan(span('big', MAX + 1)),
          store.addSpan(span('b')),
        ]);
        expect(before.status).toBe('fulfilled');
        expect(after.status).toBe('fulfilled');
        expect(tooBig.status).toBe('rejected');
        expect((tooBig as PromiseRejectedResult).reason).toMatchObject({
          code: 'INVALID_INPUT',
          details: { field: 'spans[0].sequenceId', value: MAX + 1 },
        });
        expect((await store.addSpan(span('max', MAX)))?.sequenceId).toBe(MAX);
        expect((await store.querySpans(r.rolloutId)).items.map((s) => s.spanId)).toEqual(['a', 'b', 'max']);
      } finally {
        await cleanup();
      }
    });
  });
}
