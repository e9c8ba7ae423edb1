// GET /v1/agl/rollouts?limit=-1 ("all") with 30,000 rollouts, and GET /v1/agl/spans?limit=-1 with 30,000
// spans of one rollout: every item exactly once and in order, no database statement returning more than one
// page (1,000 rows), and the server's live heap during the read far below the size of the answer (pages are
// read from the database as the socket takes the text).
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresRolloutStore, type RolloutStore, SqliteRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { tempDir } from '../rollouts/backends.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const COUNT = 30_000;
const withPostgres = await postgresAvailable();
const PAGE_ROWS = 1000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The live heap: what is still referenced after a full collection. */
function liveHeap(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** Largest row count any statement returned, recorded by `track`. */
const largest = { rows: 0 };

// Every better-sqlite3 statement's `all` (the only way the rollout repository reads many rows) counted.
function trackSqlite(): () => void {
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as { all: (...a: unknown[]) => unknown[] };
  probe.close();
  const all = proto.all;
  proto.all = function (this: unknown, ...args: unknown[]) {
    const rows = all.apply(this, args);
    largest.rows = Math.max(largest.rows, rows.length);
    return rows;
  };
  return () => {
    proto.all = all;
  };
}

// Reads the whole answer over a real socket; chunks are Buffers (outside the JS heap), and the live heap
// is sampled every `sampleEvery` chunks while the answer arrives.
async function readAll(url: string, sampleEvery: number): Promise<{ body: Buffer; peak: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let peak = 0;
    let n = 0;
    request(url, (res) => {
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (++n % sampleEvery === 0) peak = Math.max(peak, liveHeap());
      });
      res.on('end', () => resolve({ body: Buffer.concat(chunks), peak }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

describe('reads of all rollouts and spans are paged through the database and streamed', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  // Serves `store`, reads `path` over a socket and checks the answer is `ids` (by `idKey`) with `total`,
  // read in pages no larger than PAGE_ROWS, with the live heap growing by a fraction of the answer.
  async function expectStreamed(
    store: RolloutStore,
    path: string,
    idKey: string,
    ids: string[],
  ): Promise<void> {
    const app = await createServer({ rollouts: store });
    cleanups.push(() => app.close());
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;

    largest.rows = 0;
    const before = liveHeap();
    const { body, peak } = await readAll(`http://127.0.0.1:${port}${path}`, 40);
    const growth = peak - before;
    console.log(
      `${path}, ${ids.length} items: answer ${(body.length / 2 ** 20).toFixed(1)} MiB, live heap growth during the read ${(growth / 2 ** 20).toFixed(1)} MiB, largest statement result ${largest.rows} rows`,
    );
    const page = JSON.parse(body.toString('utf8')) as {
      items: Array<Record<string, unknown>>;
      total: number;
    };
    expect(page.total).toBe(ids.length);
    expect(page.items.map((item) => item[idKey])).toEqual(ids);
    expect(largest.rows).toBeGreaterThan(0);
    expect(largest.rows).toBeLessThanOrEqual(PAGE_ROWS);
    // Reading everything at once held every item (several times the answer's text in objects).
    expect(growth).toBeLessThan(body.length / 4);
  }

  async function check(store: RolloutStore): Promise<void> {
    const ids: string[] = [];
    for (let done = 0; done < COUNT; done += 3000) {
      const batch = Array.from({ length: 3000 }, (_, i) => ({
        input: { n: done + i, prompt: 'x'.repeat(600) },
      }));
      for (const rollout of await store.enqueueManyRollouts(batch)) ids.push(rollout.rolloutId);
    }
    await expectStreamed(store, '/v1/agl/rollouts?limit=-1', 'rollout_id', ids);

    // Spans of one rollout, in sequence order.
    const rollout = (await store.dequeueRollout())!;
    const spanIds: string[] = [];
    for (let done = 0; done < COUNT; done += 3000) {
      const batch = Array.from({ length: 3000 }, (_, i) => ({
        rolloutId: rollout.rolloutId,
        attemptId: rollout.attempt.attemptId,
        traceId: 't',
        spanId: `s-${done + i}`,
        name: 'llm',
        attributes: { prompt: 'x'.repeat(600) },
      }));
      await store.addManySpans(batch);
      spanIds.push(...batch.map((span) => span.spanId));
    }
    await expectStreamed(store, `/v1/agl/spans?rollout_id=${rollout.rolloutId}&limit=-1`, 'span_id', spanIds);
  }

  it('sqlite', { timeout: 120_000 }, async () => {
    const temp = tempDir('agentstate-streamed-');
    cleanups.push(() => temp.remove());
    const store = new SqliteRolloutStore({ path: `${temp.dir}/r.sqlite`, healthCheckIntervalMs: 0 });
    cleanups.push(() => store.close());
    cleanups.push(trackSqlite());
    await check(store);
  });

  it.skipIf(!withPostgres)('postgres', { timeout: 180_000 }, async () => {
    const schema = uniqueName('streamed_reads');
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
    // Reads run through pool.query (writes run in transactions on checked-out clients, not counted here).
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<{ rows: unknown[] }>;
    (pool as unknown as { query: (...args: unknown[]) => unknown }).query = async (...args: unknown[]) => {
      const result = await query(...args);
      largest.rows = Math.max(largest.rows, result.rows.length);
      return result;
    };
    cleanups.push(async () => {
      await pool.end();
      await dropSchema(schema);
    });
    const store = new PostgresRolloutStore({ pool, schema, healthCheckIntervalMs: 0 });
    cleanups.push(() => store.close());
    await check(store);
  });
});
