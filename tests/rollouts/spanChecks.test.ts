// The ids of a span batch are checked once per distinct value (spans of a batch share their rollout,
// attempt and trace ids), and still every value is checked: a bad id in any span of a batch is
// INVALID_INPUT naming that span's field, and nothing of the batch is stored.
import { describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../src/index.ts';

describe('span id checks in a batch', () => {
  it('names the first bad field of any span, whether or not it differs from the span before', async () => {
    const store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    try {
      const rollout = await store.startRollout({ input: 1 });
      const span = (spanId: string, extra: Record<string, unknown> = {}) => ({
        rolloutId: rollout.rolloutId,
        attemptId: rollout.attempt.attemptId,
        traceId: 't',
        spanId,
        name: 'n',
        ...extra,
      });
      const cases: Array<[Array<Record<string, unknown>>, string]> = [
        [[span('a'), span('b\u0000')], 'spans[1].spanId'],
        [[span('a'), span('b', { traceId: 'x\ud800' })], 'spans[1].traceId'],
        [[span('a'), span('b'), span('c', { parentId: 'p'.repeat(300) })], 'spans[2].parentId'],
        [[span('a'), span('b', { name: 7 })], 'spans[1].name'],
        [[span('a', { traceId: 'x\u0000' }), span('b', { traceId: 'x\u0000' })], 'spans[0].traceId'],
      ];
      for (const [spans, field] of cases) {
        await expect(store.addManySpans(spans as never)).rejects.toMatchObject({
          code: 'INVALID_INPUT',
          details: { field },
        });
      }
      expect((await store.querySpans(rollout.rolloutId)).total).toBe(0);
      expect((await store.addManySpans([span('a'), span('b')])).inserted).toBe(2);
    } finally {
      await store.close();
    }
  });
});
