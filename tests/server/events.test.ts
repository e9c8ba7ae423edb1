/**
 * `/v1/events`: server-sent change events. Writes through the HTTP API and document changes reach a
 * connected client, filtered by kind; the stream needs a token like any read; a client that cannot keep up
 * is dropped instead of buffered; on PostgreSQL, a change made through one server process reaches a client
 * of another.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore, InMemoryRolloutStore, SessionManager } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { EventHub } from '../../src/server/events/hub.ts';
import { PostgresEventRelay } from '../../src/server/events/relay.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

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

  it('refuses a client beyond maxClients with 503 UNAVAILABLE', async () => {
    const { base } = await listening({});
    const streams = [];
    for (let i = 0; i < 64; i++) streams.push(await subscribe(`${base}/v1/events`));
    const refused = await fetch(`${base}/v1/events`);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
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
