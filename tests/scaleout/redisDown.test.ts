/**
 * Redis away, on a throwaway redis-server (never the shared one): TTL routes answer a coded 503 with
 * Retry-After while it is down, the rollout routes keep working, and TTL routes work again once it is back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../src/rollouts/index.ts';
import { createServer } from '../../src/server/index.ts';
import { RedisTtlStore } from '../../src/ttl/index.ts';
import { type PrivateRedis, privateRedisPossible, startPrivateRedis } from '../support/throwaway.ts';

const possible = privateRedisPossible();
if (!possible) {
  const message = 'redis-server not installed: the Redis fault test cannot run';
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n*** SKIPPED: ${message} ***\n`);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!possible)('Redis down', () => {
  let redis: PrivateRedis | undefined;
  afterAll(async () => {
    await redis?.stop();
  });

  it('answers TTL routes with 503 + Retry-After while Redis is away, the rest keeps working, then recovers', async () => {
    redis = await startPrivateRedis();
    const ttl = new RedisTtlStore({ redis: redis.url, prefix: 'fault:' });
    const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    const app = await createServer({ ttl, rollouts });
    try {
      const put = () =>
        app.inject({ method: 'PUT', url: '/v1/ttl/keys/signal', payload: { value: 'on', ttlMs: 60_000 } });
      expect((await put()).statusCode).toBeLessThan(300);
      await redis.stop();

      const down = await app.inject({ method: 'GET', url: '/v1/ttl/keys/signal' });
      expect(down.statusCode).toBe(503);
      expect(down.headers['retry-after']).toBe('1');
      expect(down.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });
      expect((await put()).statusCode).toBe(503);
      // Rollouts do not need Redis.
      const enqueued = await app.inject({
        method: 'POST',
        url: '/v1/agl/queues/rollouts/enqueue',
        payload: { rollouts: [{ input: 1 }] },
      });
      expect(enqueued.statusCode).toBeLessThan(300);
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);

      await redis.start();
      let status = 503;
      for (let i = 0; i < 100 && status >= 300; i++) {
        status = (await put()).statusCode;
        if (status >= 300) await sleep(100);
      }
      expect(status).toBeLessThan(300);
      const back = await app.inject({ method: 'GET', url: '/v1/ttl/keys/signal' });
      expect(back.statusCode).toBe(200);
      expect(back.json()).toMatchObject({ key: 'signal', value: 'on' });
    } finally {
      await app.close();
      await ttl.close();
      await rollouts.close();
    }
  }, 60_000);
});
