import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStore, type DocumentStore, SessionManager, TtlStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { ManualClock } from '../support/clock.ts';

let app: FastifyInstance;
let ttl: TtlStore;
let documents: DocumentStore;
let sessions: SessionManager;
let clock: ManualClock;
beforeEach(async () => {
  clock = new ManualClock();
  ttl = new TtlStore({ now: () => clock.now(), sweepIntervalMs: 0 });
  documents = createMemoryStore();
  sessions = new SessionManager({ store: documents });
  app = await createServer({ ttl, sessions, documents });
});
afterEach(async () => {
  await app.close();
  await ttl.close();
  sessions.close();
  await documents.close();
});

describe('/v1/ttl', () => {
  it('sets, reads, counts and expires values', async () => {
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/ttl/keys/beacon',
      payload: { value: { up: true }, ttlMs: 1000 },
    });
    expect(put.json()).toEqual({ stored: true });
    const read = await app.inject({ method: 'GET', url: '/v1/ttl/keys/beacon' });
    expect(read.json()).toEqual({ key: 'beacon', value: { up: true }, ttlMs: 1000 });
    const absent = await app.inject({
      method: 'PUT',
      url: '/v1/ttl/keys/beacon',
      payload: { value: 2, ifAbsent: true },
    });
    expect(absent.json()).toEqual({ stored: false });
    await app.inject({ method: 'POST', url: '/v1/ttl/keys/hits/increment', payload: { by: 2 } });
    const hits = await app.inject({ method: 'POST', url: '/v1/ttl/keys/hits/increment', payload: {} });
    expect(hits.json()).toEqual({ value: 3 });
    expect((await app.inject({ method: 'GET', url: '/v1/ttl/keys?prefix=b' })).json()).toEqual({
      keys: ['beacon'],
    });
    clock.advance(1001);
    expect((await app.inject({ method: 'GET', url: '/v1/ttl/keys/beacon' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: '/v1/ttl/keys/hits' })).statusCode).toBe(204);
  });

  it('lists keys a page at a time: 1,000 by default, a cursor to the next page, each key once', async () => {
    for (let i = 0; i < 2_500; i += 1) ttl.set(`job:${String(i).padStart(4, '0')}`, i, { ttlMs: 60_000 });
    ttl.set('other', 1, { ttlMs: 60_000 });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const query = new URLSearchParams({ prefix: 'job:', ...(cursor === undefined ? {} : { cursor }) });
      const page = (await app.inject({ method: 'GET', url: `/v1/ttl/keys?${query}` })).json() as {
        keys: string[];
        cursor?: string;
      };
      expect(page.keys.length).toBeLessThanOrEqual(1_000);
      seen.push(...page.keys);
      cursor = page.cursor;
      pages += 1;
    } while (cursor !== undefined);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(2_500);
    expect(seen.every((key) => key.startsWith('job:'))).toBe(true);
    const small = (await app.inject({ method: 'GET', url: '/v1/ttl/keys?limit=2' })).json();
    expect(small).toEqual({ keys: ['job:0000', 'job:0001'], cursor: 'job:0001' });
    const tooMany = await app.inject({ method: 'GET', url: '/v1/ttl/keys?limit=10001' });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error).toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('grants a lock to one holder, releases only with its token', async () => {
    const first = await app.inject({ method: 'POST', url: '/v1/ttl/locks/job-1', payload: { ttlMs: 5000 } });
    expect(first.json()).toMatchObject({ acquired: true, name: 'job-1' });
    const second = await app.inject({ method: 'POST', url: '/v1/ttl/locks/job-1', payload: { ttlMs: 5000 } });
    expect(second.json()).toEqual({ acquired: false, name: 'job-1' });
    const wrong = await app.inject({
      method: 'POST',
      url: '/v1/ttl/locks/job-1/release',
      payload: { token: 'nope' },
    });
    expect(wrong.json()).toEqual({ released: false });
    const token = first.json().token as string;
    const extended = await app.inject({
      method: 'POST',
      url: '/v1/ttl/locks/job-1/extend',
      payload: { token, ttlMs: 9000 },
    });
    expect(extended.json()).toEqual({ extended: true });
    const released = await app.inject({
      method: 'POST',
      url: '/v1/ttl/locks/job-1/release',
      payload: { token },
    });
    expect(released.json()).toEqual({ released: true });
    const third = await app.inject({ method: 'POST', url: '/v1/ttl/locks/job-1', payload: { ttlMs: 5000 } });
    expect(third.json().acquired).toBe(true);
  });

  it('runs cooldowns and validates bodies', async () => {
    expect(
      (await app.inject({ method: 'POST', url: '/v1/ttl/cooldowns/email', payload: { ttlMs: 100 } })).json(),
    ).toEqual({ allowed: true });
    expect(
      (await app.inject({ method: 'POST', url: '/v1/ttl/cooldowns/email', payload: { ttlMs: 100 } })).json(),
    ).toEqual({ allowed: false });
    const bad = await app.inject({ method: 'POST', url: '/v1/ttl/cooldowns/email', payload: { ttlMs: -1 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.field).toBe('body.ttlMs');
  });
});

