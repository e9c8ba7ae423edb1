// Unknown fields: agentstate's own routes refuse them with 400 naming the field (a dropped
// `expected_revision` would turn a compare-and-set into a blind write); the Agent Lightning routes ignore
// them, as their reference does.
import { describe, expect, it } from 'vitest';
import { closestName } from '../../src/server/suggest.ts';
import { useMemoryServer } from '../support/memoryServer.ts';

describe('unknown fields', () => {
  const server = useMemoryServer();
  const { documents, ttl, sessions } = server;

  it('refuses a mistyped expectedRevision instead of overwriting blindly, suggesting the right name', async () => {
    await server.app.inject({ method: 'PUT', url: '/v1/state/agents/a1', payload: { value: { v: 1 } } });
    await server.app.inject({ method: 'PUT', url: '/v1/state/agents/a1', payload: { value: { v: 2 } } });
    const res = await server.app.inject({
      method: 'PUT',
      url: '/v1/state/agents/a1',
      payload: { value: { v: 3 }, expected_revision: 7 },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({
      code: 'INVALID_INPUT',
      message: 'unknown field body.expected_revision; did you mean expectedRevision?',
      details: { field: 'body.expected_revision', suggestion: 'expectedRevision' },
    });
    expect((await documents.get('agents', 'a1'))?.value).toEqual({ v: 2 });
  });

  it('refuses ttl_ms instead of storing a key that never expires', async () => {
    const doc = await server.app.inject({
      method: 'PUT',
      url: '/v1/state/agents/t1',
      payload: { value: 1, ttl_ms: 5000 },
    });
    expect(doc.statusCode).toBe(400);
    expect(doc.json().error.details.suggestion).toBe('ttlMs');
    expect(await documents.get('agents', 't1')).toBeUndefined();
    const key = await server.app.inject({
      method: 'PUT',
      url: '/v1/ttl/keys/k',
      payload: { value: 1, ttl_ms: 5 },
    });
    expect(key.statusCode).toBe(400);
    expect(key.json().error.details).toMatchObject({ field: 'body.ttl_ms', suggestion: 'ttlMs' });
    expect(await ttl.has('k')).toBe(false);
  });

  it('names the field and lists the known ones when nothing is close, on every own route family', async () => {
    const cases: Array<[string, string, object, string]> = [
      ['POST', '/v1/sessions', { sessionId: 's1', participant: ['u'] }, 'participants'],
      ['POST', '/v1/ttl/locks/l', { ttlMs: 100, wait_ms: 5 }, 'waitMs'],
      ['POST', '/v1/agl/x/prune', { older_than_ms: 0, olderThanMs: 0 }, 'older_than_ms'],
      ['POST', '/v1/agl/x/spans/batch', { spans: [], span: [] }, 'spans'],
    ];
    for (const [method, url, payload, suggestion] of cases) {
      const res = await server.app.inject({ method: method as 'POST', url, payload });
      // The /v1/agl/x extensions are agentstate's own routes: 400 and no FastAPI `detail`, like the rest.
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error.code).toBe('INVALID_INPUT');
      expect(res.json(), url).not.toHaveProperty('detail');
      expect(res.json().error.details.suggestion, url).toBe(suggestion);
    }
    const far = await server.app.inject({
      method: 'PUT',
      url: '/v1/state/ns/x',
      payload: { value: 1, colour: 'red' },
    });
    expect(far.json().error.message).toBe(
      'unknown field body.colour; known fields: value, expectedRevision, ttlMs, metadata',
    );
    expect(far.json().error.details).not.toHaveProperty('suggestion');
    const query = await server.app.inject({ method: 'DELETE', url: '/v1/state/ns/x?expected_revision=1' });
    expect(query.json().error.details).toMatchObject({
      field: 'querystring.expected_revision',
      suggestion: 'expectedRevision',
    });
    expect(manager()).toEqual([]);
  });

  it('answers unmatched /v1/agl/x paths in agentstate shape and reference paths in the reference shape', async () => {
    const own = await server.app.inject({ method: 'GET', url: '/v1/agl/x/nothing-here' });
    expect(own.statusCode).toBe(404);
    expect(own.json()).not.toHaveProperty('detail');
    const reference = await server.app.inject({ method: 'GET', url: '/v1/agl/nothing-here' });
    expect(reference.statusCode).toBe(404);
    expect(reference.json().detail).toBe('Not Found');
  });

  it('ignores unknown fields on the Agent Lightning routes, as the reference does', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/v1/agl/rollouts',
      payload: { input: { q: 1 }, field_from_a_newer_client: true },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).not.toHaveProperty('field_from_a_newer_client');
  });

  it('suggests names that differ by case, separators or a typo only', () => {
    const known = ['value', 'expectedRevision', 'ttlMs', 'metadata'];
    expect(closestName('expected_revision', known)).toBe('expectedRevision');
    expect(closestName('expectedRevison', known)).toBe('expectedRevision');
    expect(closestName('TTL-MS', known)).toBe('ttlMs');
    expect(closestName('metdata', known)).toBe('metadata');
    expect(closestName('colour', known)).toBeUndefined();
    expect(closestName('x', [])).toBeUndefined();
  });

  const manager = () => sessions.listSessions().map((s) => s.sessionId);
});
