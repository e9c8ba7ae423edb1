// limit=-1 keeps its meaning "all": a large page is streamed as JSON text, item for item the same answer
// as a small page, with every item and the right total.
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
});
