/**
 * `npm run bench drivers`: put/get throughput and p99 latency of every DocumentStore driver for 1 KB and
 * 100 KB documents, one operation at a time (the latency an agent sees on each state write).
 *
 * Peers, measured in the same run on the same disk:
 * - fs driver (durable)      vs raw `writeFile` + fsync + `rename` + fsync of the directory, `readFile` + JSON.parse
 * - fs driver (durable:false) vs raw `writeFile` + `rename`, `readFile` + JSON.parse
 * - sqlite driver            vs raw better-sqlite3 `INSERT OR REPLACE` / `SELECT` with the same pragmas
 * `ratio vs peer` is driver ops/s divided by peer ops/s (1 = as fast as the hand-written peer). The driver also
 * checks revisions (compare-and-set), keeps timestamps and runs the value codec; the peers do none of it.
 * PostgreSQL runs when a server answers at AGENTSTATE_BENCH_POSTGRES (default the test server).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createFsStore, createMemoryStore, createSqliteStore, type DocumentStore } from '../src/index.ts';
import { reachable } from '../tests/support/services.ts';
import { type BenchRow, percentile, report, round } from './_report.ts';

const POSTGRES_URL = process.env.AGENTSTATE_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const SIZES = [1024, 100 * 1024];
// Each measurement stops at whichever comes first, keeping the whole benchmark near a minute.
const BUDGET_MS = 1200;
const MAX_OPS = 20_000;
const WARMUP_OPS = 20;
// Puts cycle over this many ids: the first pass creates documents, later passes overwrite them.
const KEYS = 500;

interface Measured {
  ops: number;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
}

function summarize(latencies: number[]): Measured {
  const total = latencies.reduce((a, b) => a + b, 0);
  return {
    ops: latencies.length,
    // Operations run one at a time, so throughput is the inverse of the mean latency.
    opsPerSec: (latencies.length / total) * 1000,
    p50Us: percentile(latencies, 50) * 1000,
    p99Us: percentile(latencies, 99) * 1000,
  };
}

/**
 * Times `ops` (a driver and its peer) interleaved, one operation of each in turn, so that both see the
 * same machine noise (other processes, disk flushes) instead of one of them getting a quiet moment.
 */
async function measure(ops: Array<(i: number) => unknown>): Promise<Measured[]> {
  for (let i = 0; i < WARMUP_OPS; i++) for (const op of ops) await op(i);
  const latencies = ops.map((): number[] => []);
  const start = performance.now();
  for (let i = 0; i < MAX_OPS && performance.now() - start < BUDGET_MS * ops.length; i++) {
    for (let k = 0; k < ops.length; k++) {
      const t0 = performance.now();
      await ops[k]!(i);
      latencies[k]!.push(performance.now() - t0);
    }
  }
  return latencies.map(summarize);
}

/** Something with put and get of one JSON-like value by id: a driver or a hand-written peer. */
interface Target {
  name: string;
  setup(): Promise<{
    put(id: string, value: unknown): unknown;
    get(id: string): unknown;
    close(): Promise<void>;
  }>;
}

