/**
 * `npm run bench persistence`: the persistence layer against its peers, measured in the same run.
 * - Router overhead: get/put through a PersistenceRouter vs the same driver called directly.
 * - Cache hit path: CachedStore.get of cached entries vs a bare, synchronous lru-cache get of the same
 *   entries (the goal's peer); lru-cache behind an async function is printed for reference.
 * - Cached PostgreSQL get vs a bare PostgreSQL driver get (skipped when PostgreSQL is not reachable).
 * - Compression: a 100 KB JSON-like agent state on SQLite with none, gzip and brotli: bytes stored and
 *   put/get time.
 * Passes are interleaved and each headline ratio is the median of the per-pass ratios, because load on
 * a shared machine moves a single pass by tens of percent.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import {
  createCachedStore,
  createMemoryStore,
  createPostgresStore,
  createSqliteStore,
  type DocumentStore,
  PersistenceRouter,
} from '../src/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../tests/support/services.ts';
import { type BenchRow, percentile, report, round } from './_report.ts';

const PASSES = 7;
const PHASE_MS = 200;
const KEYS = 1000;
const ids = Array.from({ length: KEYS }, (_, i) => `agent-${i}`);
const small = { status: 'idle', messages: 3, owner: 'planner' };

const SLICES = 20;

/**
 * Runs `a` and `b` in alternating slices (SLICES of each within about 2 x PHASE_MS) and returns the
 * ops/s of each. Alternating finely means load that comes and goes on a shared machine hits both alike.
 */
async function pair(
  a: (i: number) => Promise<unknown>,
  b: (i: number) => Promise<unknown>,
): Promise<[number, number]> {
  const ops = [0, 0];
  const ms = [0, 0];
  const sliceMs = PHASE_MS / SLICES;
  let i = 0;
  for (let slice = 0; slice < SLICES * 2; slice++) {
    const which = slice % 2;
    const op = which ? b : a;
    const started = performance.now();
    const deadline = started + sliceMs;
    let n = 0;
    while (performance.now() < deadline) {
      for (let j = 0; j < 64; j++) await op(i++);
      n += 64;
    }
    ops[which]! += n;
    ms[which]! += performance.now() - started;
  }
  return [(ops[0]! / ms[0]!) * 1000, (ops[1]! / ms[1]!) * 1000];
}

const median = (xs: number[]) => percentile(xs, 50);
const fmt = (xs: number[]) => xs.map((x) => round(x, 2)).join(' ');

async function routerOverhead(rows: BenchRow[]): Promise<void> {
  const bare = createMemoryStore();
  const router = new PersistenceRouter({
    backends: { main: createMemoryStore(), other: createMemoryStore() },
    defaultBackend: 'other',
    rules: [
      { pattern: 'cache:*', backend: 'other', ttlMs: 60_000 },
      { pattern: 'agents:*', backend: 'main' },
    ],
  });
  for (const id of ids) {
    await bare.put('agents', id, small);
    await router.put('agents', id, small);
  }
  for (const op of ['get', 'put'] as const) {
    const call = (store: DocumentStore) => (i: number) =>
      op === 'get' ? store.get('agents', ids[i % KEYS]!) : store.put('agents', ids[i % KEYS]!, small);
    const ratios: number[] = [];
    let bestBare = 0;
    let bestRouted = 0;
    for (let pass = 0; pass < PASSES; pass++) {
      const [routedRate, bareRate] = await pair(call(router), call(bare));
      bestBare = Math.max(bestBare, bareRate);
      bestRouted = Math.max(bestRouted, routedRate);
      ratios.push(bareRate / routedRate);
    }
    rows.push({
      measure: `router ${op} (memory driver)`,
      'agentstate ops/s': Math.round(bestRouted),
      'peer ops/s': Math.round(bestBare),
      peer: 'same driver, called directly',
      'ratio (median)': `time ${round(median(ratios), 3)}x of peer (goal <= 1.1x)`,
      passes: fmt(ratios),
    });
  }
  await Promise.all([bare.close(), router.close()]);
}

async function cacheHitPath(rows: BenchRow[]): Promise<void> {
  const cached = createCachedStore(createMemoryStore(), { maxEntries: KEYS * 2 });
  const lru = new LRUCache<string, object>({ max: KEYS * 2, ttl: 60_000 });
  for (const id of ids) {
    const doc = await cached.put('agents', id, small);
    lru.set(`agents\0${id}`, doc);
  }
  const lruAsync = async (key: string) => lru.get(key);
  const ratios: number[] = [];
  const syncRatios: number[] = [];
  let best = { cached: 0, lru: 0, sync: 0 };
  for (let pass = 0; pass < PASSES; pass++) {
    const [c, l] = await pair(
      (i) => cached.get('agents', ids[i % KEYS]!),
      (i) => lruAsync(`agents\0${ids[i % KEYS]!}`),
    );
    // The synchronous call, for reference: no DocumentStore can be synchronous.
    const started = performance.now();
    let n = 0;
    while (performance.now() - started < PHASE_MS / 2)
      for (let j = 0; j < 4096; j++) lru.get(`agents\0${ids[n++ % KEYS]!}`);
    const s = (n / (performance.now() - started)) * 1000;
    best = { cached: Math.max(best.cached, c), lru: Math.max(best.lru, l), sync: Math.max(best.sync, s) };
    ratios.push(c / l);
    syncRatios.push(c / s);
  }
  if (cached.stats().misses !== 0) throw new Error('the cache hit benchmark missed');
  // The peer is a bare (synchronous) lru-cache get; the async wrapper shows what the Promise
  // every DocumentStore returns costs by itself.
  rows.push({
    measure: 'cache hit get',
    'agentstate ops/s': Math.round(best.cached),
    'peer ops/s': Math.round(best.sync),
    peer: 'lru-cache get, synchronous (bare)',
    'ratio (median)': `${round(median(syncRatios), 3)}x of peer speed (goal >= 0.8x)`,
    passes: fmt(syncRatios),
  });
  rows.push({
    measure: 'cache hit get (reference)',
    'agentstate ops/s': Math.round(best.cached),
    'peer ops/s': Math.round(best.lru),
    peer: 'lru-cache get behind an async function',
    'ratio (median)': `${round(median(ratios), 3)}x of peer speed`,
    passes: fmt(ratios),
  });
  await cached.close();
}

