// Long-poll waits whose clients went away end at once (no waiter, no request kept alive), and the number
// of waits open at once is capped per server and per token with a coded error.
import { request as httpRequest } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentStateClient, InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { listenServer } from '../../src/server/listen.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function openWaits(app: FastifyInstance): Promise<number> {
  const metric = await app.agentstateMetrics.registry.getSingleMetric('agentstate_rollout_waits_open')?.get();
  return metric?.values[0]?.value ?? -1;
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000 && !(await check()); i++) await new Promise((r) => setTimeout(r, 5));
  expect(await check()).toBe(true);
}

/** Opens `count` waits for `rolloutId` (no timeout) over real sockets, and returns a function that drops them. */
function startWaits(base: string, rolloutId: string, count: number, token?: string): () => void {
  const { hostname, port } = new URL(base);
  const body = JSON.stringify({ rollout_ids: [rolloutId], timeout: null });
  const requests = Array.from({ length: count }, () => {
    const req = httpRequest({
      host: hostname,
      port,
      method: 'POST',
      path: '/v1/agl/waits/rollouts',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
    req.on('error', () => {});
    req.end(body);
    return req;
  });
  return () => {
    for (const req of requests) req.destroy();
  };
}

describe('abandoned long-poll waits', () => {
  let app: FastifyInstance | undefined;
  let store: InMemoryRolloutStore | undefined;
  afterEach(async () => {
    await app?.close();
    await store?.close();
  });

  it('20,000 abandoned waits: every wait ends with its client and the heap returns', {
    timeout: 120_000,
  }, async () => {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store });
    const base = await listenServer(app, { host: '127.0.0.1', port: 0 });
    const running = await store.startRollout({ input: 'never finishes' });
    const round = async (count: number) => {
      const drop = startWaits(base, running.rolloutId, count);
      await until(async () => (await openWaits(app!)) === count);
      drop();
      await until(async () => (await openWaits(app!)) === 0);
    };
    await round(1000); // warm-up: lazily built parts of the server (parser pools) are not growth
    const before = heapAfterGc();
    for (let i = 0; i < 20; i++) await round(1000);
    const grown = heapAfterGc() - before;
    // Kept waits cost about 25 KB each (20,000 grew the server by 500 MB); freed ones cost nothing.
    expect(grown).toBeLessThan(10 * 1024 * 1024);
    // The store still wakes a real waiter.
    const wait = store.waitForRollouts({ rolloutIds: [running.rolloutId], timeoutMs: 10_000 });
    await store.updateRollout(running.rolloutId, { status: 'succeeded' });
    expect((await wait).map((r) => r.status)).toEqual(['succeeded']);
  });

  it('caps open waits per server and per token with 429 RATE_LIMITED and Retry-After', async () => {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({
      rollouts: store,
      maxWaits: 3,
      maxWaitsPerToken: 2,
      tokens: [
        { token: 'reader-one', scope: 'read', name: 'one' },
        { token: 'reader-two', scope: 'read', name: 'two' },
      ],
    });
    const base = await listenServer(app, { host: '127.0.0.1', port: 0 });
    const running = await store.startRollout({ input: 1 });
    const wait = (token: string) =>
      fetch(`${base}/v1/agl/waits/rollouts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ rollout_ids: [running.rolloutId], timeout: 0.01 }),
      });
    const dropOne = startWaits(base, running.rolloutId, 2, 'reader-one');
    await until(async () => (await openWaits(app!)) === 2);
    const perToken = await wait('reader-one');
    expect(perToken.status).toBe(429);
    expect(perToken.headers.get('retry-after')).toBe('1');
    expect(((await perToken.json()) as { error: unknown }).error).toMatchObject({
      code: 'RATE_LIMITED',
      details: { limit: 'maxWaitsPerToken', max: 2 },
    });
    const dropTwo = startWaits(base, running.rolloutId, 1, 'reader-two');
    await until(async () => (await openWaits(app!)) === 3);
    const perServer = await wait('reader-two');
    expect(perServer.status).toBe(429);
    expect(((await perServer.json()) as { error: unknown }).error).toMatchObject({
      code: 'RATE_LIMITED',
      details: { limit: 'maxWaits' },
    });
    dropOne();
    dropTwo();
    await until(async () => (await openWaits(app!)) === 0);
    // Freed slots admit new waits.
    expect((await wait('reader-one')).status).toBe(200);
  });

  it('a client wait aborted by its signal closes the server wait and answers like a timeout', async () => {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store });
    const url = await listenServer(app, { host: '127.0.0.1', port: 0 });
    const done = await store.startRollout({ input: 1 });
    await store.updateRollout(done.rolloutId, { status: 'succeeded' });
    const running = await store.startRollout({ input: 2 });
    const client = new AgentStateClient({ url });
    try {
      const controller = new AbortController();
      const wait = client.waitForRollouts({
        rolloutIds: [done.rolloutId, running.rolloutId],
        signal: controller.signal,
      });
      await until(async () => (await openWaits(app!)) === 1);
      controller.abort();
      expect((await wait).map((r) => r.rolloutId)).toEqual([done.rolloutId]);
      await until(async () => (await openWaits(app!)) === 0);
    } finally {
      client.close();
    }
  });
});
