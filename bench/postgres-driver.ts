/**
 * PostgreSQL DocumentStore put/get against the peer it is built on: hand-written `pg` queries on a
 * plain table (INSERT ... ON CONFLICT DO UPDATE with JSON.stringify, SELECT by key), measured in the
 * same run on the same server. The ratio is the price of the driver's guarantees: codec, revisions and
 * TTL filtering. The "put (watched)" rows write to a schema some store watches, so each write NOTIFYs:
 * they compare against an upsert that also notifies, and include the driver waiting for its own change
 * event before a put resolves.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPostgresStore } from '../src/drivers/postgres.ts';
import type { DocumentStore } from '../src/drivers/types.ts';
import { percentile, report, round } from './_report.ts';

const URL = process.env.AGENTSTATE_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const CONCURRENCY = 8;

function payload(bytes: number): Record<string, unknown> {
  // Several fields and a long string: roughly what an agent's state document looks like.
  const text = randomBytes(Math.ceil(bytes / 2))
    .toString('hex')
    .slice(0, bytes - 60);
  return { kind: 'agent', step: 1, tags: ['a', 'b'], text };
}

interface Measured {
  opsPerSec: number;
  p99Ms: number;
}

interface Tally {
  latencies: number[];
  ms: number;
  ops: number;
}

/** Runs `op(i)` `count` times with `concurrency` in flight, adding to `tally`. */
async function run(tally: Tally, count: number, concurrency: number, op: (i: number) => Promise<unknown>) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await op(i);
        tally.latencies.push(performance.now() - t);
      }
    }),
  );
  tally.ms += performance.now() - started;
  tally.ops += count;
}

/**
 * Measures both sides in alternating rounds, so that load from other processes on the machine falls on
 * the driver and its peer alike instead of on whichever happened to run during it.
 */
async function compare(
  count: number,
  concurrency: number,
  ours: (i: number) => Promise<unknown>,
  peer: (i: number) => Promise<unknown>,
): Promise<[Measured, Measured]> {
  const rounds = 5;
  const a: Tally = { latencies: [], ms: 0, ops: 0 };
  const b: Tally = { latencies: [], ms: 0, ops: 0 };
  for (let r = 0; r < rounds; r++) {
    await run(a, Math.ceil(count / rounds), concurrency, ours);
    await run(b, Math.ceil(count / rounds), concurrency, peer);
  }
  const result = (t: Tally): Measured => ({
    opsPerSec: t.ops / (t.ms / 1000),
    p99Ms: percentile(t.latencies, 99),
  });
  return [result(a), result(b)];
}

export default async function bench(): Promise<void> {
  const schema = `as_bench_${process.pid}`;
  const peerSchema = `as_bench_peer_${process.pid}`;
  const pool = new pg.Pool({ connectionString: URL, max: CONCURRENCY + 2 });
  await pool.query(`CREATE SCHEMA ${peerSchema}`);
  await pool.query(
    `CREATE TABLE ${peerSchema}.docs (namespace TEXT, id TEXT, value TEXT NOT NULL, PRIMARY KEY (namespace, id))`,
  );
  const store: DocumentStore = createPostgresStore({ pool, schema });
  // Its own schema: a watcher makes every writer of its schema notify.
  const watched: DocumentStore = createPostgresStore({ pool, schema: `${schema}_w` });
  await watched.watch('bench', () => {});
  const peerPut = (id: string, value: unknown) =>
    pool.query(
      `INSERT INTO ${peerSchema}.docs (namespace, id, value) VALUES ('bench', $1, $2)
       ON CONFLICT (namespace, id) DO UPDATE SET value = EXCLUDED.value`,
      [id, JSON.stringify(value)],
    );
  // What a hand-written change feed does: notify from the same statement, delivered on commit.
  const peerPutNotify = (id: string, value: unknown) =>
    pool.query(
      `WITH w AS (INSERT INTO ${peerSchema}.docs (namespace, id, value) VALUES ('bench', $1, $2)
         ON CONFLICT (namespace, id) DO UPDATE SET value = EXCLUDED.value RETURNING id)
       SELECT pg_notify('${peerSchema}', w.id) FROM w`,
      [id, JSON.stringify(value)],
    );
  const peerGet = async (id: string) => {
    const { rows } = await pool.query<{ value: string }>(
      `SELECT value FROM ${peerSchema}.docs WHERE namespace = 'bench' AND id = $1`,
      [id],
    );
    return rows[0] && JSON.parse(rows[0].value);
  };
  const rows: Record<string, string | number>[] = [];
  try {
    await store.get('bench', 'warm-up');
    for (const [label, bytes, count] of [
      ['1 KB', 1024, 2000],
      ['100 KB', 100 * 1024, 300],
    ] as const) {
      const value = payload(bytes);
      const keys = 200;
      for (const concurrency of [1, CONCURRENCY]) {
        const cases: Array<[string, (i: number) => Promise<unknown>, (i: number) => Promise<unknown>]> = [
          ['put', (i) => store.put('bench', `k${i % keys}`, value), (i) => peerPut(`k${i % keys}`, value)],
          ['get', (i) => store.get('bench', `k${i % keys}`), (i) => peerGet(`k${i % keys}`)],
          [
            'put (watched)',
            (i) => watched.put('bench', `w${i % keys}`, value),
            (i) => peerPutNotify(`w${i % keys}`, value),
          ],
        ];
        for (const [operation, ours, peer] of cases) {
          const [driver, raw] = await compare(count, concurrency, ours, peer);
          rows.push({
            size: label,
            operation,
            concurrency,
            'agentstate ops/s': round(driver.opsPerSec),
            'agentstate p99 ms': round(driver.p99Ms, 2),
            'raw pg ops/s': round(raw.opsPerSec),
            'raw pg p99 ms': round(raw.p99Ms, 2),
            'ops/s ratio': round(driver.opsPerSec / raw.opsPerSec, 2),
          });
        }
      }
    }
  } finally {
    await store.close();
    await watched.close();
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.query(`DROP SCHEMA IF EXISTS ${schema}_w CASCADE`);
    await pool.query(`DROP SCHEMA IF EXISTS ${peerSchema} CASCADE`);
    await pool.end();
  }
  const peer =
    'hand-written pg queries on a plain table: upsert / select of JSON.stringify text; for "put (watched)" the upsert also calls pg_notify in the same statement';
  console.log(`peer: ${peer}; measured in the same run, alternating rounds`);
  await report('postgres-driver', rows, {
    peer,
    server: URL.replace(/:[^:@/]*@/, ':***@'),
    concurrency: [1, CONCURRENCY],
  });
}
