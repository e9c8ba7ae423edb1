/**
 * `npm run bench ttl`: the memory TtlStore against lru-cache (with ttl), @isaacs/ttlcache and node-cache,
 * measured in the same run: set, get-hit, get-miss and a 90/10 get/set mix on 100k and 1M keys with a
 * 60 s TTL, plus bytes per entry; then the sweep cost, the flat-memory check, and RedisTtlStore against
 * raw ioredis calls on the same auto-pipelining client.
 *
 * Each (library, size) runs in its own child process: the JIT then optimises the loop for that library
 * alone (one process for all would make the call sites polymorphic and slow everyone down unevenly), and
 * the heap measured for bytes/entry holds only that library's data. Every phase is timed three times and
 * the best run is kept, to damp the noise of a shared 2-core machine.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { TTLCache } from '@isaacs/ttlcache';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import NodeCache from 'node-cache';
import { RedisTtlStore, TtlStore } from '../src/ttl/index.ts';
import { type BenchRow, percentile, report, round } from './_report.ts';

const LIBRARIES = [
  'agentstate',
  'lru-cache',
  '@isaacs/ttlcache',
  'node-cache',
  'ttlcache checkAgeOnGet',
] as const;
// The three peers the goal names, in their default configuration; 'ttlcache checkAgeOnGet' is shown for
// reference: by default ttlcache does not look at the clock on get (it relies on its purge timer, so it
// can return an expired value while the event loop is busy); with checkAgeOnGet it gives the guarantee
// TtlStore gives on every read.
const PEERS: readonly Library[] = ['lru-cache', '@isaacs/ttlcache', 'node-cache'];
type Library = (typeof LIBRARIES)[number];
const SIZES = [100_000, 1_000_000];
const OPS = ['set', 'get-hit', 'get-miss', 'mixed 90/10'] as const;
const TTL_MS = 60_000;
const ROUNDS = 2;
// Every (library, size) process runs PASSES times, interleaved with the others. Load on a shared machine
// comes and goes over seconds and moves a single pass's ratio by up to 30%, so the headline ratio is the
// median of the per-pass ratios (each pass compares processes run seconds apart), printed with every
// pass's ratio; the ops/s columns are each library's best pass.
const PASSES = 5;
// A phase stops after this many ops or this much time, whichever comes first, so a slow peer (ttlcache's
// overwrite is O(keys per expiry bucket)) cannot stretch the run.
const MAX_OPS = 2_000_000;
const MAX_PHASE_MS = 250;

/** The four operations of one library, each a closure over one cache. */
interface Subject {
  set(key: string, value: unknown): void;
  get(key: string): unknown;
  close(): void;
}

function subject(library: Library, size: number): Subject {
  switch (library) {
    case 'agentstate': {
      // maxEntries = size, as lru-cache gets max = size: both then size their arrays exactly.
      const store = new TtlStore({ maxEntries: size });
      const options = { ttlMs: TTL_MS };
      return {
        set: (k, v) => store.set(k, v, options),
        get: (k) => store.get(k),
        close: () => store.close(),
      };
    }
    case 'lru-cache': {
      const cache = new LRUCache<string, object>({ max: size, ttl: TTL_MS });
      return {
        set: (k, v) => cache.set(k, v as object),
        get: (k) => cache.get(k),
        close: () => cache.clear(),
      };
    }
    case '@isaacs/ttlcache': {
      const cache = new TTLCache<string, unknown>({ ttl: TTL_MS });
      return { set: (k, v) => cache.set(k, v), get: (k) => cache.get(k), close: () => cache.cancelTimer() };
    }
    case 'ttlcache checkAgeOnGet': {
      const cache = new TTLCache<string, unknown>({ ttl: TTL_MS, checkAgeOnGet: true });
      return { set: (k, v) => cache.set(k, v), get: (k) => cache.get(k), close: () => cache.cancelTimer() };
    }
    case 'node-cache': {
      // useClones: false, as the others do not clone either (node-cache's default deep-clones every value).
      const cache = new NodeCache({ stdTTL: TTL_MS / 1000, useClones: false, checkperiod: 0 });
      return { set: (k, v) => cache.set(k, v), get: (k) => cache.get(k), close: () => cache.close() };
    }
  }
}

