/**
 * `PerformanceMonitor` (the seed's `StatePerformanceMonitor`, section 8.2): latency per operation and
 * backend, cache hit rates, compression ratios, bytes written per backend and process memory, exported
 * as Prometheus metrics (prom-client) and as `report()`: trends over a window of samples and the seed's
 * recommendations made concrete (they name the setting, its current value and the measured numbers).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { compress, codec as defaultCodec } from '../codec/index.ts';
import type {
  BatchOperation,
  DeleteOptions,
  DocumentStore,
  ListOptions,
  NamespaceListOptions,
  PutOptions,
  StoredDocument,
} from '../drivers/index.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';
import type { CachedStore, CacheStatistics } from './cachedStore.ts';
import { wrapStore } from './wrapStore.ts';

/** Options of `PerformanceMonitor`. */
export interface PerformanceMonitorOptions {
  /** Registry the metrics join (default: a registry of their own, in `registry`). */
  registry?: Registry;
  /** How often a sample is taken, ms (default 10 000; 0 = only when `sample()` is called). */
  sampleIntervalMs?: number;
  /** Samples kept for trends (default 60). */
  windowSize?: number;
  /** Consecutive samples of growing heap that make a leak warning (default 5). */
  leakSamples?: number;
  /** Reads a cache needs before its hit rate is judged (default 100). */
  minCacheReads?: number;
  /** Reads process memory (default `process.memoryUsage`); inject one to test the leak warning. */
  memoryUsage?: () => { rss: number; heapUsed: number };
  /** Receives a failure of the timed sample (default: a process warning). */
  onError?: BackgroundErrorHandler;
}

/** One sample. */
export interface MonitorSample {
  /** When, epoch ms. */
  at: number;
  /** Process memory. */
  rssBytes: number;
  /** V8 heap in use. */
  heapUsedBytes: number;
  /** Hit rate of each cache by backend. */
  hitRates: Record<string, number>;
}

/** A concrete recommendation. */
export interface Recommendation {
  /** `cache`, `memory` or `compression`. */
  type: 'cache' | 'memory' | 'compression';
  /** How urgent. */
  priority: 'high' | 'medium' | 'low';
  /** The backend it concerns, if one. */
  backend?: string;
  /** What to do, with the numbers that say why. */
  message: string;
}

/** Figures of one backend. */
export interface BackendReport {
  /** Backend name. */
  backend: string;
  /** Calls, mean and max latency per operation. */
  operations: Record<string, { count: number; meanMs: number; maxMs: number }>;
  /** Bytes written (after compression) by puts since start. */
  storedBytes: number;
  /** The same values' JSON size before compression. */
  plainBytes: number;
  /** storedBytes / plainBytes (1 = no saving); undefined before any put. */
  compressionRatio: number | undefined;
  /** Cache statistics when the backend has a cache. */
  cache?: CacheStatistics;
}

/** What `report()` returns. */
export interface PerformanceReport {
  /** When, epoch ms. */
  generatedAt: number;
  /** Samples the trends use, and the time they span. */
  window: { samples: number; spanMs: number };
  /** Per backend. */
  backends: BackendReport[];
  /** Latest memory figures and their trend. */
  memory: { rssBytes: number; heapUsedBytes: number; trend: Trend; growthBytesPerSecond: number };
  /** Hit rate trend per cached backend. */
  hitRateTrends: Record<string, Trend>;
  /** What to change, most urgent first. */
  recommendations: Recommendation[];
}

/** Direction of a figure over the window. */
export type Trend = 'rising' | 'falling' | 'stable' | 'insufficient data';

interface OperationStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

interface BackendState {
  operations: Map<string, OperationStats>;
  storedBytes: number;
  plainBytes: number;
  // Values at least LARGE_VALUE bytes stored uncompressed, and what gzip made of the sampled ones.
  largePlainPuts: number;
  sampledPlain: number;
  sampledGzip: number;
  sampled: number;
  cache?: CachedStore;
}

const LARGE_VALUE = 1024;
// Every 10th large uncompressed value is compressed once to measure the saving (bounded work).
const SAMPLE_EVERY = 10;

