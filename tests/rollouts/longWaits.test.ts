// A wait longer than Node's largest timer delay (2^31-1 ms, about 24.8 days) must still wait: Node turns
// such a delay into 1 ms, which would answer at once with nothing finished.
import { describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../src/index.ts';

describe('waitForRollouts with a very long timeout', () => {
  it('keeps waiting past the timer limit and wakes on the finishing write', async () => {
    const store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    try {
      const r = await store.startRollout({ input: 1 });
      let settled = false;
      const waiting = store
        .waitForRollouts({ rolloutIds: [r.rolloutId], timeoutMs: 30 * 24 * 3600 * 1000 })
        .finally(() => {
          settled = true;
        });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(settled).toBe(false);
      await store.updateAttempt(r.rolloutId, 'latest', { status: 'succeeded' });
      expect((await waiting).map((rollout) => rollout.status)).toEqual(['succeeded']);
    } finally {
      await store.close();
    }
  });
});