interface WorkerResult {
  library: Library;
  size: number;
  opsPerSec: Record<(typeof OPS)[number], number>;
  bytesPerEntry: number;
}

function heapBytes(): number {
  globalThis.gc?.();
  globalThis.gc?.();
  const usage = process.memoryUsage();
  // Typed arrays keep their data outside the JS heap (arrayBuffers), so both are counted.
  return usage.heapUsed + usage.arrayBuffers;
}

/** A full GC, then a pause for V8's concurrent sweeper threads to finish before the next measurement. */
async function settle(): Promise<void> {
  globalThis.gc?.();
  await sleep(100);
}

function xorshiftOrder(count: number, modulo: number): Uint32Array {
  const order = new Uint32Array(count);
  let x = 2463534242;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    order[i] = (x >>> 0) % modulo;
  }
  return order;
}

function timed(run: (limit: number) => number): number {
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    const done = run(MAX_OPS);
    const elapsed = performance.now() - started;
    best = Math.max(best, (done / elapsed) * 1000);
  }
  return best;
}

/** Runs in the child process: one library, one size. */
function worker(library: Library, size: number): WorkerResult {
  const keys = Array.from({ length: size }, (_, i) => `key:${i}`);
  const missing = Array.from({ length: size }, (_, i) => `missing:${i}`);
  const order = xorshiftOrder(MAX_OPS, size);
  const value = { signal: true };
  const before = heapBytes();
  const s = subject(library, size);
  for (let i = 0; i < size; i++) s.set(keys[i]!, value);
  const bytesPerEntry = (heapBytes() - before) / size;
  // The time check every 1024 ops keeps the clock read out of the measured cost.
  const loop = (limit: number, body: (i: number) => void): number => {
    const deadline = performance.now() + MAX_PHASE_MS;
    let i = 0;
    while (i < limit) {
      const end = Math.min(limit, i + 1024);
      for (; i < end; i++) body(i);
      if (performance.now() > deadline) break;
    }
    return i;
  };
  let sink = 0;
  const opsPerSec = {
    set: timed((limit) => loop(limit, (i) => s.set(keys[order[i]!]!, value))),
    'get-hit': timed((limit) =>
      loop(limit, (i) => {
        if (s.get(keys[order[i]!]!) !== undefined) sink++;
      }),
    ),
    'get-miss': timed((limit) =>
      loop(limit, (i) => {
        if (s.get(missing[order[i]!]!) !== undefined) sink++;
      }),
    ),
    'mixed 90/10': timed((limit) =>
      loop(limit, (i) => {
        if (i % 10 === 0) s.set(keys[order[i]!]!, value);
        else if (s.get(keys[order[i]!]!) !== undefined) sink++;
      }),
    ),
  };
  if (sink < 0) console.log(sink);
  s.close();
  return { library, size, opsPerSec, bytesPerEntry };
}

type WorkerSpec = { kind: 'ops'; library: Library; size: number } | { kind: 'sweep' } | { kind: 'flat' };

/** Runs `spec` in a child process with `--expose-gc` and returns what it printed last (JSON). */
function inChild<T>(spec: WorkerSpec): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], {
      env: { ...process.env, AGENTSTATE_BENCH_TTL_WORKER: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench worker ${JSON.stringify(spec)} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as T);
    });
  });
}

/**
 * Sweep cost with 1% of the live keys due (injected clock, so exactly that many are due; each sweep removes
 * every due key, no time budget): after a warm-up on a small store, five sweeps,
 * each after the clock moves past the next 1% batch, with a GC and a pause before each so a collection
 * left over from filling the store (or the GC's own concurrent page sweeping) is not billed to the sweep. Next to it, the seed's approach on the same keys: a
 * full scan of a key -> expiry map.
 */
