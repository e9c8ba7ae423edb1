/**
 * What the dashboard's new pages rely on: the read routes behind the charts, the typed document viewer
 * and the TTL page (documented in /openapi.json), uPlot served from its package, and the pure helpers of
 * the page (event-stream parsing, histogram quantiles, countdowns, the tagged-value viewer).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  codec,
  createMemoryStore,
  InMemoryRolloutStore,
  type JsonValue,
  SessionManager,
  ThreadStateRepository,
  TtlStore,
} from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { rewardOf, rolloutsPerMinute } from '../../src/server/routes/dashboardData.ts';
import { changeKindOf } from '../../src/server/routes/events.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server() {
  const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  const documents = createMemoryStore();
  const ttl = new TtlStore();
  const app = await createServer({
    rollouts,
    documents,
    ttl,
    sessions: new SessionManager({ store: documents }),
    tokens: [
      { token: 'reader-token-123', scope: 'read', name: 'viewer' },
      { token: 'writer-token-123', scope: 'write', name: 'trainer' },
    ],
  });
  cleanups.push(
    () => app.close(),
    () => rollouts.close(),
    () => documents.close(),
    async () => ttl.close(),
  );
  const get = async (url: string) => {
    const res = await app.inject({
      method: 'GET',
      url,
      headers: { authorization: 'Bearer reader-token-123' },
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  return { app, rollouts, documents, ttl, get };
}

describe('dashboard read routes', () => {
  it("answers a thread's state in the codec's tagged form, so a Map or a Date keeps its value", async () => {
    const { documents, get } = await server();
    // As a StateStore exports them: each value in the codec's tagged form, answered as is (not twice).
    const extensions = codec.encode({
      seen: new Map([['a', 1]]),
      at: new Date('2026-01-02T03:04:05Z'),
      plain: { x: 1 },
    }) as Record<string, JsonValue>;
    await new ThreadStateRepository(documents).save(
      't-typed',
      { revision: 3, extensions },
      { expectedRevision: 0 },
    );
    const thread = await get('/v1/dashboard/threads/agentstate.threads/t-typed');
    expect(thread.status, JSON.stringify(thread.body)).toBe(200);
    expect(thread.body.value).toMatchObject({
      revision: 3,
      extensions: { seen: { $t: 'Map', v: [['a', 1]] }, at: { $t: 'Date' }, plain: { x: 1 } },
    });
    expect((await get(`/v1/dashboard/threads/agentstate.threads/${'x'.repeat(5000)}`)).status).toBe(400);
  });

  it('chart series: rollouts per minute by status, rewards from reward spans, store figures', async () => {
    const { rollouts, get } = await server();
    for (const [i, attributes] of [{ 'agentlightning.reward': 0.5 }, { other: 1 }].entries() as Iterable<
      [number, Record<string, number>]
    >) {
      const started = await rollouts.startRollout({ input: i });
      await rollouts.addSpan({
        rolloutId: started.rolloutId,
        attemptId: started.attempt.attemptId,
        traceId: 't',
        spanId: `s${i}`,
        name: 'annotation',
        attributes,
      });
      await rollouts.updateRollout(started.rolloutId, { status: 'succeeded' });
    }
    await rollouts.enqueueRollout({ input: 'queued' });

    const perMinute = await get('/v1/dashboard/rollouts-per-minute');
    expect(perMinute.status).toBe(200);
    expect(perMinute.body).toMatchObject({ sampled: 3, truncated: false });
    const counts = (perMinute.body.minutes as Array<{ counts: Record<string, number> }>).reduce(
      (all, m) => {
        for (const [k, v] of Object.entries(m.counts)) all[k] = (all[k] ?? 0) + v;
        return all;
      },
      {} as Record<string, number>,
    );
    expect(counts).toEqual({ succeeded: 2, queuing: 1 });

    const rewards = await get('/v1/dashboard/rewards');
    expect(rewards.body.points).toEqual([expect.objectContaining({ reward: 0.5 })]);

    const figures = await get('/v1/dashboard/figures');
    expect(figures.body).toMatchObject({ queueDepth: 1, totalRollouts: 3, totalSpans: 2 });
    const latency = figures.body.storeLatency as { bounds: number[]; cumulative: number[]; count: number };
    expect(latency.bounds.length).toBe(latency.cumulative.length);
    expect(latency.count).toBeGreaterThan(0);
  });

  it('documents in tagged form, listed by prefix, so Map, Set, Date and BigInt keep their types', async () => {
    const { documents, get } = await server();
    await documents.put('config', 'typed', {
      m: new Map([['a', 1]]),
      s: new Set([1]),
      d: new Date(0),
      n: 5n,
    });
    await documents.put('config', 'other', { plain: true });
    const one = await get('/v1/dashboard/documents/config/typed');
    expect(one.body.value).toEqual({
      m: { $t: 'Map', v: [['a', 1]] },
      s: { $t: 'Set', v: [1] },
      d: { $t: 'Date', v: '1970-01-01T00:00:00.000Z' },
      n: { $t: 'bigint', v: '5' },
    });
    const listed = await get('/v1/dashboard/documents/config?prefix=ty');
    expect((listed.body.items as Array<{ id: string }>).map((d) => d.id)).toEqual(['typed']);
    expect((await get('/v1/dashboard/documents/config/missing')).status).toBe(404);
  });

  it('TTL entries with remaining time, and held locks with their owner but never their token', async () => {
    const { app, ttl, get } = await server();
    await ttl.set('cooldown:a', 1, { ttlMs: 60_000 });
    await ttl.set('other', 2);
    const lock = await app.inject({
      method: 'POST',
      url: '/v1/ttl/locks/nightly',
      headers: { authorization: 'Bearer writer-token-123' },
      payload: { ttlMs: 30_000 },
    });
    const token = (lock.json() as { token: string }).token;
    const entries = await get('/v1/dashboard/ttl-entries?prefix=cooldown');
    expect(entries.body).toEqual({ entries: [{ key: 'cooldown:a', value: 1, ttlMs: expect.any(Number) }] });
    const ttlMs = (entries.body.entries as Array<{ ttlMs: number }>)[0]!.ttlMs;
    expect(ttlMs).toBeGreaterThan(50_000);
    const locks = await get('/v1/ttl/locks');
    expect(locks.body).toMatchObject({ total: 1, locks: [{ name: 'nightly', owner: 'trainer' }] });
    expect(JSON.stringify(locks.body)).not.toContain(token);
  });

  it('pages TTL entries with a cursor instead of reading every key', async () => {
    const { ttl, get } = await server();
    for (let i = 0; i < 30; i++) await ttl.set(`k:${String(i).padStart(2, '0')}`, i);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await get(
        `/v1/dashboard/ttl-entries?prefix=k:&limit=12${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      const entries = page.body.entries as Array<{ key: string }>;
      expect(entries.length).toBeLessThanOrEqual(12);
      seen.push(...entries.map((e) => e.key));
      cursor = page.body.cursor as string | undefined;
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => `k:${String(i).padStart(2, '0')}`));
    expect((await get('/v1/dashboard/ttl-entries?limit=501')).status).toBe(400);
  });

  it('lists the namespaces holding documents a page at a time, for the namespace picker', async () => {
    const { documents, get } = await server();
    for (const namespace of ['notes', 'agents', 'config']) await documents.put(namespace, 'x', 1);
    const first = await get('/v1/dashboard/namespaces?limit=2');
    expect(first.body.namespaces).toEqual(['agents', 'config']);
    const next = await get(`/v1/dashboard/namespaces?limit=2&cursor=${String(first.body.cursor)}`);
    expect(next.body).toEqual({ namespaces: ['notes'] });
    expect((await get('/v1/dashboard/namespaces?limit=1001')).status).toBe(400);
    expect((await get('/v1/dashboard/namespaces?cursor=forged')).status).toBe(400);
  });

  it('are documented in /openapi.json and need a token', async () => {
    const { app } = await server();
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, unknown>;
    };
    for (const path of [
      '/v1/events',
      '/v1/dashboard/figures',
      '/v1/dashboard/rollouts-per-minute',
      '/v1/dashboard/rewards',
      '/v1/dashboard/documents/{namespace}',
      '/v1/dashboard/documents/{namespace}/{id}',
      '/v1/dashboard/ttl-entries',
      '/v1/dashboard/namespaces',
      '/v1/ttl/locks',
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
      const url = path.replace('{namespace}', 'n').replace('{id}', 'i');
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(401);
    }
  });

  it('serves uPlot from its package for the charts', async () => {
    const { app } = await server();
    const js = await app.inject({ method: 'GET', url: '/dashboard/uplot.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toContain('uPlot');
    const css = await app.inject({ method: 'GET', url: '/dashboard/uplot.css' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
  });
});

describe('dashboard server helpers', () => {
  it('finds a reward in agentlightning.reward, or in reward/value of a span named reward', () => {
    expect(rewardOf({ name: 'x', attributes: { 'agentlightning.reward': 0.25 } })).toBe(0.25);
    expect(rewardOf({ name: 'reward', attributes: { reward: '1.5' } })).toBe(1.5);
    expect(rewardOf({ name: 'reward', attributes: { value: -1 } })).toBe(-1);
    expect(rewardOf({ name: 'llm', attributes: { reward: 3 } })).toBeUndefined();
    expect(rewardOf({ name: 'reward', attributes: { reward: 'n/a' } })).toBeUndefined();
  });

  it('buckets rollouts by start minute and status', () => {
    expect(
      rolloutsPerMinute([
        { startTime: 125, status: 'failed' },
        { startTime: 61, status: 'succeeded' },
        { startTime: 119, status: 'succeeded' },
      ]),
    ).toEqual([
      { minute: 60, counts: { succeeded: 2 } },
      { minute: 120, counts: { failed: 1 } },
    ]);
  });

  it('names the kind of change of each write route', () => {
    expect(changeKindOf('POST', '/v1/agl/queues/rollouts/enqueue')).toBe('rollout');
    expect(changeKindOf('POST', '/v1/agl/rollouts/:rollout_id/attempts/:attempt_id')).toBe('attempt');
    expect(changeKindOf('POST', '/v1/agl/spans')).toBe('span');
    expect(changeKindOf('POST', '/v1/traces')).toBe('span');
    expect(changeKindOf('POST', '/v1/agl/workers/:worker_id')).toBe('worker');
    expect(changeKindOf('POST', '/v1/sessions/:sessionId/messages')).toBe('session');
    expect(changeKindOf('PUT', '/v1/ttl/keys/:key')).toBe('ttl');
    expect(changeKindOf('POST', '/v1/ttl/locks/:name/release')).toBe('ttl');
    expect(changeKindOf('POST', '/v1/agl/rollouts/search')).toBeUndefined();
    expect(changeKindOf('POST', '/v1/agl/waits/rollouts')).toBeUndefined();
    expect(changeKindOf('GET', '/v1/agl/rollouts')).toBeUndefined();
  });
});

/** The page helpers' signatures (plain JavaScript served to browsers, loaded here by URL). */
interface FormatModule {
  parseEventFrames(text: string): { events: unknown[]; rest: string };
  nextRetryMs(previousMs: number, wentLive: boolean, minMs: number, maxMs: number): number;
  histogramQuantile(bounds: number[], cumulative: number[], q: number): number | undefined;
  formatRemaining(ms: unknown): string;
  describeTagged(value: unknown): { type: string; text?: string; children?: Array<[string, unknown]> };
}
const format = (await import(
  new URL('../../src/server/dashboard/assets/format.js', import.meta.url).href
)) as FormatModule;