async function cachedPostgres(rows: BenchRow[]): Promise<void> {
  if (!(await postgresAvailable())) {
    rows.push({ measure: 'cached PostgreSQL get', peer: 'skipped: PostgreSQL not reachable' });
    return;
  }
  const schema = uniqueName('bench_persist');
  const bare = createPostgresStore({ connectionString: POSTGRES_URL, schema });
  const cached = createCachedStore(createPostgresStore({ connectionString: POSTGRES_URL, schema }));
  try {
    const few = ids.slice(0, 100);
    for (const id of few) await bare.put('agents', id, small);
    for (const id of few) await cached.get('agents', id);
    const ratios: number[] = [];
    let best = { cached: 0, bare: 0 };
    for (let pass = 0; pass < PASSES; pass++) {
      const [c, b] = await pair(
        (i) => cached.get('agents', few[i % few.length]!),
        (i) => bare.get('agents', few[i % few.length]!),
      );
      best = { cached: Math.max(best.cached, c), bare: Math.max(best.bare, b) };
      ratios.push(c / b);
    }
    rows.push({
      measure: 'cached PostgreSQL get',
      'agentstate ops/s': Math.round(best.cached),
      'peer ops/s': Math.round(best.bare),
      peer: 'bare PostgreSQL driver get (same documents)',
      'ratio (median)': `${round(median(ratios), 1)}x of peer speed (goal >= 20x)`,
      passes: fmt(ratios),
    });
  } finally {
    await Promise.all([bare.close(), cached.close()]);
    await dropSchema(schema);
  }
}

/** A 100 KB agent state: a conversation with repeated structure, as real ones have. */
function agentState(): Record<string, unknown> {
  const messages = [];
  for (let i = 0; JSON.stringify(messages).length < 100_000; i++) {
    messages.push({
      role: i % 2 ? 'assistant' : 'user',
      content: `Step ${i}: checked the inventory for order ${1000 + i} and found ${i % 7} items pending review.`,
      at: 1_760_000_000_000 + i * 1000,
      tokens: 20 + (i % 13),
    });
  }
  return { agentId: 'planner', status: 'busy', messages, metrics: { totalMessages: messages.length } };
}

async function compressionTable(rows: BenchRow[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'agentstate-bench-'));
  const state = agentState();
  const methods = ['none', 'gzip', 'brotli'] as const;
  const stores = Object.fromEntries(
    methods.map((m) => [m, createSqliteStore({ path: join(dir, `${m}.db`), compression: m })]),
  ) as Record<(typeof methods)[number], DocumentStore>;
  try {
    const times = Object.fromEntries(methods.map((m) => [m, { put: [] as number[], get: [] as number[] }]));
    let sizes: Record<string, { stored: number; plain: number }> = {};
    for (let pass = 0; pass < PASSES; pass++) {
      for (const m of methods) {
        const store = stores[m];
        let started = performance.now();
        let doc: Awaited<ReturnType<DocumentStore['put']>> | undefined;
        for (let i = 0; i < 10; i++) doc = await store.put('agents', 'planner', state);
        times[m]!.put.push((performance.now() - started) / 10);
        started = performance.now();
        for (let i = 0; i < 10; i++) await store.get('agents', 'planner');
        times[m]!.get.push((performance.now() - started) / 10);
        sizes = { ...sizes, [m]: { stored: doc!.storage!.sizeBytes, plain: doc!.storage!.plainBytes } };
      }
    }
    const base = { put: median(times.none!.put), get: median(times.none!.get) };
    for (const m of methods) {
      const put = median(times[m]!.put);
      const get = median(times[m]!.get);
      rows.push({
        measure: `100 KB agent state, compression ${m} (SQLite)`,
        'bytes stored': sizes[m]!.stored,
        'stored / JSON': round(sizes[m]!.stored / sizes[m]!.plain, 3),
        'put ms (median)': round(put, 2),
        'get ms (median)': round(get, 2),
        'vs none': `put ${round(put / base.put, 2)}x, get ${round(get / base.get, 2)}x time`,
      });
    }
  } finally {
    await Promise.all(Object.values(stores).map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the persistence benchmarks. */
export default async function run(): Promise<void> {
  const rows: BenchRow[] = [];
  await routerOverhead(rows);
  await cacheHitPath(rows);
  await cachedPostgres(rows);
  await compressionTable(rows);
  await report('persistence', rows, { passes: PASSES, phaseMs: PHASE_MS });
}