async function sweepCost(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const batches = 5;
  // Warm-up, said plainly: the same sweep and Map.delete code runs first on a small store and map, so the
  // figures below are compiled code, as in a long-running process whose timer sweeps every second (a cold
  // first sweep of 10k keys runs partly in the interpreter and measures the JIT, not the sweep).
  for (let round = 0; round < 20; round++) {
    let now = Date.now();
    const warm = new TtlStore({ now: () => now, sweepIntervalMs: 0 });
    const warmKeys = Array.from({ length: 20_000 }, (_, i) => `w${i}`);
    const warmMap = new Map<string, number>();
    for (let i = 0; i < warmKeys.length; i++) {
      warm.set(warmKeys[i]!, i, { ttlMs: i % 100 < batches ? ((i % 100) + 1) * 1_000 : 3_600_000 });
      warmMap.set(warmKeys[i]!, i);
    }
    for (let b = 0; b < batches; b++) {
      now += 1_000;
      warm.sweep();
      deleteEvery100(warmMap, warmKeys, b);
    }
    warm.close();
  }
  for (const live of [100_000, 1_000_000]) {
    let now = Date.now();
    const store = new TtlStore({ now: () => now, sweepIntervalMs: 0 });
    const seed = new Map<string, number>();
    const keys = Array.from({ length: live }, (_, i) => `k${i}`);
    for (let i = 0; i < live; i++) {
      // Keys i % 100 === b (b < batches) expire after (b + 1) s; the rest after an hour.
      const ttlMs = i % 100 < batches ? ((i % 100) + 1) * 1_000 : 3_600_000;
      store.set(keys[i]!, i, { ttlMs });
      seed.set(keys[i]!, now + ttlMs);
    }
    const floorKeys = Array.from({ length: live }, (_, i) => `f${i}`);
    const floorMap = new Map<string, number>();
    for (let i = 0; i < live; i++) floorMap.set(floorKeys[i]!, i);
    const floors: number[] = [];
    const times: number[] = [];
    const scans: number[] = [];
    let removed = 0;
    await settle();
    // The sweeps back to back (then the baselines back to back), so each runs in the same warm state.
    for (let b = 0; b < batches; b++) {
      now += 1_000;
      const started = performance.now();
      removed += store.sweep();
      times.push(performance.now() - started);
    }
    await settle();
    for (let b = 0, scanNow = now - batches * 1_000; b < batches; b++) {
      scanNow += 1_000;
      const scanStarted = performance.now();
      const due: string[] = [];
      for (const [key, expiresAt] of seed) if (expiresAt <= scanNow) due.push(key);
      for (const key of due) seed.delete(key);
      scans.push(performance.now() - scanStarted);
    }
    await settle();
    // The floor on this machine: deleting the same number of keys from a Map of the same size.
    for (let b = 0; b < batches; b++) {
      const floorStarted = performance.now();
      deleteEvery100(floorMap, floorKeys, b);
      floors.push(performance.now() - floorStarted);
    }
    times.sort((a, b) => a - b);
    scans.sort((a, b) => a - b);
    floors.sort((a, b) => a - b);
    rows.push({
      case: `${live / 1000}k live, ${live / 100_000}k due per sweep`,
      'keys removed': removed,
      'sweep ms (best)': round(times[0]!, 2),
      'sweep ms (median)': round(times[2]!, 2),
      'Map.delete of as many keys ms (median)': round(floors[2]!, 2),
      'seed full scan ms (median)': round(scans[2]!, 1),
      goal: live === 1_000_000 ? '< 5 ms' : '',
    });
    store.close();
  }
  return rows;
}

/** The sweep's floor: deletes keys[b], keys[b + 100], ... from `map` (1% of it, in insertion order). */
function deleteEvery100(map: Map<string, number>, keys: string[], b: number): void {
  for (let i = b; i < keys.length; i += 100) map.delete(keys[i]!);
}

/** 10M sets of distinct keys with a 1 ms TTL, real clock, no timer: memory must stay flat. */
async function flatMemory(): Promise<BenchRow> {
  const store = new TtlStore({ sweepIntervalMs: 0 });
  const before = heapBytes();
  const total = 10_000_000;
  let maxSize = 0;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    store.set(`churn:${i}`, i, { ttlMs: 1 });
    if ((i & 0xfffff) === 0) maxSize = Math.max(maxSize, store.size);
  }
  const seconds = (performance.now() - started) / 1000;
  await sleep(5);
  const after = heapBytes();
  const row = {
    case: '10M set-with-ttl (1 ms) of distinct keys',
    'heap before MB': round(before / 2 ** 20, 1),
    'heap after MB': round(after / 2 ** 20, 1),
    'max live keys': maxSize,
    'live keys after': store.size,
    'ops/s': Math.round(total / seconds),
  };
  store.close();
  return row;
}