describe('dashboard page helpers', () => {
  it('parses server-sent events across chunk boundaries, skipping comments', () => {
    const first = format.parseEventFrames(
      'retry: 1000\n: connected\n\nevent: span\ndata: {"kind":"span"}\n\nevent: ro',
    );
    expect(first.events).toEqual([{ kind: 'span' }]);
    const second = format.parseEventFrames(`${first.rest}llout\r\ndata: {"kind":"rollout"}\r\n\r\n`);
    expect(second).toEqual({ events: [{ kind: 'rollout' }], rest: '' });
  });

  it('backs the live stream reconnects off, and starts over after a connection that went live', () => {
    const waits: number[] = [];
    let wait = 250;
    for (const wentLive of [false, false, false, false, false, false, true, false]) {
      wait = format.nextRetryMs(wait, wentLive, 500, 10_000);
      waits.push(wait);
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 500, 1000]);
  });

  it('takes quantiles of a cumulative histogram by interpolating inside the bucket', () => {
    const bounds = [0.001, 0.01, 0.1];
    expect(format.histogramQuantile(bounds, [0, 0, 0], 0.5)).toBeUndefined();
    expect(format.histogramQuantile(bounds, [10, 10, 10], 0.5)).toBeCloseTo(0.0005);
    expect(format.histogramQuantile(bounds, [0, 100, 100], 0.99)).toBeCloseTo(0.00991);
    expect(format.histogramQuantile(bounds, [50, 90, 100], 0.99)).toBeCloseTo(0.091);
  });

  it('counts down remaining time', () => {
    expect(format.formatRemaining(undefined)).toBe('-');
    expect(format.formatRemaining(0)).toBe('expired');
    expect(format.formatRemaining(41_100)).toBe('42 s');
    expect(format.formatRemaining(185_000)).toBe('3m 05s');
    expect(format.formatRemaining(7_800_000)).toBe('2h 10m');
  });

  it('names the codec type of every tagged value', () => {
    expect(format.describeTagged({ $t: 'Map', v: [['a', 1]] })).toEqual({
      type: 'Map(1)',
      children: [
        ['key 0', 'a'],
        ['value 0', 1],
      ],
    });
    expect(format.describeTagged({ $t: 'bigint', v: '5' })).toEqual({ type: 'bigint', text: '5n' });
    expect(format.describeTagged({ $t: 'Date', v: null }).text).toBe('Invalid Date');
    expect(format.describeTagged({ $t: 'obj', v: { $t: 'x' } }).type).toBe('object(1)');
    expect(format.describeTagged({ $t: 'class', n: 'Point', v: { x: 1 } }).type).toBe('class Point');
    expect(format.describeTagged('<b>').text).toBe('"<b>"');
    expect(format.describeTagged([1, 2]).type).toBe('array(2)');
  });
});
