/**
 * `/v1/events`: server-sent change events. Writes through the HTTP API and document changes reach a
 * connected client, filtered by kind; the stream needs a token like any read; a client that cannot keep up
 * is dropped instead of buffered; on PostgreSQL, a change made through one server process reaches a client
 * of another.
 */
import { type AddressInfo, connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createMemoryStore,
  InMemoryRolloutStore,
  RedisTtlStore,
  SessionManager,
  TtlStore,
} from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { EventHub } from '../../src/server/events/hub.ts';
import { PostgresEventRelay } from '../../src/server/events/relay.ts';
import {
  dropSchema,
  POSTGRES_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  uniqueName,
} from '../support/services.ts';

const redisOk = await redisAvailable();

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

type Options = Parameters<typeof createServer>[0];

async function listening(options: Options = {}) {
  const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  const documents = createMemoryStore();
  const app = await createServer({
    rollouts,
    documents,
    sessions: new SessionManager({ store: documents }),
    ...options,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(
    () => documents.close(),
    () => rollouts.close(),
    () => app.close(),
  );
  const { port } = app.server.address() as AddressInfo;
  return { app, base: `http://127.0.0.1:${port}`, documents };
}

/** Reads server-sent events from `url` as a browser's fetch would, collecting `{ event, data }`. */
async function subscribe(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const done = (async () => {
    if (!response.body) return;
    const decoder = new TextDecoder();
    let text = '';
    try {
      for await (const chunk of response.body) {
        text += decoder.decode(chunk as Uint8Array, { stream: true });
        let end = text.indexOf('\n\n');
        while (end >= 0) {
          const frame = text.slice(0, end);
          text = text.slice(end + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
          end = text.indexOf('\n\n');
        }
      }
    } catch {
      // Aborted by the test.
    }
  })();
  cleanups.push(async () => {
    controller.abort();
    await done;
  });
  return { response, events };
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting for events');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('/v1/events', () => {
  it('streams rollout, span, session and document changes, filtered by kind', async () => {
    const { base, documents } = await listening();
    const all = await subscribe(`${base}/v1/events`);
    const spansOnly = await subscribe(`${base}/v1/events?kinds=span,document`);
    expect(all.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');

    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const started = (await (await post('/v1/agl/rollouts', { input: { q: 1 } })).json()) as {
      rollout_id: string;
      attempt: { attempt_id: string };
    };
    await post('/v1/agl/spans', {
      rollout_id: started.rollout_id,
      attempt_id: started.attempt.attempt_id,
      sequence_id: 1,
      trace_id: 't1',
      span_id: 's1',
      name: 'llm',
      status: { status_code: 'OK' },
      attributes: {},
      events: [],
      links: [],
      context: null,
      parent: null,
      resource: { attributes: {}, schema_url: '' },
      start_time: 1,
      end_time: 2,
    });
    await post('/v1/sessions', { sessionId: 'chat-1' });
    await documents.put('notes', 'n1', { text: 'hello' });

    await until(() =>
      ['rollout', 'span', 'session', 'document'].every((k) => all.events.some((e) => e.event === k)),
    );
    const rollout = all.events.find((e) => e.event === 'rollout')!;
    expect(rollout.data).toMatchObject({ kind: 'rollout', action: 'POST /v1/agl/rollouts' });
    expect(all.events.find((e) => e.event === 'session')!.data).toMatchObject({ id: 'chat-1' });
    expect(
      all.events.find((e) => e.event === 'document' && e.data.namespace === 'notes')!.data,
    ).toMatchObject({
      action: 'put',
      id: 'n1',
    });
    await until(() => spansOnly.events.some((e) => e.event === 'document' && e.data.namespace === 'notes'));
    expect(new Set(spansOnly.events.map((e) => e.event))).toEqual(new Set(['span', 'document']));
  });

  it('watches the document store only while a client wants document events', async () => {
    const documents = createMemoryStore();
    cleanups.push(() => documents.close());
    const watch = vi.spyOn(documents, 'watch');
    const { base } = await listening({ documents });
    const rolloutsOnly = await subscribe(`${base}/v1/events?kinds=rollout`);
    expect(rolloutsOnly.response.status).toBe(200);
    expect(watch).not.toHaveBeenCalled();
    const first = await subscribe(`${base}/v1/events?kinds=document`);
    const second = await subscribe(`${base}/v1/events`);
    expect(watch).toHaveBeenCalledTimes(1);
    const subscription = (await watch.mock.results[0]!.value) as { close(): Promise<void> };
    const close = vi.spyOn(subscription, 'close');
    await documents.put('notes', 'n1', 1);
    await until(() => first.events.length > 0 && second.events.length > 0);
    await cleanups.pop()!(); // second
    await cleanups.pop()!(); // first
    await until(() => close.mock.calls.length === 1);
  });

  it('streams TTL sets, deletes and expiries from the store, batched, only while a client wants them', async () => {
    let now = 1_000_000;
    const ttl = new TtlStore({ now: () => now });
    cleanups.push(async () => ttl.close());
    const realOn = ttl.on.bind(ttl);
    const unsubscribed = vi.fn();
    const on = vi.spyOn(ttl, 'on').mockImplementation(((event: 'set', listener: () => void) => {
      const off = realOn(event, listener);
      return () => {
        unsubscribed();
        off();
      };
    }) as never);
    const { base } = await listening({ ttl });
    const rolloutsOnly = await subscribe(`${base}/v1/events?kinds=rollout`);
    expect(rolloutsOnly.response.status).toBe(200);
    expect(on).not.toHaveBeenCalled();
    const client = await subscribe(`${base}/v1/events?kinds=ttl`);
    expect(on).toHaveBeenCalledTimes(3);
    // Through the API and directly on the store: the store's feed announces both, a hot key once a batch.
    const put = await fetch(`${base}/v1/ttl/keys/beacon`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'alive', ttlMs: 50 }),
    });
    expect(put.status).toBeLessThan(300);
    for (let i = 0; i < 1000; i++) ttl.increment('counter');
    ttl.set('gone', 1);
    ttl.delete('gone');
    now += 100;
    ttl.sweep();
    const seen = (action: string, id: string) =>
      client.events.some((e) => e.event === 'ttl' && e.data.action === action && e.data.id === id);
    await until(() => seen('set', 'beacon') && seen('delete', 'gone') && seen('expire', 'beacon'));
    expect(client.events.filter((e) => e.data.id === 'counter').length).toBeLessThanOrEqual(2);
    expect(rolloutsOnly.events).toEqual([]);
    await cleanups.pop()!(); // client
    await until(() => unsubscribed.mock.calls.length === 3);
  });

  it('announces TTL writes through the routes when the store has no change events of its own', async () => {
    const memory = new TtlStore();
    cleanups.push(async () => memory.close());
    // The shape of a store without `on` (as the Redis one): every method but the events.
    const plain = new Proxy(memory, {
      get: (target, property) => {
        if (property === 'on') return undefined;
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { base } = await listening({ ttl: plain });
    const client = await subscribe(`${base}/v1/events?kinds=ttl`);
    await fetch(`${base}/v1/ttl/keys/beacon`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'alive' }),
    });
    await fetch(`${base}/v1/ttl/locks/nightly`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ttlMs: 60_000 }),
    });
    await until(() => client.events.length >= 2);
    expect(client.events.map((e) => e.data)).toMatchObject([
      { kind: 'ttl', action: 'PUT /v1/ttl/keys/:key', id: 'beacon' },
      { kind: 'ttl', action: 'POST /v1/ttl/locks/:name', id: 'nightly' },
    ]);
  });

  it.skipIf(!redisOk)(
    'announces expiries on Redis within 2 s, once to each client of each process',
    async () => {
      const prefix = `${uniqueName('events_ttl')}:`;
      const stores = [0, 1].map(() => new RedisTtlStore({ redis: REDIS_URL, prefix }));
      cleanups.push(async () => {
        const redis = new Redis(REDIS_URL);
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
        await redis.quit();
        await Promise.all(stores.map((store) => store.close()));
      });
      const servers = [await listening({ ttl: stores[0] }), await listening({ ttl: stores[1] })];
      const clients = [
        await subscribe(`${servers[0]!.base}/v1/events?kinds=ttl`),
        await subscribe(`${servers[1]!.base}/v1/events?kinds=ttl`),
      ];
      // Written straight to Redis through one store (no route announces it); the other process sees it too.
      await stores[0]!.set('beacon', 'alive', { ttlMs: 200 });
      await stores[0]!.set('removed', 'x', { ttlMs: 200 });
      await stores[0]!.delete('removed');
      const expiresAt = Date.now() + 200;
      const expired = (client: (typeof clients)[number]) =>
        client.events.filter((e) => e.data.action === 'expire').map((e) => e.data.id);
      await until(() => clients.every((client) => expired(client).length > 0), 4000);
      const lateMs = Date.now() - expiresAt;
      console.log(`events: a Redis expiry reached both processes' clients ${lateMs} ms after it was due`);
      expect(lateMs).toBeLessThan(2000);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      for (const client of clients) expect(expired(client)).toEqual(['beacon']);
    },
  );

  it('refuses an unknown kind and needs a read token when tokens are configured', async () => {
    const { base } = await listening({ tokens: [{ token: 'reader-token-123', scope: 'read' }] });
    const bad = await fetch(`${base}/v1/events?kinds=rollout,nope`, {
      headers: { authorization: 'Bearer reader-token-123' },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('INVALID_INPUT');
    expect((await fetch(`${base}/v1/events`)).status).toBe(401);
    const ok = await subscribe(`${base}/v1/events`, { authorization: 'Bearer reader-token-123' });
    expect(ok.response.status).toBe(200);
  });

  it('drops a client whose unsent bytes pass the limit instead of buffering without bound', () => {
    const hub = new EventHub({ maxBufferedBytes: 100, maxClients: 2 });
    let buffered = 0;
    let dropped = false;
    const slow = {
      kinds: new Set(['rollout' as const]),
      bufferedBytes: () => buffered,
      write: (frame: string) => {
        buffered += frame.length; // nothing is ever read
      },
      drop: () => {
        dropped = true;
      },
    };
    expect(hub.add(slow)).toBe(true);
    for (let i = 0; i < 10 && !dropped; i++) hub.publish({ kind: 'rollout', action: 'test', at: i });
    expect(dropped).toBe(true);
    expect(buffered).toBeLessThan(300);
    expect(hub.size).toBe(0);
    expect(hub.dropped).toBe(1);
  });

  it('closes the server while a stream is open, ending the stream', async () => {
    const { app, base } = await listening();
    const open = await subscribe(`${base}/v1/events`);
    expect(open.response.status).toBe(200);
    const closed = app.close().then(() => 'closed');
    const timeout = new Promise((resolve) => setTimeout(() => resolve('still open after 3 s'), 3000));
    expect(await Promise.race([closed, timeout])).toBe('closed');
  });

  it('refuses a token beyond its share of the streams, while another token still connects', async () => {
    const { base } = await listening({
      tokens: [
        { token: 'reader-token-aaa', scope: 'read', name: 'a' },
        { token: 'reader-token-bbb', scope: 'read', name: 'b' },
      ],
    });
    const a = { authorization: 'Bearer reader-token-aaa' };
    for (let i = 0; i < 16; i++) expect((await subscribe(`${base}/v1/events`, a)).response.status).toBe(200);
    const refused = await fetch(`${base}/v1/events`, { headers: a });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    const b = await subscribe(`${base}/v1/events`, { authorization: 'Bearer reader-token-bbb' });
    expect(b.response.status).toBe(200);
    // A closed stream gives its slot back.
    await cleanups.pop()!(); // b
    await cleanups.pop()!(); // the 16th stream of a
    let again: Response | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      again = await fetch(`${base}/v1/events`, { headers: a });
      if (again.status === 200) cleanups.push(async () => again?.body?.cancel());
    }
    expect(again?.status).toBe(200);
  });

  it('sends the CORS headers of an allowed origin on the stream', async () => {
    const origin = 'http://localhost:5173';
    const { base } = await listening({
      corsOrigins: [origin],
      tokens: [{ token: 'reader-token-123', scope: 'read' }],
    });
    const stream = await subscribe(`${base}/v1/events`, { authorization: 'Bearer reader-token-123', origin });
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('access-control-allow-origin')).toBe(origin);
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  });

  it('sends one NOTIFY flush at a time while the database is slow, then the events gathered meanwhile', async () => {
    const pending: Array<() => void> = [];
    const sent: string[] = [];
    const slowPool = {
      query: (_sql: string, params: string[]) => {
        sent.push(params[1]!);
        return new Promise<void>((resolve) => pending.push(resolve));
      },
    };
    const relay = new PostgresEventRelay({ pool: slowPool as never, schema: 'slow' });
    relay.publish({ kind: 'rollout', action: 'first', at: 1 });
    await until(() => sent.length === 1);
    for (let i = 0; i < 5; i++) {
      relay.publish({ kind: 'rollout', action: `later-${i}`, at: 2 });
      await new Promise((resolve) => setTimeout(resolve, 120)); // more than one flush interval
    }
    expect(sent).toHaveLength(1);
    pending.shift()!();
    await until(() => sent.length === 2);
    expect(JSON.parse(sent[1]!).map((e: { action: string }) => e.action)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `later-${i}`),
    );
    pending.shift()!();
    await relay.close();
  });

  it('drops a real client that stops reading, once its unsent bytes pass the limit', async () => {
    const { app, documents } = await listening();
    const { port } = app.server.address() as AddressInfo;
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      'GET /v1/events?kinds=document HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n',
    );
    let received = 0;
    const first = new Promise((resolve) => socket.once('data', resolve));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    await first;
    socket.pause(); // from here on the client reads nothing: the kernel buffers fill, then the server's
    const ended = new Promise<string>((resolve) => socket.once('close', () => resolve('closed')));
    const id = 'x'.repeat(1000);
    let published = 0;
    // Far more than loopback's kernel buffers and the 256 KiB limit together.
    for (let i = 0; i < 20_000; i++) {
      await documents.put('slow', `${id}${i}`, i);
      published += 1100;
    }
    socket.resume(); // read what was sent before the drop; the stream must end there
    const outcome = await Promise.race([
      ended,
      new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 5000)),
    ]);
    expect(outcome).toBe('closed');
    expect(received).toBeLessThan(published);
    socket.destroy();
  }, 60_000);

  it('refuses a client beyond maxClients with 429 RATE_LIMITED and Retry-After', async () => {
    const { base } = await listening({});
    const streams = [];
    for (let i = 0; i < 64; i++) streams.push(await subscribe(`${base}/v1/events`));
    const refused = await fetch(`${base}/v1/events`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
  });
});

const pgOk = await postgresAvailable();

describe.skipIf(!pgOk)('/v1/events across server processes on PostgreSQL', () => {
  it('delivers a change made through one server to a client of another', async () => {
    const schema = uniqueName('events');
    cleanups.push(() => dropSchema(schema));
    const a = await listening({ events: new PostgresEventRelay({ connectionString: POSTGRES_URL, schema }) });
    const b = await listening({ events: new PostgresEventRelay({ connectionString: POSTGRES_URL, schema }) });
    const onB = await subscribe(`${b.base}/v1/events?kinds=rollout,session`);
    const onA = await subscribe(`${a.base}/v1/events?kinds=rollout,session`);
    await fetch(`${a.base}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId: 'across' }),
    });
    await until(() => onB.events.some((e) => e.data.id === 'across'));
    await until(() => onA.events.some((e) => e.data.id === 'across'));
    // Through NOTIFY, each process hears its own event once, not twice.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(onA.events.filter((e) => e.data.id === 'across')).toHaveLength(1);
  });
});
