// What the Idempotency-Key cache keeps: answers of successful writes only, bounded by bytes and entries,
// for a limited time; reads sent as POST are never kept, and the client sends keys only with writes.
import { afterEach, describe, expect, it } from 'vitest';
import { AgentStateClient, InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { listenServer } from '../../src/server/listen.ts';

type App = Awaited<ReturnType<typeof createServer>>;

describe('idempotency cache', () => {
  let app: App | undefined;
  let store: InMemoryRolloutStore | undefined;
  afterEach(async () => {
    await app?.close();
    await store?.close();
  });

  async function start(options: Parameters<typeof createServer>[0] = {}): Promise<App> {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store, ...options });
    return app;
  }

  const enqueue = (server: App, key: string, input: unknown = 'x') =>
    server.inject({
      method: 'POST',
      url: '/v1/agl/queues/rollouts/enqueue',
      headers: { 'idempotency-key': key },
      payload: { rollouts: [{ input }] },
    });

  it('a search sent as POST with a key reads again instead of replaying', async () => {
    const server = await start();
    const search = () =>
      server.inject({
        method: 'POST',
        url: '/v1/agl/rollouts/search',
        headers: { 'idempotency-key': 'same-key' },
        payload: {},
      });
    expect((await search()).json().total).toBe(0);
    await store!.enqueueRollout({ input: 1 });
    const again = await search();
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json().total).toBe(1);
  });

  it('a failed write is not kept: its retry runs again', async () => {
    const server = await start();
    const update = () =>
      server.inject({
        method: 'POST',
        url: '/v1/agl/rollouts/ro-missing',
        headers: { 'idempotency-key': 'update-key' },
        payload: { status: 'succeeded' },
      });
    const first = await update();
    expect(first.statusCode).toBeGreaterThanOrEqual(400);
    const retry = await update();
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    // A successful write is replayed.
    expect((await enqueue(server, 'ok')).headers['idempotent-replayed']).toBeUndefined();
    expect((await enqueue(server, 'ok')).headers['idempotent-replayed']).toBe('true');
    expect((await store!.queryRollouts()).total).toBe(1);
  });

  it('is bounded by bytes: the least recently used answers go first', async () => {
    const server = await start({ idempotencyMaxBytes: 64 * 1024 });
    const big = 'x'.repeat(4000);
    for (let i = 0; i < 100; i++) expect((await enqueue(server, `k${i}`, big)).statusCode).toBe(201);
    // 100 answers of about 4 KB do not fit in 64 KB: the first are gone, the last are kept.
    expect((await enqueue(server, 'k99', big)).headers['idempotent-replayed']).toBe('true');
    expect((await enqueue(server, 'k0', big)).headers['idempotent-replayed']).toBeUndefined();
  });

  it('is bounded by entries', async () => {
    const server = await start({ idempotencyMaxEntries: 5 });
    for (let i = 0; i < 10; i++) await enqueue(server, `k${i}`);
    expect((await enqueue(server, 'k9')).headers['idempotent-replayed']).toBe('true');
    expect((await enqueue(server, 'k0')).headers['idempotent-replayed']).toBeUndefined();
  });

  it('expires after idempotencyTtlMs', async () => {
    const server = await start({ idempotencyTtlMs: 50 });
    await enqueue(server, 'short');
    expect((await enqueue(server, 'short')).headers['idempotent-replayed']).toBe('true');
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect((await enqueue(server, 'short')).headers['idempotent-replayed']).toBeUndefined();
  });

  it('the client sends keys with writes only', async () => {
    const server = await start();
    const url = await listenServer(server, { host: '127.0.0.1', port: 0 });
    const sent: Array<{ path: string; key: string | null }> = [];
    const spy: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      if (init?.method === 'POST')
        sent.push({ path: new URL(String(input)).pathname, key: headers.get('idempotency-key') });
      return fetch(input, init);
    };
    const client = new AgentStateClient({ url, fetch: spy });
    const rollout = await client.startRollout({ input: 1 });
    try {
      await client.enqueueRollout({ input: 2 });
      await client.querySpans(rollout.rolloutId);
      await client.queryRollouts();
      await client.queryWorkers();
      await client.queryAttempts(rollout.rolloutId);
      await client.waitForRollouts({ rolloutIds: [rollout.rolloutId], timeoutMs: 0 });
    } finally {
      client.close();
    }
    const keyed = Object.fromEntries(sent.map((s) => [s.path, s.key !== null]));
    expect(keyed).toEqual({
      '/v1/agl/rollouts': true,
      '/v1/agl/queues/rollouts/enqueue': true,
      '/v1/agl/spans/search': false,
      '/v1/agl/rollouts/search': false,
      '/v1/agl/workers/search': false,
      [`/v1/agl/rollouts/${rollout.rolloutId}/attempts/search`]: false,
      '/v1/agl/waits/rollouts': false,
    });
  });
});