function storeTarget(name: string, make: (dir: string) => DocumentStore): Target {
  return {
    name,
    async setup() {
      const dir = await mkdtemp(join(benchRoot, `${name.replace(/\W+/g, '-')}-`));
      const store = make(dir);
      return {
        put: (id, value) => store.put('bench', id, value),
        get: (id) => store.get('bench', id),
        close: async () => {
          await store.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

function rawFsTarget(name: string, durable: boolean): Target {
  return {
    name,
    async setup() {
      const dir = await mkdtemp(join(benchRoot, 'raw-fs-'));
      return {
        async put(id, value) {
          const path = join(dir, `${id}.json`);
          const temp = `${path}.tmp`;
          if (!durable) {
            await writeFile(temp, JSON.stringify(value));
          } else {
            const handle = await open(temp, 'w');
            await handle.writeFile(JSON.stringify(value));
            await handle.sync();
            await handle.close();
          }
          await rename(temp, path);
          if (durable) {
            const d = await open(dir, 'r');
            await d.sync();
            await d.close();
          }
        },
        get: async (id) => JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')),
        close: () => rm(dir, { recursive: true, force: true }),
      };
    },
  };
}

const rawSqliteTarget: Target = {
  name: 'peer: raw better-sqlite3',
  async setup() {
    const dir = await mkdtemp(join(benchRoot, 'raw-sqlite-'));
    const db = new Database(join(dir, 'raw.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    const put = db.prepare<[string, string]>('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
    const get = db.prepare<[string], { v: string }>('SELECT v FROM kv WHERE k = ?');
    return {
      put: (id, value) => put.run(id, JSON.stringify(value)),
      get: (id) => {
        const row = get.get(id);
        return row && JSON.parse(row.v);
      },
      async close() {
        db.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

// PostgreSQL is one more entry of the list, present only when its driver and a server are there.
async function postgresTarget(): Promise<Target | undefined> {
  const drivers = (await import('../src/index.ts')) as Record<string, unknown>;
  const create = drivers.createPostgresStore as
    | ((options: { connectionString: string; schema: string }) => DocumentStore)
    | undefined;
  if (!create || !(await reachable(POSTGRES_URL, 5432))) return undefined;
  return {
    name: 'postgres',
    async setup() {
      const schema = `bench_${process.pid}_${randomBytes(3).toString('hex')}`;
      const store = create({ connectionString: POSTGRES_URL, schema });
      return {
        put: (id, value) => store.put('bench', id, value),
        get: (id) => store.get('bench', id),
        async close() {
          await store.close();
          const client = new pg.Client({ connectionString: POSTGRES_URL });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await client.end();
        },
      };
    },
  };
}

// On the project's own disk, not a tmpfs: fsync costs are part of what is measured.
const benchRoot = join(process.cwd(), '.agentstate', 'bench');

export default async function run(): Promise<void> {
  await mkdir(benchRoot, { recursive: true });
  const FS_DURABLE_PEER = 'peer: raw writeFile+fsync+rename+fsync dir';
  const FS_PLAIN_PEER = 'peer: raw writeFile+rename';
  // Each group is a driver and the hand-written peer it is compared with, measured interleaved.
  const groups: Target[][] = [
    [storeTarget('memory', () => createMemoryStore())],
    [storeTarget('fs', (dir) => createFsStore({ dir })), rawFsTarget(FS_DURABLE_PEER, true)],
    [
      storeTarget('fs (durable: false)', (dir) => createFsStore({ dir, durable: false })),
      rawFsTarget(FS_PLAIN_PEER, false),
    ],
    [storeTarget('sqlite', (dir) => createSqliteStore({ path: join(dir, 'state.db') })), rawSqliteTarget],
  ];
  const postgres = await postgresTarget();
  if (postgres) groups.push([postgres]);
  else console.log(`postgres skipped: no createPostgresStore or no server at ${POSTGRES_URL}`);

  const rows: BenchRow[] = [];
  for (const size of SIZES) {
    // Random base64 text: a realistic, incompressible payload of about `size` bytes as JSON.
    const text = randomBytes(Math.floor((size * 3) / 4) - 48).toString('base64');
    const value = (i: number) => ({ kind: 'agent-state', step: i, text });
    for (const group of groups) {
      const opened = await Promise.all(group.map((t) => t.setup()));
      try {
        const puts = await measure(opened.map((t) => (i: number) => t.put(`doc-${i % KEYS}`, value(i))));
        // Reads only ids the put phase wrote (slow, durable targets write fewer than KEYS in the budget).
        const written = Math.min(KEYS, Math.max(puts[0]!.ops, WARMUP_OPS));
        const gets = await measure(opened.map((t) => (i: number) => t.get(`doc-${(i * 7919) % written}`)));
        for (const [op, measured] of [
          ['put', puts],
          ['get', gets],
        ] as const) {
          group.forEach((target, k) => {
            const m = measured[k]!;
            const peer = k === 0 && group.length > 1 ? measured[1] : undefined;
            rows.push({
              driver: target.name,
              size: size >= 100 * 1024 ? '100 KB' : '1 KB',
              op,
              'ops/s': round(m.opsPerSec),
              'p50 µs': round(m.p50Us),
              'p99 µs': round(m.p99Us),
              ops: m.ops,
              'ratio vs peer': peer ? round(m.opsPerSec / peer.opsPerSec, 2) : '',
            });
          });
        }
      } finally {
        await Promise.all(opened.map((t) => t.close()));
      }
    }
  }
  await rm(benchRoot, { recursive: true, force: true });
  await report('drivers', rows, {
    method: `one operation at a time, driver and peer interleaved op by op; about ${BUDGET_MS} ms or ${MAX_OPS} ops per target and cell after ${WARMUP_OPS} warm-up ops; puts cycle over ${KEYS} ids`,
    disk: 'the project directory (not a tmpfs), so fsync is real',
    ratio: 'driver ops/s divided by the named peer ops/s, same size and operation, same run',
  });
}
