/**
 * The Threads page's history routes: a thread's stored revisions newest first a page at a time, one
 * revision's record and state (past states rebuilt from the values later saves replaced), the keys changed
 * between two revisions with their values at both, and the bounds (page size, span of a diff, retention,
 * revisions whose values are no longer kept).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { codec, createMemoryStore, type JsonValue, ThreadStateRepository } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const BASE = '/v1/dashboard/threads/agentstate.threads/t1';

async function threadServer(saves: Array<Record<string, unknown>>, keepRevisions = 1000) {
  const documents = createMemoryStore();
  const app = await createServer({ documents });
  cleanups.push(
    () => app.close(),
    () => documents.close(),
  );
  const threads = new ThreadStateRepository(documents, { keepRevisions });
  let documentRevision = 0;
  for (const [i, extensions] of saves.entries()) {
    const saved = await threads.save(
      't1',
      { revision: i + 1, extensions: extensions as Record<string, JsonValue> },
      { expectedRevision: documentRevision },
    );
    documentRevision = saved.documentRevision;
  }
  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() };
  };
  return { app, get, documentRevision, threads };
}

describe('thread history routes', () => {
  it('lists stored revisions newest first, paged, with the keys each save wrote', async () => {
    const { get } = await threadServer([
      { mood: 'calm', turns: 1 },
      { mood: 'calm', turns: 2 },
      { mood: 'busy', turns: 2 },
      { mood: 'busy', turns: 3, note: 'x' },
      { mood: 'busy', turns: 4 },
    ]);
    const first = await get(`${BASE}/revisions?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.head).toBe(5);
    expect(first.body.revisions).toMatchObject([
      { documentRevision: 5, revision: 5 },
      { documentRevision: 4, revision: 4 },
    ]);
    // Save 5 rewrote turns and removed note; save 4 rewrote turns and added note.
    expect(first.body.revisions[0].changed.sort()).toEqual(['note', 'turns']);
    expect(first.body.revisions[1].changed.sort()).toEqual(['note', 'turns']);
    expect(typeof first.body.revisions[0].savedAt).toBe('number');
    const second = await get(`${BASE}/revisions?limit=2&before=${first.body.cursor}`);
    expect(second.body.revisions.map((r: { documentRevision: number }) => r.documentRevision)).toEqual([
      3, 2,
    ]);
    const last = await get(`${BASE}/revisions?limit=2&before=${second.body.cursor}`);
    expect(last.body.revisions.map((r: { documentRevision: number }) => r.documentRevision)).toEqual([1]);
    expect(last.body).not.toHaveProperty('cursor');
    expect((await get(`${BASE}/revisions?limit=101`)).status).toBe(400);
    expect((await get('/v1/dashboard/threads/agentstate.threads/nope/revisions')).status).toBe(404);
  });

  it('answers a revision with its record and its state, current or past', async () => {
    // Values as a StateStore exports them: in the codec's tagged form.
    const { get } = await threadServer([
      { at: codec.encode(new Date('2026-01-02T00:00:00Z')) },
      { at: codec.encode(new Date(0)), n: 1 },
    ]);
    const current = await get(`${BASE}/revisions/2`);
    expect(current.body).toMatchObject({ documentRevision: 2, current: true, retained: true });
    expect(current.body.value.extensions).toMatchObject({ at: { $t: 'Date' }, n: 1 });
    const past = await get(`${BASE}/revisions/1`);
    expect(past.body).toMatchObject({ documentRevision: 1, current: false, retained: true });
    expect(past.body.value).toEqual({
      revision: 1,
      extensions: { at: { $t: 'Date', v: '2026-01-02T00:00:00.000Z' } },
    });
    expect(past.body.changed).toEqual(['at']);
    expect((await get(`${BASE}/revisions/3`)).status).toBe(404);
  });

  it('names the keys changed between two revisions and the saves that changed them', async () => {
    const { get } = await threadServer([
      { a: 1, b: 1 },
      { a: 2, b: 1 },
      { a: 2, b: 2 },
      { a: 3, b: 2, c: 1 },
    ]);
    const diff = await get(`${BASE}/diff?from=1&to=4`);
    expect(diff.status).toBe(200);
    expect(diff.body).toMatchObject({
      from: 1,
      to: 4,
      complete: true,
      keys: [
        { key: 'a', rewrittenIn: [2, 4], appendedIn: [] },
        { key: 'b', rewrittenIn: [3], appendedIn: [] },
        { key: 'c', rewrittenIn: [4], appendedIn: [] },
      ],
      // Old -> new; `c` did not exist at save 1.
      before: { revision: 1, retained: true, values: { a: 1, b: 1 } },
      after: { revision: 4, retained: true, values: { a: 3, b: 2, c: 1 } },
    });
    // Two past revisions: both sides rebuilt.
    const older = await get(`${BASE}/diff?from=3&to=2`);
    expect(older.body).toMatchObject({
      from: 2,
      to: 3,
      keys: [{ key: 'b', rewrittenIn: [3] }],
      before: { retained: true, values: { b: 1 } },
      after: { retained: true, values: { b: 2 } },
    });
    expect((await get(`${BASE}/diff?from=1&to=600`)).status).toBe(400);
    expect((await get(`${BASE}/diff?from=1&to=5`)).status).toBe(404);
  });

  it('stops at the revisions retention removed, and says a diff across them is incomplete', async () => {
    const saves = Array.from({ length: 40 }, (_, i) => ({ n: i }));
    const { get } = await threadServer(saves, 5);
    const page = await get(`${BASE}/revisions?limit=100`);
    const listed = page.body.revisions.map((r: { documentRevision: number }) => r.documentRevision);
    expect(listed[0]).toBe(40);
    // Retention runs every 16th save: at least the newest 5 are kept, at most 15 more.
    expect(listed.length).toBeGreaterThanOrEqual(5);
    expect(listed.length).toBeLessThanOrEqual(20);
    expect(page.body).not.toHaveProperty('cursor');
    const across = (await get(`${BASE}/diff?from=1&to=40`)).body;
    expect(across.complete).toBe(false);
    // The values of save 1 are gone with its record: said so, with the oldest save still shown; never a
    // wrong "before".
    const oldest = listed.at(-1);
    expect(across.before).toMatchObject({
      revision: 1,
      retained: false,
      code: 'REVISION_NOT_RETAINED',
      oldestRetained: oldest,
    });
    expect(across.before).not.toHaveProperty('values');
    expect(across.after).toEqual({ revision: 40, retained: true, values: { n: 39 } });
    const gone = (await get(`${BASE}/revisions/${oldest - 1}`)).status;
    expect(gone).toBe(404);
    const kept = (await get(`${BASE}/diff?from=${oldest}&to=${oldest + 1}`)).body;
    expect(kept.before).toEqual({ revision: oldest, retained: true, values: { n: oldest - 1 } });
  });

  it('says a revision from before a compaction is not retained', async () => {
    const { get, threads } = await threadServer([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect((await threads.compact('t1'))?.documentRevision).toBe(4);
    const past = await get(`${BASE}/revisions/2`);
    expect(past.body).toMatchObject({
      documentRevision: 2,
      retained: false,
      value: null,
      notRetained: { code: 'REVISION_NOT_RETAINED', oldestRetained: 4 },
    });
  });

  it('are documented in /openapi.json', async () => {
    const { app } = await threadServer([{ a: 1 }]);
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, unknown>;
    };
    for (const path of [
      '/v1/dashboard/threads/{namespace}/{id}/revisions',
      '/v1/dashboard/threads/{namespace}/{id}/revisions/{revision}',
      '/v1/dashboard/threads/{namespace}/{id}/diff',
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
  });
});
