/**
 * `npm run bench persistence`: the persistence layer against its peers, measured in the same run.
 * - Router overhead: get/put through a PersistenceRouter vs the same kind of driver called directly.
 * - Cache hit path: CachedStore.get of cached entries vs a bare lru-cache get of the same entries in an
 *   lru-cache configured as the cache's own (the goal's peer), both called from the same loop, which awaits
 *   every result as any caller of a DocumentStore does; the same gets in a loop without await are printed
 *   for reference, and CachedStore.peek (the synchronous hit) is compared with them.
 * - Cached PostgreSQL get vs a bare PostgreSQL driver get (skipped when PostgreSQL is not reachable).
 * - Compression: a 100 KB JSON-like agent state on SQLite with none, gzip and brotli: bytes stored and
 *   put/get time.
 * Each comparison runs PASSES passes; a pass times one block of each side (A then B, the next pass B then
 * A), and the headline ratio is the median of the per-pass ratios: load on a shared machine moves single
 * blocks by tens of percent, and a median of many short passes leaves those blocks out. In-process
 * comparisons are timed by the process's CPU time (see `cpu`), the PostgreSQL one by the wall clock.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LRUCache } from 'lru-cache';
import {
  createCachedStore,
  createMemoryStore,
  createPostgresStore,
  createSqliteStore,
  type DocumentStore,
  PersistenceRouter,
  type StoredDocument,
} from '../src/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../tests/support/services.ts';
import { type BenchRow, percentile, report, round } from './_report.ts';

const PASSES = Number(process.env.BENCH_PASSES ?? 41);
// Each side's block takes about this long, so a pass is two short blocks.
const BLOCK_MS = Number(process.env.BENCH_BLOCK_MS ?? 20);
// Passes of the compression table: each is 60 puts and gets of 100 KB, far slower than a block.
const COMPRESSION_PASSES = 7;
const KEYS = 1000;
const ids = Array.from({ length: KEYS }, (_, i) => `agent-${i}`);
const small = { status: 'idle', messages: 3, owner: 'planner' };

// A full garbage collection before every timed block, outside the timing: each block then pays for the
// young-generation collections of its own garbage only, instead of an old-generation collection that the
// other side's garbage brought due landing in it (which, allocation being periodic, can fall on one side
// pass after pass).
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Runs `n` operations from operation number `first` on; resolves when all are done. */
type Block = (first: number, n: number) => Promise<void>;

/** A block that awaits each call in turn, as a caller of a DocumentStore does. */
const awaited =
  (op: (i: number) => unknown): Block =>
  async (first, n) => {
    for (let i = first; i < first + n; i++) await op(i);
  };

/**
 * A clock in ms. `cpu` is the process's CPU time (user + system): on a loaded machine the time the OS
 * gives other processes is not counted, for either side. Both sides of a CPU comparison run on the main
 * thread; the process's helper threads (garbage collection, compilation) count for whichever side is
 * running, as in wall time. (`process.threadCpuUsage` would leave those out, but on Linux it advances in
 * scheduler ticks of milliseconds, too coarse for short blocks.) `wall` is for comparisons that wait on a
 * server.
 */
type Clock = () => number;
const wall: Clock = () => performance.now();
const cpu: Clock = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** Ops per block of `block` so that one takes about BLOCK_MS: the fastest of a few tries (load only slows). */
async function calibrate(block: Block, clock: Clock): Promise<number> {
  let best = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    for (let n = 16; ; n *= 2) {
      const started = clock();
      await block(0, n);
      const ms = clock() - started;
      if (ms >= BLOCK_MS / 2 || n >= 1 << 22) {
        best = Math.max(best, n / Math.max(ms, 0.001));
        break;
      }
    }
  }
  return Math.max(1, Math.round(best * BLOCK_MS));
}

interface Interleaved {
  /** Median ops/s of each side over the passes. */
  ours: number;
  peer: number;
  /** ours / peer per pass (speed ratio). */
  ratios: number[];
}

/**
 * Times `ours` and `peer` in PASSES alternating passes (ours, peer; then peer, ours; ...), each side one
 * block per pass of its own calibrated size, and returns the per-pass speed ratios.
 */
async function interleave(ours: Block, peer: Block, clock: Clock): Promise<Interleaved> {
  const sizes = [await calibrate(ours, clock), await calibrate(peer, clock)];
  const sides = [ours, peer];
  const rates: number[][] = [[], []];
  const ratios: number[] = [];
  let next = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    const rate = [0, 0];
    for (const which of pass % 2 === 0 ? [0, 1] : [1, 0]) {
      const n = sizes[which]!;
      collectGarbage();
      const started = clock();
      await sides[which]!(next, n);
      rate[which] = (n / Math.max(clock() - started, 0.001)) * 1000;
      next += n;
    }
    rates[0]!.push(rate[0]!);
    rates[1]!.push(rate[1]!);
    ratios.push(rate[0]! / rate[1]!);
  }
  return { ours: median(rates[0]!), peer: median(rates[1]!), ratios };
}

const median = (xs: number[]) => percentile(xs, 50);
/** The middle half of the per-pass ratios, to show the spread. */
const spread = (xs: number[], digits = 2) =>
  `${round(percentile(xs, 25), digits)}-${round(percentile(xs, 75), digits)}`;

