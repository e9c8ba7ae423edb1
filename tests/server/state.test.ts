import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStore, type DocumentStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

describe('/v1/state documents', () => {
  let store: DocumentStore;
  let app: FastifyInstance;
  beforeEach(async () => {
    store = createMemoryStore();
    app = await createServer({ documents: store });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
  });

  it('creates, reads with an ETag, updates and deletes a document', async () => {
    const created = await app.inject({
      method: 'PUT',
      url: '/v1/state/agents/a1',
      payload: { value: { n: 1 } },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ namespace: 'agents', id: 'a1', value: { n: 1 }, revision: 1 });
    const read = await app.inject({ method: 'GET', url: '/v1/state/agents/a1' });
    expect(read.statusCode).toBe(200);
    expect(read.headers.etag).toBe('"1"');
    const updated = await app.inject({
      method: 'PUT',
      url: '/v1/state/agents/a1',
      headers: { 'if-match': read.headers.etag as string },
      payload: { value: { n: 2 } },
    });
    expect(updated.statusCode).toBe(200);
    expect(updated.json().revision).toBe(2);
    const deleted = await app.inject({ method: 'DELETE', url: '/v1/state/agents/a1' });
    expect(deleted.statusCode).toBe(204);
    const gone = await app.inject({ method: 'GET', url: '/v1/state/agents/a1' });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error).toMatchObject({
      code: 'NOT_FOUND',
      details: { namespace: 'agents', id: 'a1' },
    });
  });

  it('answers 409 REVISION_CONFLICT on a stale If-Match or expectedRevision and keeps the stored value', async () => {
    await app.inject({ method: 'PUT', url: '/v1/state/agents/a1', payload: { value: 'first' } });
    await app.inject({ method: 'PUT', url: '/v1/state/agents/a1', payload: { value: 'second' } });
    const viaHeader = await app.inject({
      method: 'PUT',
      url: '/v1/state/agents/a1',
      headers: { 'if-match': '"1"' },
      payload: { value: 'stale' },
    });
    expect(viaHeader.statusCode).toBe(409);
    expect(viaHeader.json().error.code).toBe('REVISION_CONFLICT');
    const viaBody = await app.inject({
      method: 'PUT',
      url: '/v1/state/agents/a1',
      payload: { value: 'stale', expectedRevision: 1 },
    });
    expect(viaBody.statusCode).toBe(409);
    const createOnly = await app.inject({
      method: 'PUT',
      url: '/v1/state/agents/a1',
      headers: { 'if-none-match': '*' },
      payload: { value: 'stale' },
    });
    expect(createOnly.statusCode).toBe(409);
    expect((await store.get('agents', 'a1'))?.value).toBe('second');
    const staleDelete = await app.inject({ method: 'DELETE', url: '/v1/state/agents/a1?expectedRevision=1' });
    expect(staleDelete.statusCode).toBe(409);
  });

  it('lists by prefix with a limit and a cursor', async () => {
    for (const id of ['a1', 'a2', 'a3', 'b1']) await store.put('ns', id, id);
    const first = await app.inject({ method: 'GET', url: '/v1/state/ns?prefix=a&limit=2' });
    expect(first.json().items.map((d: { id: string }) => d.id)).toEqual(['a1', 'a2']);
    const cursor = first.json().cursor as string;
    const second = await app.inject({
      method: 'GET',
      url: `/v1/state/ns?prefix=a&limit=2&cursor=${encodeURIComponent(cursor)}`,
    });
    expect(second.json().items.map((d: { id: string }) => d.id)).toEqual(['a3']);
    expect(second.json().cursor).toBeUndefined();
  });

  it('rejects bad bodies and queries with 400, the error code and the field', async () => {
    const noValue = await app.inject({
      method: 'PUT',
      url: '/v1/state/agents/a1',
      payload: { metadata: {} },
    });
    expect(noValue.statusCode).toBe(400);
    expect(noValue.json().error).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'body.value' } });
    const badLimit = await app.inject({ method: 'GET', url: '/v1/state/ns?limit=0' });
    expect(badLimit.statusCode).toBe(400);
    expect(badLimit.json().error.details.field).toBe('querystring.limit');
    const badJson = await app.inject({
      method: 'PUT',
      url: '/v1/state/agents/a1',
      headers: { 'content-type': 'application/json' },
      payload: '{"value":',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error.code).toBe('INVALID_INPUT');
    const proto = await app.inject({
      method: 'PUT',
      url: '/v1/state/agents/a1',
      headers: { 'content-type': 'application/json' },
      payload: '{"value":{"__proto__":{"polluted":true}}}',
    });
    // Stored as a plain key, as the library stores it; no prototype is touched.
    expect(proto.statusCode).toBe(201);
    expect(Object.hasOwn(proto.json().value, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a stored BigInt with 422 NOT_REPRESENTABLE naming the path and the tagged-form route', async () => {
    await store.put('nums', 'n/1', { counts: [1, 2n ** 70n] });
    await store.put('nums', 'n2', { plain: 1 });
    const one = await app.inject({ method: 'GET', url: '/v1/state/nums/n%2F1' });
    expect(one.statusCode).toBe(422);
    expect(one.json().error).toMatchObject({
      code: 'NOT_REPRESENTABLE',
      details: { path: 'value.counts[1]', typedRoute: '/v1/dashboard/documents/nums/n%2F1' },
    });
    const typed = await app.inject({ method: 'GET', url: one.json().error.details.typedRoute });
    expect(typed.statusCode).toBe(200);
    expect(typed.json().value.counts[1]).toEqual({ $t: 'bigint', v: (2n ** 70n).toString() });
    const list = await app.inject({ method: 'GET', url: '/v1/state/nums' });
    expect(list.statusCode).toBe(422);
    expect(list.json().error.details).toMatchObject({ id: 'n/1', path: 'value.counts[1]' });
    expect((await app.inject({ method: 'GET', url: '/v1/state/nums/n2' })).statusCode).toBe(200);
  });

  it('refuses Maps, Sets, bytes, RegExps, Errors and NaN that plain JSON would change, and answers Dates as ISO text', async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ seen: new Map([['a', 1]]) }, 'value.seen', 'a Map'],
      [{ tags: new Set(['x']) }, 'value.tags', 'a Set'],
      [{ blob: new Uint8Array([1, 2]) }, 'value.blob', 'bytes'],
      [{ rules: [/a+/] }, 'value.rules[0]', 'a RegExp'],
      [{ last: new Error('boom') }, 'value.last', 'an Error'],
      [{ score: Number.NaN }, 'value.score', 'the number NaN'],
    ];
    for (const [index, [value, path, kind]] of cases.entries()) {
      await store.put('typed', `t${index}`, value);
      const answer = await app.inject({ method: 'GET', url: `/v1/state/typed/t${index}` });
      expect(answer.statusCode).toBe(422);
      expect(answer.json().error).toMatchObject({ code: 'NOT_REPRESENTABLE', details: { path } });
      expect(answer.json().error.message).toContain(kind);
      // The tagged form carries it whole.
      expect(
        (await app.inject({ method: 'GET', url: answer.json().error.details.typedRoute })).statusCode,
      ).toBe(200);
    }
    await store.put('dated', 'd', { at: new Date('2026-01-02T03:04:05.000Z') });
    const dated = await app.inject({ method: 'GET', url: '/v1/state/dated/d' });
    expect(dated.statusCode).toBe(200);
    expect(dated.json().value).toEqual({ at: '2026-01-02T03:04:05.000Z' });
  });

  it('answers unknown routes with a NOT_FOUND error body', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/nothing' });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('NOT_FOUND');
  });
});