describe('/v1/sessions', () => {
  it('lists sessions one bounded page at a time in id order, with a cursor, a prefix and filters', async () => {
    for (let i = 0; i < 105; i++) {
      await app.inject({
        method: 'POST',
        url: '/v1/sessions',
        payload: { sessionId: `p-${String(104 - i).padStart(3, '0')}`, participants: i % 2 ? ['bob'] : [] },
      });
    }
    const first = (await app.inject({ method: 'GET', url: '/v1/sessions' })).json();
    expect(first.sessions).toHaveLength(100); // the default page
    expect(first.sessions[0].sessionId).toBe('p-000');
    expect(first.cursor).toBe('p-099');
    expect(first.metrics).toBeDefined();
    const rest = (
      await app.inject({ method: 'GET', url: `/v1/sessions?cursor=${first.cursor}&limit=1000` })
    ).json();
    expect(rest.sessions.map((s: { sessionId: string }) => s.sessionId)).toEqual([
      'p-100',
      'p-101',
      'p-102',
      'p-103',
      'p-104',
    ]);
    expect(rest).not.toHaveProperty('cursor');
    const narrowed = (
      await app.inject({ method: 'GET', url: '/v1/sessions?prefix=p-01&participant=bob&limit=3' })
    ).json();
    expect(narrowed.sessions.map((s: { sessionId: string }) => s.sessionId)).toEqual([
      'p-011',
      'p-013',
      'p-015',
    ]);
    expect(narrowed.cursor).toBe('p-015');
    const tooMany = await app.inject({ method: 'GET', url: '/v1/sessions?limit=1001' });
    expect(tooMany.statusCode).toBe(400);
  });

  it('creates a session, adds messages and context, ends it, and saves every change', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { sessionId: 's1', participants: ['alice'] },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ sessionId: 's1', status: 'active', participants: ['alice'] });
    const message = await app.inject({
      method: 'POST',
      url: '/v1/sessions/s1/messages',
      payload: { message: { role: 'user', content: 'hi' }, senderId: 'alice' },
    });
    expect(message.json()).toMatchObject({ role: 'user', content: 'hi', senderId: 'alice' });
    await app.inject({ method: 'PUT', url: '/v1/sessions/s1/context/topic', payload: { value: 'billing' } });
    await app.inject({
      method: 'POST',
      url: '/v1/sessions/s1/participants',
      payload: { participantId: 'bob' },
    });
    const ended = await app.inject({
      method: 'POST',
      url: '/v1/sessions/s1/end',
      payload: { reason: 'done' },
    });
    expect(ended.json()).toMatchObject({
      status: 'ended',
      statusReason: 'done',
      context: { topic: 'billing' },
    });
    const refused = await app.inject({
      method: 'POST',
      url: '/v1/sessions/s1/messages',
      payload: { message: { content: 'late' } },
    });
    expect(refused.statusCode).toBeGreaterThanOrEqual(400);
    expect(refused.statusCode).toBeLessThan(500);

    // A fresh manager on the same store sees everything that was acknowledged.
    const reloaded = new SessionManager({ store: documents });
    await reloaded.loadAll();
    const session = reloaded.getSession('s1')!;
    expect(session.status).toBe('ended');
    expect(session.participants).toEqual(['alice', 'bob']);
    expect(session.getMessages()).toHaveLength(1);
  });

  it('lists, reads and removes sessions; unknown ids are 404', async () => {
    await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { sessionId: 'a', participants: ['p'] },
    });
    await app.inject({ method: 'POST', url: '/v1/sessions', payload: { sessionId: 'b' } });
    const dup = await app.inject({ method: 'POST', url: '/v1/sessions', payload: { sessionId: 'a' } });
    expect(dup.statusCode).toBe(409);
    const list = await app.inject({ method: 'GET', url: '/v1/sessions?participant=p' });
    expect(list.json().sessions.map((s: { sessionId: string }) => s.sessionId)).toEqual(['a']);
    expect((await app.inject({ method: 'DELETE', url: '/v1/sessions/a' })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/sessions/a' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/v1/sessions/zzz/pause' })).statusCode).toBe(404);
  });
});
