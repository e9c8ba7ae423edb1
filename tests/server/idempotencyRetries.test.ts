// Retries of one Idempotency-Key that overlap a first request which then fails with a 5xx: exactly one of
// them runs again, the others replay its answer, so the work is never done twice.
import { describe, expect, it } from 'vitest';
import { type EnqueueRolloutRequest, InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

describe('idempotency keys after a failed first request', () => {
  it('runs one overlapping retry, not all of them', async () => {
    const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    let release!: () => void;
    const firstMayFail = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    const enqueue = rollouts.enqueueManyRollouts.bind(rollouts);
    // The first call fails like a lost database connection (a 500), after the retries arrived.
    rollouts.enqueueManyRollouts = async (requests: EnqueueRolloutRequest[]) => {
      calls++;
      if (calls === 1) {
        await firstMayFail;
        throw new Error('connection lost');
      }
      return enqueue(requests);
    };
    const app = await createServer({ rollouts });
    try {
      const request = {
        method: 'POST' as const,
        url: '/v1/agl/queues/rollouts/enqueue',
        headers: { 'idempotency-key': 'enqueue-after-failure' },
        payload: { rollouts: [{ input: 'once' }] },
      };
      const first = app.inject(request);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const retries = [app.inject(request), app.inject(request), app.inject(request)];
      await new Promise((resolve) => setTimeout(resolve, 20));
      release();
      expect((await first).statusCode).toBe(500);
      const answers = await Promise.all(retries);
      expect(answers.map((answer) => answer.statusCode)).toEqual([201, 201, 201]);
      expect(new Set(answers.map((answer) => answer.body)).size).toBe(1);
      expect(calls).toBe(2);
      expect((await rollouts.queryRollouts()).total).toBe(1);
    } finally {
      await app.close();
      await rollouts.close();
    }
  });
});
