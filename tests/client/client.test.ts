import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AgentStateClient,
  ClosedError,
  createMemoryStore,
  InMemoryRolloutStore,
  NotFoundError,
  RevisionConflictError,
  TimeoutError,
} from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { listenServer } from '../../src/server/listen.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function serve(port = 0, tokens?: Array<{ token: string; scope: 'read' | 'write' | 'admin' }>) {
  const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  const documents = createMemoryStore();
  const app = await createServer({ rollouts, documents, ...(tokens ? { tokens } : {}) });
  const url = await listenServer(app, { host: '127.0.0.1', port });
  cleanups.push(
    () => rollouts.close(),
    () => documents.close(),
    () => app.close(),
  );
  return { app, rollouts, url, port: Number(new URL(url).port) };
}

function client(url: string, options: Partial<ConstructorParameters<typeof AgentStateClient>[0]> = {}) {
  const c = new AgentStateClient({ url, retryDelayMs: 10, ...options });
  cleanups.push(() => c.close());
  return c;
}

describe('AgentStateClient as a RolloutStore', () => {
  it('runs the rollout scenario over HTTP with camelCase results', async () => {
    const { url } = await serve();
    const store = client(url);
    const resources = await store.addResources({
      llm: { resourceType: 'llm', endpoint: 'http://llm', model: 'm', apiKey: 'k' },
    });
    expect(resources.resources.llm).toMatchObject({ resourceType: 'llm', apiKey: 'k' });
    const [queued] = await store.enqueueManyRollouts([
      { input: { q: 'x' }, mode: 'train', config: { maxAttempts: 2, retryCondition: ['failed'] } },
    ]);
    expect(queued).toMatchObject({
      status: 'queuing',
      mode: 'train',
      resourcesId: resources.resourcesId,
      config: { maxAttempts: 2 },
    });
    const taken = (await store.dequeueRollout({ workerId: 'w1' }))!;
    expect(taken.attempt).toMatchObject({ sequenceId: 1, status: 'preparing', workerId: 'w1' });
    const span = await store.addSpan({
      rolloutId: taken.rolloutId,
      attemptId: taken.attempt.attemptId,
      traceId: 't1',
      spanId: 's1',
      name: 'llm',
      attributes: { n: 3 },
    });
    expect(span).toMatchObject({ sequenceId: 1, attributes: { n: 3 } });
    expect(
      await store.addSpan({
        rolloutId: taken.rolloutId,
        attemptId: taken.attempt.attemptId,
        traceId: 't1',
        spanId: 's1',
        name: 'llm',
      }),
    ).toBeNull();
    const batch = await store.addManySpans([
      {
        rolloutId: taken.rolloutId,
        attemptId: taken.attempt.attemptId,
        traceId: 't1',
        spanId: 's2',
        name: 'tool',
      },
      {
        rolloutId: taken.rolloutId,
        attemptId: taken.attempt.attemptId,
        traceId: 't1',
        spanId: 's1',
        name: 'llm',
      },
    ]);
    expect(batch).toMatchObject({ inserted: 1, duplicates: 1 });
    await store.updateAttempt(taken.rolloutId, taken.attempt.attemptId, { status: 'succeeded' });
    const [done] = await store.waitForRollouts({ rolloutIds: [taken.rolloutId], timeoutMs: 1000 });
    expect(done?.status).toBe('succeeded');
    const spans = await store.querySpans(taken.rolloutId, { sortBy: 'sequenceId', sortOrder: 'desc' });
    expect(spans.items.map((s) => s.spanId)).toEqual(['s2', 's1']);
    const stats = await store.statistics();
    expect(stats).toMatchObject({ totalRollouts: 1, totalSpans: 2, queueLength: 0 });
    expect((await store.getWorkerById('w1'))?.workerId).toBe('w1');
    expect(await store.getRolloutById('ro-missing')).toBeNull();
  });

  it('rebuilds server errors as the same AgentStateError classes', async () => {
    const { url } = await serve();
    const store = client(url);
    await expect(store.updateRollout('ro-missing', { status: 'cancelled' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('reads and writes documents with compare-and-set', async () => {
    const { url } = await serve();
    const c = client(url);
    const doc = await c.putDocument('agents', 'a1', { mood: 'ok' });
    expect(doc.revision).toBe(1);
    await expect(
      c.putDocument('agents', 'a1', { mood: 'stale' }, { expectedRevision: 0 }),
    ).rejects.toBeInstanceOf(RevisionConflictError);
    expect((await c.getDocument('agents', 'a1'))?.value).toEqual({ mood: 'ok' });
    expect((await c.listDocuments('agents')).items).toHaveLength(1);
    expect(await c.deleteDocument('agents', 'a1')).toBe(true);
    expect(await c.deleteDocument('agents', 'a1')).toBe(false);
    expect(await c.getDocument('agents', 'a1')).toBeUndefined();
  });

  it('sends its bearer token', async () => {
    const { url } = await serve(0, [{ token: 'client-token-1', scope: 'write' }]);
    await expect(client(url).queryRollouts()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await client(url, { token: 'client-token-1' }).queryRollouts()).total).toBe(0);
  });
});

describe('AgentStateClient resilience', () => {
  it('retries a POST whose response was lost with the same idempotency key: no duplicate', async () => {
    const { url, rollouts } = await serve();
    let dropped = false;
    const keys: string[] = [];
    const flaky: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      if (headers.get('idempotency-key')) keys.push(headers.get('idempotency-key')!);
      const response = await fetch(input, init);
      if (!dropped && String(input).includes('/enqueue')) {
        dropped = true;
        await response.arrayBuffer();
        throw new TypeError('fetch failed: socket hang up');
      }
      return response;
    };
    const c = client(url, { fetch: flaky });
    const [rollout] = await c.enqueueManyRollouts([{ input: 'once' }]);
    expect(rollout?.status).toBe('queuing');
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBe(keys[1]);
    expect((await rollouts.queryRollouts()).total).toBe(1);
  });

  it('retries 5xx answers after checking /health', async () => {
    const { url } = await serve();
    let failures = 1;
    const paths: string[] = [];
    const unstable: typeof fetch = async (input, init) => {
      paths.push(new URL(String(input)).pathname);
      if (failures > 0 && String(input).includes('/statistics')) {
        failures -= 1;
        return new Response(
          JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'busy', details: {} } }),
          { status: 503 },
        );
      }
      return fetch(input, init);
    };
    const stats = await client(url, { fetch: unstable }).statistics();
    expect(stats.totalRollouts).toBe(0);
    expect(paths).toEqual(['/v1/agl/statistics', '/health', '/v1/agl/statistics']);
  });

  it('retries a 429 after the pause its Retry-After asks for, on the same server and without /health', async () => {
    const { url } = await serve();
    const calls: Array<{ path: string; at: number }> = [];
    let refusals = 1;
    const limited: typeof fetch = async (input, init) => {
      calls.push({ path: new URL(String(input)).pathname, at: Date.now() });
      if (refusals > 0 && String(input).includes('/statistics')) {
        refusals -= 1;
        return new Response(
          JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'too many waits', details: {} } }),
          { status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' } },
        );
      }
      return fetch(input, init);
    };
    const stats = await client(url, { fetch: limited }).statistics();
    expect(stats.totalRollouts).toBe(0);
    expect(calls.map((call) => call.path)).toEqual(['/v1/agl/statistics', '/v1/agl/statistics']);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('retries a keyed write answered 409 with Retry-After (its key still running on another server), with the same key', async () => {
    const { url } = await serve();
    const keys: Array<string | null> = [];
    let refusals = 1;
    const busyElsewhere: typeof fetch = async (input, init) => {
      if (String(input).includes('/enqueue')) {
        keys.push(new Headers(init?.headers).get('idempotency-key'));
        if (refusals > 0) {
          refusals -= 1;
          return new Response(
            JSON.stringify({ error: { code: 'ALREADY_EXISTS', message: 'still running', details: {} } }),
            { status: 409, headers: { 'retry-after': '1', 'content-type': 'application/json' } },
          );
        }
      }
      return fetch(input, init);
    };
    const [rollout] = await client(url, { fetch: busyElsewhere }).enqueueManyRollouts([{ input: 'once' }]);
    expect(rollout?.input).toBe('once');
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBeTruthy();
    expect(keys[1]).toBe(keys[0]);
  });

  it('gives a 409 without Retry-After back at once (a real conflict, not a key in flight)', async () => {
    const { url } = await serve();
    let calls = 0;
    const conflict: typeof fetch = async () => {
      calls += 1;
      return new Response(
        JSON.stringify({ error: { code: 'ALREADY_EXISTS', message: 'exists', details: {} } }),
        { status: 409, headers: { 'content-type': 'application/json' } },
      );
    };
    await expect(client(url, { fetch: conflict }).enqueueManyRollouts([{ input: 1 }])).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    });
    expect(calls).toBe(1);
  });

  it('gives a 429 back at once when its Retry-After is longer than maxRetryAfterMs', async () => {
    const { url } = await serve();
    let calls = 0;
    const limited: typeof fetch = async () => {
      calls += 1;
      return new Response(
        JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down', details: {} } }),
        { status: 429, headers: { 'retry-after': '3600', 'content-type': 'application/json' } },
      );
    };
    await expect(client(url, { fetch: limited }).statistics()).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      details: { status: 429 },
    });
    expect(calls).toBe(1);
  });

  it("waits at least a 503's Retry-After (an HTTP date) before retrying", async () => {
    const { url } = await serve();
    const statsCalls: number[] = [];
    const unavailable: typeof fetch = async (input, init) => {
      if (String(input).includes('/statistics')) {
        statsCalls.push(Date.now());
        if (statsCalls.length === 1) {
          const later = new Date(Date.now() + 2000).toUTCString();
          return new Response(
            JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'starting', details: {} } }),
            { status: 503, headers: { 'retry-after': later, 'content-type': 'application/json' } },
          );
        }
      }
      return fetch(input, init);
    };
    await client(url, { fetch: unavailable }).statistics();
    // An HTTP date has whole seconds: at least one second of the two asked for remains.
    expect(statsCalls[1]! - statsCalls[0]!).toBeGreaterThanOrEqual(990);
  });

  it('waits for a restarting server', async () => {
    const first = await serve();
    await first.app.close();
    const c = client(first.url, { retries: 8, retryDelayMs: 50 });
    const pending = c.queryRollouts();
    setTimeout(() => void serve(first.port), 150);
    await expect(pending).resolves.toMatchObject({ total: 0 });
  });

  it('fails with UNAVAILABLE when the server is gone', async () => {
    const { app, url } = await serve();
    await app.close();
    const c = client(url, { retries: 2, retryDelayMs: 5 });
    await expect(c.statistics()).rejects.toMatchObject({ code: 'UNAVAILABLE', details: { url } });
  });

  it('times out a request that gets no answer', async () => {
    const silent = createHttpServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise((resolve) => {
          silent.closeAllConnections();
          silent.close(resolve);
        }),
    );
    const { port } = silent.address() as AddressInfo;
    const c = client(`http://127.0.0.1:${port}`, { timeoutMs: 100, retries: 0 });
    await expect(c.statistics()).rejects.toBeInstanceOf(TimeoutError);
  });

  it('throws ClosedError after close()', async () => {
    const { url } = await serve();
    const c = client(url);
    await c.close();
    await expect(c.queryRollouts()).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('AgentStateClient TTL and sessions', () => {
  it('uses /v1/ttl and /v1/sessions', async () => {
    const { SessionManager, TtlStore } = await import('../../src/index.ts');
    const ttl = new TtlStore();
    const documents = createMemoryStore();
    const sessions = new SessionManager({ store: documents });
    const app = await createServer({ ttl, sessions, documents });
    const url = await listenServer(app, { host: '127.0.0.1', port: 0 });
    cleanups.push(
      () => documents.close(),
      async () => sessions.close(),
      async () => ttl.close(),
      () => app.close(),
    );
    const c = client(url);
    expect(await c.ttl.set('k', { v: 1 }, { ttlMs: 60_000 })).toBe(true);
    expect(await c.ttl.get('k')).toMatchObject({ value: { v: 1 } });
    expect(await c.ttl.increment('n', 5)).toBe(5);
    expect(await c.ttl.keys()).toEqual(expect.arrayContaining(['k', 'n']));
    for (let i = 0; i < 1_200; i += 1) await ttl.set(`many:${i}`, i, { ttlMs: 60_000 });
    // keys() follows the pages (1,000 keys each) to the end; scanKeys() hands out one page.
    expect(await c.ttl.keys('many:')).toHaveLength(1_200);
    const first = await c.ttl.scanKeys({ prefix: 'many:', limit: 500 });
    expect(first.keys).toHaveLength(500);
    expect(first.cursor).toBeDefined();
    const lock = (await c.ttl.acquireLock('job', { ttlMs: 10_000 }))!;
    expect(await c.ttl.acquireLock('job', { ttlMs: 10_000 })).toBeNull();
    expect(await lock.release()).toBe(true);
    expect(await c.ttl.cooldown('mail', 10_000)).toBe(true);
    expect(await c.ttl.cooldown('mail', 10_000)).toBe(false);
    expect(await c.ttl.delete('k')).toBe(true);
    expect(await c.ttl.get('k')).toBeUndefined();

    await c.sessions.create('s1', { participants: ['a'] });
    await c.sessions.addMessage('s1', { role: 'user', content: 'hello' }, 'a');
    await c.sessions.setContext('s1', 'lang', 'en');
    expect(await c.sessions.addParticipant('s1', 'b')).toBe(true);
    expect((await c.sessions.messages('s1')).map((m) => m.content)).toEqual(['hello']);
    expect(await c.sessions.transition('s1', 'end', 'bye')).toMatchObject({
      status: 'ended',
      context: { lang: 'en' },
    });
    expect((await c.sessions.list({ status: 'ended' })).sessions).toHaveLength(1);
    expect(await c.sessions.remove('s1')).toBe(true);
    expect(await c.sessions.get('s1')).toBeUndefined();
  });
});