/** RedisTtlStore vs raw ioredis on one auto-pipelining client, 1000 calls in flight. */
async function redisThroughput(): Promise<BenchRow[]> {
  const url = process.env.AGENTSTATE_TEST_REDIS ?? 'redis://127.0.0.1:6379';
  const client = new Redis(url, { enableAutoPipelining: true, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
  } catch {
    console.warn(`redis not reachable at ${url}: skipping the RedisTtlStore rows`);
    client.disconnect();
    return [];
  }
  const prefix = `bench:ttl:${process.pid}:`;
  const store = new RedisTtlStore({ redis: client, prefix });
  const total = 100_000;
  const inFlight = 1000;
  const value = { signal: true, n: 42 };
  const raw = JSON.stringify(value);
  const measure = async (call: (i: number) => Promise<unknown>): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < total; i += inFlight) {
      const batch: Array<Promise<unknown>> = [];
      for (let j = i; j < i + inFlight; j++) batch.push(call(j));
      await Promise.all(batch);
    }
    return Math.round(total / ((performance.now() - started) / 1000));
  };
  const rows: BenchRow[] = [];
  type Call = (i: number) => Promise<unknown>;
  // raw: the string as is; raw + JSON: the same call plus JSON.stringify/parse of the value, which is the
  // least any store that keeps structured values must do (the rest of the gap is the codec's tagging).
  const cases: Array<[string, Call, Call, Call]> = [
    [
      'set with ttl',
      (i) => store.set(`k${i % 10_000}`, value, { ttlMs: TTL_MS }),
      (i) => client.set(`${prefix}raw:${i % 10_000}`, raw, 'PX', TTL_MS),
      (i) => client.set(`${prefix}raw:${i % 10_000}`, JSON.stringify(value), 'PX', TTL_MS),
    ],
    [
      'get',
      (i) => store.get(`k${i % 10_000}`),
      (i) => client.get(`${prefix}raw:${i % 10_000}`),
      async (i) => JSON.parse((await client.get(`${prefix}raw:${i % 10_000}`)) ?? 'null'),
    ],
  ];
  for (const [name, ours, peer, peerJson] of cases) {
    await measure(ours); // warm-up
    await measure(peer);
    const oursOps = await measure(ours);
    const rawOps = await measure(peer);
    const rawJsonOps = await measure(peerJson);
    rows.push({
      'redis op': name,
      'RedisTtlStore ops/s': oursOps,
      'raw ioredis ops/s': rawOps,
      'raw + JSON ops/s': rawJsonOps,
      'ratio vs raw': round(oursOps / rawOps, 2),
      'ratio vs raw + JSON': round(oursOps / rawJsonOps, 2),
    });
  }
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  await client.quit();
  return rows;
}

/** `results` in the order of LIBRARIES (the column order of the table). */
function byLibrary(results: readonly WorkerResult[]): WorkerResult[] {
  return [...results].sort((a, b) => LIBRARIES.indexOf(a.library) - LIBRARIES.indexOf(b.library));
}

/** agentstate's ops/s over the fastest named peer's, for one operation among `results` of one size. */
function ratioVsFastest(results: readonly WorkerResult[], op: (typeof OPS)[number]): number {
  const ours = results.find((r) => r.library === 'agentstate')!.opsPerSec[op];
  const fastest = Math.max(...results.filter((r) => PEERS.includes(r.library)).map((r) => r.opsPerSec[op]));
  return ours / fastest;
}