/** Collects the figures of the stores it instruments. */
export class PerformanceMonitor {
  /** Registry holding the metrics (render it on /metrics). */
  readonly registry: Registry;
  readonly #backends = new Map<string, BackendState>();
  readonly #samples: MonitorSample[] = [];
  readonly #windowSize: number;
  readonly #leakSamples: number;
  readonly #minCacheReads: number;
  readonly #memoryUsage: () => { rss: number; heapUsed: number };
  readonly #seconds: Histogram<'backend' | 'operation'>;
  readonly #bytes: Counter<'backend' | 'form'>;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: PerformanceMonitorOptions = {}) {
    this.registry = options.registry ?? new Registry();
    this.#windowSize = options.windowSize ?? 60;
    this.#leakSamples = options.leakSamples ?? 5;
    this.#minCacheReads = options.minCacheReads ?? 100;
    this.#memoryUsage = options.memoryUsage ?? (() => process.memoryUsage());
    const registers = [this.registry];
    this.#seconds = new Histogram({
      name: 'agentstate_persistence_operation_duration_seconds',
      help: 'Document store call latency by backend and operation',
      labelNames: ['backend', 'operation'] as const,
      buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers,
    });
    this.#bytes = new Counter({
      name: 'agentstate_persistence_written_bytes_total',
      help: 'Bytes of values written by backend: form=stored (after compression) or plain (JSON size)',
      labelNames: ['backend', 'form'] as const,
      registers,
    });
    const caches = () => [...this.#backends].filter(([, state]) => state.cache);
    new Gauge({
      name: 'agentstate_cache_events',
      help: 'Cache hits, misses, evictions and invalidations by backend, since start',
      labelNames: ['backend', 'event'] as const,
      registers,
      collect() {
        for (const [backend, state] of caches()) {
          const stats = state.cache!.stats();
          for (const event of ['hits', 'misses', 'evictions', 'invalidations'] as const)
            this.set({ backend, event }, stats[event]);
        }
      },
    });
    new Gauge({
      name: 'agentstate_cache_hit_ratio',
      help: 'Cache hits / reads by backend',
      labelNames: ['backend'] as const,
      registers,
      collect() {
        for (const [backend, state] of caches()) this.set({ backend }, state.cache!.stats().hitRate);
      },
    });
    const backends = this.#backends;
    new Gauge({
      name: 'agentstate_persistence_compression_ratio',
      help: 'Stored bytes / JSON bytes of values written, by backend (1 = no saving)',
      labelNames: ['backend'] as const,
      registers,
      collect() {
        for (const [backend, state] of backends)
          if (state.plainBytes > 0) this.set({ backend }, state.storedBytes / state.plainBytes);
      },
    });
    const memoryUsage = () => this.#memoryUsage();
    new Gauge({
      name: 'agentstate_process_memory_bytes',
      help: 'Process memory by kind (rss, heapUsed)',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const memory = memoryUsage();
        this.set({ kind: 'rss' }, memory.rss);
        this.set({ kind: 'heapUsed' }, memory.heapUsed);
      },
    });
    const interval = options.sampleIntervalMs ?? 10_000;
    if (interval > 0) {
      this.#timer = setInterval(() => {
        try {
          this.sample();
        } catch (error) {
          reportBackgroundError(options.onError, error, { source: 'PerformanceMonitor sample' });
        }
      }, interval);
      this.#timer.unref();
    }
  }

  /**
   * Wraps a store so that its calls are timed and its writes measured under `backend`. A `CachedStore`
   * (or a store wrapping one) also reports its cache.
   */
  instrument<S extends DocumentStore>(store: S, backend: string): S {
    const state = this.#state(backend);
    if ('stats' in store && 'inner' in store) state.cache = store as unknown as CachedStore;
    const timed = <T>(operation: string, call: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      const done = () => this.#record(state, backend, operation, performance.now() - started);
      const promise = call();
      promise.then(done, done);
      return promise;
    };
    // watch and any extra of the wrapped store (versions, accessInfo, a cache's stats...) pass through.
    return wrapStore(store, {
      get: <V>(namespace: string, id: string) => timed('get', () => store.get<V>(namespace, id)),
      put: <V>(namespace: string, id: string, value: V, options?: PutOptions) => {
        const stored = timed('put', () => store.put(namespace, id, value, options));
        // Measured beside the caller's promise, outside the timing: a measurement never changes the
        // outcome of the put (it was stored) nor its latency.
        stored.then(
          (doc) => this.#measure(state, backend, doc, value),
          () => {},
        );
        return stored;
      },
      delete: (namespace: string, id: string, options?: DeleteOptions) =>
        timed('delete', () => store.delete(namespace, id, options)),
      list: <V>(namespace: string, options?: ListOptions) =>
        timed('list', () => store.list<V>(namespace, options)),
      listNamespaces: (options?: NamespaceListOptions) =>
        timed('listNamespaces', () => store.listNamespaces(options)),
      batch: (operations: BatchOperation[]) => timed('batch', () => store.batch(operations)),
      sweepExpired: () => timed('sweepExpired', () => store.sweepExpired()),
    } satisfies Partial<DocumentStore>) as unknown as S;
  }

  /** Takes a sample now (the timer calls this every `sampleIntervalMs`). */
  sample(): MonitorSample {
    const memory = this.#memoryUsage();
    const hitRates: Record<string, number> = {};
    for (const [backend, state] of this.#backends)
      if (state.cache) hitRates[backend] = state.cache.stats().hitRate;
    const sample = { at: Date.now(), rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, hitRates };
    this.#samples.push(sample);
    if (this.#samples.length > this.#windowSize) this.#samples.shift();
    return sample;
  }

  /** Figures, trends over the window and recommendations. */
  report(): PerformanceReport {
    const latest = this.sample();
    const samples = this.#samples;
    const first = samples[0]!;
    const spanMs = latest.at - first.at;
    const heap = samples.map((s) => s.heapUsedBytes);
    const growthBytesPerSecond =
      spanMs > 0 ? ((latest.heapUsedBytes - first.heapUsedBytes) * 1000) / spanMs : 0;
    const backends = [...this.#backends].map(([backend, state]) => backendReport(backend, state));
    const hitRateTrends: Record<string, Trend> = {};
    for (const backend of Object.keys(latest.hitRates)) {
      hitRateTrends[backend] = trend(samples.map((s) => s.hitRates[backend] ?? 0));
    }
    const recommendations = [
      ...this.#cacheAdvice(backends),
      ...this.#memoryAdvice(heap, growthBytesPerSecond),
      ...this.#compressionAdvice(),
    ];
    const order = { high: 0, medium: 1, low: 2 };
    recommendations.sort((a, b) => order[a.priority] - order[b.priority]);
    return {
      generatedAt: latest.at,
      window: { samples: samples.length, spanMs },
      backends,
      memory: {
        rssBytes: latest.rssBytes,
        heapUsedBytes: latest.heapUsedBytes,
        trend: trend(heap),
        growthBytesPerSecond,
      },
      hitRateTrends,
      recommendations,
    };
  }

  /** Stops the sampling timer. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #state(backend: string): BackendState {
    let state = this.#backends.get(backend);
    if (!state) {
      state = {
        operations: new Map(),
        storedBytes: 0,
        plainBytes: 0,
        largePlainPuts: 0,
        sampledPlain: 0,
        sampledGzip: 0,
        sampled: 0,
      };
      this.#backends.set(backend, state);
    }
    return state;
  }

  #record(state: BackendState, backend: string, operation: string, ms: number): void {
    this.#seconds.observe({ backend, operation }, ms / 1000);
    let stats = state.operations.get(operation);
    if (!stats) {
      stats = { count: 0, totalMs: 0, maxMs: 0 };
      state.operations.set(operation, stats);
    }
    stats.count++;
    stats.totalMs += ms;
    if (ms > stats.maxMs) stats.maxMs = ms;
  }

  #measure(state: BackendState, backend: string, doc: StoredDocument, value: unknown): void {
    const storage = doc.storage;
    if (!storage) return;
    state.storedBytes += storage.sizeBytes;
    state.plainBytes += storage.plainBytes;
    this.#bytes.inc({ backend, form: 'stored' }, storage.sizeBytes);
    this.#bytes.inc({ backend, form: 'plain' }, storage.plainBytes);
    if (storage.compression !== 'none' || storage.plainBytes < LARGE_VALUE) return;
    if (state.largePlainPuts++ % SAMPLE_EVERY !== 0) return;
    // Measure what gzip would save on this value, so the advice gives a number instead of a guess. The
    // driver keeps its bytes to itself and may use another codec than the default: a value the default
    // codec cannot encode is simply not sampled.
    let text: Buffer;
    try {
      text = Buffer.from(JSON.stringify(defaultCodec.encode(value)), 'utf8');
    } catch {
      return;
    }
    state.sampledPlain += text.byteLength;
    state.sampledGzip += compress(text, 'gzip').byteLength;
    state.sampled++;
  }

  #cacheAdvice(backends: BackendReport[]): Recommendation[] {
    const advice: Recommendation[] = [];
    for (const { backend, cache } of backends) {
      if (!cache || cache.hits + cache.misses < this.#minCacheReads || cache.hitRate >= 0.5) continue;
      const full = cache.entries >= cache.maxEntries || cache.bytes >= cache.maxBytes * 0.9;
      const raise = full
        ? `raise maxEntries (now ${cache.maxEntries}) or maxBytes (now ${cache.maxBytes}): the cache is full and evicted ${cache.evictions} entries`
        : `raise ttlMs (now ${cache.ttlMs}): the cache is not full (${cache.entries} of ${cache.maxEntries} entries), so entries expire before they are read again`;
      advice.push({
        type: 'cache',
        priority: 'high',
        backend,
        message: `cache of backend '${backend}' answers ${percent(cache.hitRate)} of reads (${cache.hits} of ${cache.hits + cache.misses}); ${raise}`,
      });
    }
    return advice;
  }

  #memoryAdvice(heap: number[], growthBytesPerSecond: number): Recommendation[] {
    const n = this.#leakSamples;
    if (heap.length < n + 1) return [];
    const recent = heap.slice(-(n + 1));
    if (!recent.every((v, i) => i === 0 || v > recent[i - 1]!)) return [];
    return [
      {
        type: 'memory',
        priority: 'medium',
        message: `heap grew in each of the last ${n} samples (${mib(recent[0]!)} -> ${mib(recent[n]!)}, ${mib(growthBytesPerSecond * 60)}/min): possible leak; look for states kept after use and unbounded collections`,
      },
    ];
  }

  #compressionAdvice(): Recommendation[] {
    const advice: Recommendation[] = [];
    for (const [backend, state] of this.#backends) {
      if (state.sampled === 0) continue;
      const saving = 1 - state.sampledGzip / state.sampledPlain;
      if (saving < 0.2) continue;
      advice.push({
        type: 'compression',
        priority: saving > 0.5 ? 'medium' : 'low',
        backend,
        message: `backend '${backend}' stored ${state.largePlainPuts} values of ${LARGE_VALUE} bytes or more uncompressed; gzip saves ${percent(saving)} on ${state.sampled} sampled (${kib(state.sampledPlain / state.sampled)} -> ${kib(state.sampledGzip / state.sampled)} on average): set compression: gzip`,
      });
    }
    return advice;
  }
}

function backendReport(backend: string, state: BackendState): BackendReport {
  const operations: BackendReport['operations'] = {};
  for (const [operation, s] of state.operations) {
    operations[operation] = { count: s.count, meanMs: s.totalMs / s.count, maxMs: s.maxMs };
  }
  return {
    backend,
    operations,
    storedBytes: state.storedBytes,
    plainBytes: state.plainBytes,
    compressionRatio: state.plainBytes > 0 ? state.storedBytes / state.plainBytes : undefined,
    ...(state.cache && { cache: state.cache.stats() }),
  };
}

/** The seed's trend rule: the mean of the last third against the mean of the rest, +-10%. */
function trend(values: number[]): Trend {
  if (values.length < 4) return 'insufficient data';
  const cut = Math.max(1, Math.floor((values.length * 2) / 3));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const earlier = mean(values.slice(0, cut));
  const recent = mean(values.slice(cut));
  if (recent > earlier * 1.1) return 'rising';
  if (recent < earlier * 0.9) return 'falling';
  return 'stable';
}

const percent = (x: number) => `${Math.round(x * 100)}%`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