async function routerOverhead(rows: BenchRow[]): Promise<void> {
  // Like with like: the routed backend and the bare store are the same driver holding the same documents.
  const bare = createMemoryStore();
  const routed = createMemoryStore();
  const router = new PersistenceRouter({
    backends: { main: routed, other: createMemoryStore() },
    defaultBackend: 'other',
    rules: [
      { pattern: 'cache:*', backend: 'other', ttlMs: 60_000 },
      { pattern: 'agents:*', backend: 'main' },
      // A rule that looks at ids: its namespace is matched rule by rule on every call.
      { pattern: 'tasks:urgent-*', backend: 'other' },
      { pattern: 'tasks:*', backend: 'main' },
    ],
  });
  for (const id of ids) {
    for (const ns of ['agents', 'tasks']) {
      await bare.put(ns, id, small);
      await router.put(ns, id, small);
    }
  }
  const cases = [
    ['get', 'agents', 'namespace rule'],
    ['put', 'agents', 'namespace rule'],
    ['get', 'tasks', 'rules on ids'],
  ] as const;
  for (const [op, ns, rule] of cases) {
    const call = (store: DocumentStore) =>
      awaited((i) => (op === 'get' ? store.get(ns, ids[i % KEYS]!) : store.put(ns, ids[i % KEYS]!, small)));
    const { ours, peer, ratios } = await interleave(call(router), call(bare), cpu);
    // Time per call: the inverse of the speed ratio.
    const times = ratios.map((r) => 1 / r);
    rows.push({
      measure: `router ${op}, ${rule} (memory driver)`,
      'agentstate ops/s': Math.round(ours),
      'peer ops/s': Math.round(peer),
      peer: 'same driver, called directly',
      'ratio (median)': `time ${round(median(times), 3)}x of peer (goal <= 1.1x)`,
      'middle half': spread(times, 3),
      passes: times.length,
    });
  }
  await Promise.all([bare.close(), router.close()]);
}

async function cacheHitPath(rows: BenchRow[]): Promise<void> {
  const maxEntries = KEYS * 2;
  const maxBytes = 64 * 1024 * 1024;
  const ttlMs = 60_000;
  const cached = createCachedStore(createMemoryStore(), { maxEntries, maxBytes, ttlMs });
  // The peer: lru-cache set up as the cache's own (entries, bytes, TTL) holding the same documents.
  const lru = new LRUCache<string, StoredDocument>({
    max: maxEntries,
    maxSize: maxBytes,
    sizeCalculation: (doc) => Math.max(1, doc.storage?.plainBytes ?? 1024),
    ttl: ttlMs,
  });
  for (const id of ids) lru.set(`agents\0${id}`, await cached.put('agents', id, small));
  const ours = awaited((i) => cached.get('agents', ids[i % KEYS]!));
  const bare = awaited((i) => lru.get(`agents\0${ids[i % KEYS]!}`));
  // The same gets without await: a DocumentStore's get cannot be called so (it returns a promise).
  const sync: Block = async (first, n) => {
    for (let i = first; i < first + n; i++) lru.get(`agents\0${ids[i % KEYS]!}`);
  };
  // CachedStore.peek: the synchronous hit path, in the same loop without await as the bare get.
  const peek: Block = async (first, n) => {
    for (let i = first; i < first + n; i++) cached.peek('agents', ids[i % KEYS]!);
  };
  const alike = await interleave(ours, bare, cpu);
  const unawaited = await interleave(ours, sync, cpu);
  const peeked = await interleave(peek, sync, cpu);
  if (cached.stats().misses !== 0) throw new Error('the cache hit benchmark missed');
  rows.push({
    measure: 'cache hit get',
    'agentstate ops/s': Math.round(alike.ours),
    'peer ops/s': Math.round(alike.peer),
    peer: 'lru-cache get (same options and entries), same awaiting loop',
    'ratio (median)': `${round(median(alike.ratios), 3)}x of peer speed (goal >= 0.8x)`,
    'middle half': spread(alike.ratios),
    passes: alike.ratios.length,
  });
  rows.push({
    measure: 'cache hit get (reference)',
    'agentstate ops/s': Math.round(unawaited.ours),
    'peer ops/s': Math.round(unawaited.peer),
    peer: 'lru-cache get in a loop without await',
    'ratio (median)': `${round(median(unawaited.ratios), 3)}x of peer speed`,
    'middle half': spread(unawaited.ratios),
    passes: unawaited.ratios.length,
  });
  rows.push({
    measure: 'cache peek (synchronous hit)',
    'agentstate ops/s': Math.round(peeked.ours),
    'peer ops/s': Math.round(peeked.peer),
    peer: 'lru-cache get, same loop without await',
    'ratio (median)': `${round(median(peeked.ratios), 3)}x of peer speed (goal >= 0.8x)`,
    'middle half': spread(peeked.ratios),
    passes: peeked.ratios.length,
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
    const { ours, peer, ratios } = await interleave(
      awaited((i) => cached.get('agents', few[i % few.length]!)),
      awaited((i) => bare.get('agents', few[i % few.length]!)),
      wall,
    );
    rows.push({
      measure: 'cached PostgreSQL get',
      'agentstate ops/s': Math.round(ours),
      'peer ops/s': Math.round(peer),
      peer: 'bare PostgreSQL driver get (same documents)',
      'ratio (median)': `${round(median(ratios), 1)}x of peer speed (goal >= 20x)`,
      'middle half': spread(ratios, 0),
      passes: ratios.length,
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
    for (let pass = 0; pass < COMPRESSION_PASSES; pass++) {
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
  await report('persistence', rows, {
    passes: PASSES,
    blockMs: BLOCK_MS,
    compressionPasses: COMPRESSION_PASSES,
  });
}
