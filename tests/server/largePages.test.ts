// limit=-1 keeps its meaning "all": a large page is streamed as JSON text, item for item the same answer
// as a small page, with every item and the right total; a small one is one JSON value with the same total.
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryRolloutStore, type RolloutStore, SqliteRolloutStore } from '../../src/index.ts';
import { STREAM_PAGE_ITEMS } from '../../src/server/agl/pageStream.ts';
import { createServer } from '../../src/server/createServer.ts';
import { tempDir } from '../rollouts/backends.ts';

const COUNT = 5000;

describe('large pages over HTTP', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function withStore(kind: 'memory' | 'sqlite'): Promise<RolloutStore> {
    if (kind === 'memory') {
      const store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
      cleanups.push(() => store.close());
      return store;
    }
    const temp = tempDir('agentstate-pages-');
    cleanups.push(() => temp.remove());
    const store = new SqliteRolloutStore({ path: `${temp.dir}/r.sqlite`, healthCheckIntervalMs: 0 });
    cleanups.push(() => store.close());
    return store;
  }

  for (const kind of ['memory', 'sqlite'] as const) {
    it(`${kind}: GET /v1/agl/rollouts?limit=-1 streams every rollout`, { timeout: 60_000 }, async () => {
      const store = await withStore(kind);
      const app = await createServer({ rollouts: store });
      cleanups.push(() => app.close());
      for (let done = 0; done < COUNT; done += 1000) {
        await store.enqueueManyRollouts(
          Array.from({ length: 1000 }, (_, i) => ({ input: { n: done + i, text: 'é"\\' } })),
        );
      }
      const all = await app.inject({ method: 'GET', url: '/v1/agl/rollouts?limit=-1' });
      expect(all.statusCode).toBe(200);
      expect(all.headers['content-type']).toMatch(/^application\/json/);
      const page = all.json();
      expect(page).toMatchObject({ limit: -1, offset: 0, total: COUNT });
      expect(page.items).toHaveLength(COUNT);
      expect(page.items.map((r: { input: { n: number } }) => r.input.n)).toEqual(
        Array.from({ length: COUNT }, (_, i) => i),
      );
      // Item for item what a small page answers.
      const small = await app.inject({
        method: 'GET',
        url: `/v1/agl/rollouts?limit=${STREAM_PAGE_ITEMS}&offset=${COUNT - STREAM_PAGE_ITEMS}`,
      });
      expect(page.items.slice(COUNT - STREAM_PAGE_ITEMS)).toEqual(small.json().items);
      const searched = await app.inject({
        method: 'POST',
        url: '/v1/agl/rollouts/search',
        payload: { limit: -1, status_in: ['queuing'] },
      });
      expect(searched.json().items).toHaveLength(COUNT);
      expect(searched.json().total).toBe(COUNT);
    });
  }

  for (const kind of ['memory', 'sqlite'] as const) {
    it(`${kind}: every listing answers limit=-1 and large limits with the items and total of the store's query`, async () => {
      const store = await withStore(kind);
      const app = await createServer({ rollouts: store });
      cleanups.push(() => app.close());
      const started = await store.startRollout({ input: 1, workerId: 'w-1' });
      await store.startAttempt(started.rolloutId);
      await store.addManySpans(
        Array.from({ length: 5 }, (_, i) => ({
          rolloutId: started.rolloutId,
          attemptId: started.attempt.attemptId,
          traceId: 't',
          spanId: `s-${i}`,
          name: `n-${i % 2}`,
        })),
      );
      await store.updateWorker('w-2');
      await store.addResources({});
      const id = started.rolloutId;
      const listings: Array<
        [
          string,
          (paging: { limit?: number; offset?: number }) => Promise<{ items: unknown[]; total: number }>,
        ]
      > = [
        [`/v1/agl/spans?rollout_id=${id}`, (p) => store.querySpans(id, p)],
        [`/v1/agl/spans?rollout_id=${id}&name=n-1`, (p) => store.querySpans(id, { ...p, name: 'n-1' })],
        [`/v1/agl/rollouts/${id}/attempts?x=1`, (p) => store.queryAttempts(id, p)],
        ['/v1/agl/workers?x=1', (p) => store.queryWorkers(p)],
        ['/v1/agl/resources?x=1', (p) => store.queryResources(p)],
        ['/v1/agl/rollouts?x=1', (p) => store.queryRollouts(p)],
      ];
      for (const [url, query] of listings) {
        for (const paging of [
          {},
          { limit: -1 },
          { limit: -1, offset: 1 },
          { limit: -1, offset: 9 },
          { limit: 1500, offset: 2 },
        ]) {
          const params = Object.entries(paging)
            .map(([k, v]) => `&${k}=${v}`)
            .join('');
          const answer = await app.inject({ method: 'GET', url: `${url}${params}` });
          expect(answer.statusCode).toBe(200);
          const expected = await query(paging);
          const got = answer.json();
          expect({ url, paging, total: got.total, count: got.items.length }).toEqual({
            url,
            paging,
            total: expected.total,
            count: expected.items.length,
          });
        }
      }
    });
  }
});