export default async function bench(): Promise<void> {
  const results: WorkerResult[] = [];
  // Each pass's own ratio (ours / fastest peer in that pass), to show how far the noise moves it.
  const passRatios = new Map<string, number[]>();
  for (let pass = 1; pass <= PASSES; pass++) {
    for (const size of SIZES) {
      const thisPass: WorkerResult[] = [];
      // A different library starts each pass, so none is always measured right after a size change.
      const order = LIBRARIES.map((_, i) => LIBRARIES[(i + pass) % LIBRARIES.length]!);
      for (const library of order) {
        console.log(`  pass ${pass}/${PASSES}: ${library} at ${size / 1000}k keys...`);
        const result = await inChild<WorkerResult>({ kind: 'ops', library, size });
        thisPass.push(result);
        const earlier = results.find((r) => r.library === library && r.size === size);
        if (!earlier) results.push(structuredClone(result));
        else {
          for (const op of OPS) earlier.opsPerSec[op] = Math.max(earlier.opsPerSec[op], result.opsPerSec[op]);
          earlier.bytesPerEntry = Math.min(earlier.bytesPerEntry, result.bytesPerEntry);
        }
      }
      for (const op of OPS) {
        const ratios = passRatios.get(`${size} ${op}`) ?? [];
        ratios.push(ratioVsFastest(thisPass, op));
        passRatios.set(`${size} ${op}`, ratios);
      }
    }
  }
  const rows: BenchRow[] = [];
  for (const size of SIZES) {
    const atSize = results.filter((r) => r.size === size);
    for (const op of OPS) {
      const peers = atSize.filter((r) => PEERS.includes(r.library));
      const fastest = peers.reduce((a, b) => (b.opsPerSec[op] > a.opsPerSec[op] ? b : a));
      const row: BenchRow = { keys: `${size / 1000}k`, op };
      for (const r of byLibrary(atSize)) row[`${r.library} Mops/s`] = round(r.opsPerSec[op] / 1e6, 2);
      row['fastest peer'] = fastest.library;
      const ratios = passRatios.get(`${size} ${op}`)!;
      row['ratio vs fastest (median of passes)'] = round(percentile(ratios, 50), 2);
      row['per-pass ratios'] = ratios.map((r) => r.toFixed(2)).join(' ');
      row['ratio of best figures'] = round(ratioVsFastest(atSize, op), 2);
      rows.push(row);
    }
    const row: BenchRow = { keys: `${size / 1000}k`, op: 'bytes/entry' };
    for (const r of byLibrary(atSize)) row[`${r.library} Mops/s`] = round(r.bytesPerEntry, 1);
    const lru = atSize.find((r) => r.library === 'lru-cache')!;
    row['fastest peer'] = 'lru-cache (bytes)';
    row['ratio vs fastest (median of passes)'] = round(
      atSize.find((r) => r.library === 'agentstate')!.bytesPerEntry / lru.bytesPerEntry,
      2,
    );
    rows.push(row);
  }
  const sweep = await inChild<BenchRow[]>({ kind: 'sweep' });
  const flat = await inChild<BenchRow>({ kind: 'flat' });
  const redis = await redisThroughput();
  console.log(
    '\nops/s in millions (bytes/entry rows: bytes, lower is better); ratio > 1: agentstate is faster',
  );
  await report('ttl', rows, {
    ttlMs: TTL_MS,
    passes: PASSES,
    rounds: ROUNDS,
    maxOpsPerPhase: MAX_OPS,
    maxPhaseMs: MAX_PHASE_MS,
    sweep,
    flat,
    redis,
  });
  console.log('\nsweep cost (injected clock, exactly 1% due)');
  console.table(sweep);
  console.log('\nflat memory (heap + array buffers, after GC)');
  console.table([flat]);
  if (redis.length > 0) {
    console.log('\nRedisTtlStore vs raw ioredis: same client (enableAutoPipelining), 1000 calls in flight');
    console.table(redis);
  }
}

const workerSpec = process.env.AGENTSTATE_BENCH_TTL_WORKER;
if (workerSpec) {
  const spec = JSON.parse(workerSpec) as WorkerSpec;
  const result =
    spec.kind === 'ops'
      ? worker(spec.library, spec.size)
      : spec.kind === 'sweep'
        ? await sweepCost()
        : await flatMemory();
  console.log(JSON.stringify(result));
}
