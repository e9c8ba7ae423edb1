// Values nested deeper than MAX_DEPTH (512) are refused on write with INVALID_INPUT naming the path, on
// every route that stores one and in the codec itself; nothing deep is stored, so every read still works.
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_DEPTH } from '../../src/codec/depth.ts';
import {
  codec,
  createMemoryStore,
  type DocumentStore,
  InMemoryRolloutStore,
  SessionManager,
  TtlStore,
} from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

/** An array nested `depth` levels deep, e.g. 2 -> [[1]]. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** The JSON text of `nested(depth)`, built as text (stringify itself would overflow). */
function nestedText(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

let app: FastifyInstance;
let ttl: TtlStore;
let documents: DocumentStore;
let sessions: SessionManager;
let rollouts: InMemoryRolloutStore;
beforeEach(async () => {
  ttl = new TtlStore({ sweepIntervalMs: 0 });
  documents = createMemoryStore();
  sessions = new SessionManager({ store: documents });
  rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  app = await createServer({ ttl, sessions, documents, rollouts });
});
afterEach(async () => {
  await app.close();
  await ttl.close();
  sessions.close();
  await documents.close();
  await rollouts.close();
});

const send = (method: 'PUT' | 'POST', url: string, text: string) =>
  app.inject({ method, url, headers: { 'content-type': 'application/json' }, payload: text });

describe('depth limit', () => {
  it('PUT /v1/ttl/keys/k with a 100,000-deep value is refused and nothing is stored', async () => {
    const answer = await send('PUT', '/v1/ttl/keys/k', `{"value":${nestedText(100_000)}}`);
    expect(answer.statusCode).toBe(400);
    const { error } = answer.json();
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.details.maxDepth).toBe(MAX_DEPTH);
    expect(error.details.path).toMatch(/^body\.value\[0\]\[0\]/);
    expect((await app.inject({ method: 'GET', url: '/v1/ttl/keys/k' })).statusCode).toBe(404);
    // The deepest body allowed is stored and read back.
    const ok = await send('PUT', '/v1/ttl/keys/k', `{"value":${nestedText(MAX_DEPTH - 1)}}`);
    expect(ok.statusCode).toBe(200);
    const read = await app.inject({ method: 'GET', url: '/v1/ttl/keys/k' });
    expect(read.statusCode).toBe(200);
    expect(read.json().value).toEqual(nested(MAX_DEPTH - 1));
  });

  it('a 2,000-deep body is a coded 4xx on state, sessions, context values and heartbeat_stats', async () => {
    await app.inject({ method: 'POST', url: '/v1/sessions', payload: { sessionId: 's1' } });
    const deep = nestedText(2000);
    const answers = [
      await send('PUT', '/v1/state/agents/a1', `{"value":${deep}}`),
      await send('POST', '/v1/sessions', `{"sessionId":"s2","metadata":{"x":${deep}}}`),
      await send('PUT', '/v1/sessions/s1/context/topic', `{"value":${deep}}`),
      await send('POST', '/v1/agl/workers/w1', `{"heartbeat_stats":{"x":${deep}}}`),
      await send('POST', '/v1/agl/queues/rollouts/enqueue', `{"rollouts":[{"input":${deep}}]}`),
    ];
    for (const answer of answers) {
      expect(answer.statusCode, answer.body).toBeGreaterThanOrEqual(400);
      expect(answer.statusCode, answer.body).toBeLessThan(500);
      expect(answer.json().error.code).toBe('INVALID_INPUT');
      expect(answer.json().error.details.path).toMatch(/^body\./);
    }
    expect((await app.inject({ method: 'GET', url: '/v1/state/agents/a1' })).statusCode).toBe(404);
    expect((await rollouts.queryRollouts()).total).toBe(0);
    expect(await rollouts.getWorkerById('w1')).toBeNull();
  });

  it('the codec refuses values deeper than MAX_DEPTH, naming the path, and never overflows', () => {
    expect(codec.decode(codec.encode(nested(MAX_DEPTH)))).toEqual(nested(MAX_DEPTH));
    expect(() => codec.encode({ a: nested(MAX_DEPTH) })).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        details: expect.objectContaining({ path: expect.stringMatching(/^\$\.a\[0\]/) }),
      }),
    );
    expect(() => codec.encode(nested(100_000))).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    const map = new Map([['k', nested(MAX_DEPTH)]]);
    expect(() => codec.encode(map)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('library writes refuse deep values too: documents, rollouts, heartbeat stats', async () => {
    await expect(documents.put('agents', 'a1', { deep: nested(100_000) })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(rollouts.enqueueRollout({ input: nested(100_000) })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(rollouts.updateWorker('w1', { heartbeatStats: { x: nested(2000) } })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { path: expect.stringMatching(/^heartbeatStats\.x\[0\]/) },
    });
    expect(await documents.get('agents', 'a1')).toBeUndefined();
  });
});
