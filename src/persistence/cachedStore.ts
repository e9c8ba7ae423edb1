/**
 * `CachedStore`: a size-bounded LRU with TTL in front of any `DocumentStore` (the seed's `StateLRUCache`
 * and `get_cached_state`/`cache_state`), on lru-cache, bounded by entries AND by bytes.
 *
 * - Read-through and write-through: a miss reads the store and fills the cache; a put stores, then caches
 *   what was stored, so a read after a write in this process never returns the old value.
 * - Invalidated by the store's change feed: a write by another process (SQLite, PostgreSQL) evicts this
 *   process's entry as soon as the driver reports it. A read that was in flight while any invalidation
 *   arrived does not fill the cache, so a stale read can never be cached after its invalidation.
 * - Hits are the hot path: one Map lookup in lru-cache and a counter, no copy. So cached values are
 *   SHARED between readers and deep-frozen (objects and arrays; a Map, Set or Date inside cannot be
 *   frozen by JavaScript): copy before you change one (`structuredClone`). The seed's cache handed out
 *   its live objects unfrozen, so one caller's change silently altered every other reader's state.
 */
import { LRUCache } from 'lru-cache';
import type {
  BatchOperation,
  BatchResult,
  ChangeEvent,
  DeleteOptions,
  DocumentStore,
  PutOptions,
  StoredDocument,
  Subscription,
} from '../drivers/index.ts';
import { checkTtlMs } from '../drivers/index.ts';
import { InvalidInputError } from '../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';
import { deepFreeze } from '../shared/deepFreeze.ts';
import { wrapStore } from './wrapStore.ts';

/** Options of `createCachedStore`. */
export interface CachedStoreOptions {
  /** Most documents kept (default 10 000). */
  maxEntries?: number;
  /** Most bytes kept, counted as each value's JSON size (default 64 MiB). */
  maxBytes?: number;
  /** How long an entry may be served without asking the store, ms (default 60 000). */
  ttlMs?: number;
  /** Clock for documents' own expiry, epoch ms (default `Date.now`; give the store's clock if injected). */
  now?: () => number;
  /**
   * Receives a failure of the invalidation feed opened at creation (the next call retries it and
   * throws it to its caller) or of closing it (default: a process warning).
   */
  onError?: BackgroundErrorHandler;
}

/** Counts of a `CachedStore`. */
export interface CacheStatistics {
  /** Reads answered from the cache. */
  hits: number;
  /** Reads that went to the store. */
  misses: number;
  /** Entries dropped to stay within maxEntries / maxBytes. */
  evictions: number;
  /** Entries dropped because the change feed reported a write, delete or expiry. */
  invalidations: number;
  /** hits / (hits + misses); 0 before any read. */
  hitRate: number;
  /** Entries now. */
  entries: number;
  /** Bytes now. */
  bytes: number;
  /** Configured bounds. */
  maxEntries: number;
  /** Configured bounds. */
  maxBytes: number;
  /** Configured TTL, ms. */
  ttlMs: number;
}

/** A `DocumentStore` with a cache in front. */
export interface CachedStore extends DocumentStore {
  /** The store behind the cache. */
  readonly inner: DocumentStore;
  /**
   * The document if the cache holds it (shared and frozen, as `get` returns it), else undefined; never
   * reads the store. Synchronous, for hot paths that can do without the store (the seed's
   * `get_cached_state`). A hit counts as a hit; a miss counts nothing, since no read was made.
   */
  peek<V = unknown>(namespace: string, id: string): StoredDocument<V> | undefined;
  /** Hit, miss, eviction and invalidation counts. */
  stats(): CacheStatistics;
  /** Drops every entry. */
  clear(): void;
}

// A cached document and the settled promise every hit returns: one promise per entry, not one per read
// (a resolved promise can be awaited any number of times, and the document in it is frozen).
interface Entry {
  doc: StoredDocument;
  answer: Promise<StoredDocument>;
}

const DEFAULTS = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, ttlMs: 60_000 };
// Size of a document written before sizes were kept: a guess that keeps the byte bound meaningful.
const UNKNOWN_SIZE = 1024;

/**
 * Wraps `store` in a cache; closing the cached store closes `store` too. Members of `store` beyond
 * `DocumentStore` (a driver's `versions`, `accessInfo`...) are passed through uncached.
 */
export function createCachedStore<S extends DocumentStore>(
  store: S,
  options: CachedStoreOptions = {},
): CachedStore & Omit<S, keyof CachedStore> {
  const maxEntries = options.maxEntries ?? DEFAULTS.maxEntries;
  const maxBytes = options.maxBytes ?? DEFAULTS.maxBytes;
  const ttlMs = options.ttlMs ?? DEFAULTS.ttlMs;
  const now = options.now ?? Date.now;
  for (const [name, value] of [
    ['maxEntries', maxEntries],
    ['maxBytes', maxBytes],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidInputError(`cache ${name} must be a positive whole number, got ${String(value)}`, {
        option: name,
      });
    }
  }
  checkTtlMs(ttlMs, { option: 'ttlMs' });
  let hits = 0;
  let misses = 0;
  let evictions = 0;
  let invalidations = 0;
  // Bumped by every invalidation and write: a miss whose read overlapped one does not fill the cache.
  let epoch = 0;
  const cache = new LRUCache<string, Entry>({
    max: maxEntries,
    maxSize: maxBytes,
    sizeCalculation: (entry) => Math.max(1, entry.doc.storage?.plainBytes ?? UNKNOWN_SIZE),
    ttl: ttlMs,
    // Expiry is checked on read only (lru-cache's default): no timer per entry.
    dispose: (_doc, _key, reason) => {
      if (reason === 'evict') evictions++;
    },
  });

  const keyOf = (namespace: string, id: string) => `${namespace}\0${id}`;

  // Keys with a write of this process in flight. Two overlapping writes of one key can return in either
  // order, so a write may only fill the cache if nothing else touched the key while it was in flight:
  // no other local write started (`generation`) and the feed reported no delete or expiry (which also
  // bump `generation`) and no put of a later revision (`feedRevision`). Entries live only while a write
  // is in flight, so the map is bounded by the writes in progress.
  const writing = new Map<string, { generation: number; inFlight: number; feedRevision: number }>();

  function writeStarted(key: string): number {
    const state = writing.get(key);
    if (state) {
      state.inFlight++;
      return ++state.generation;
    }
    writing.set(key, { generation: 1, inFlight: 1, feedRevision: 0 });
    return 1;
  }

  /** Ends a write; true when its result may be cached (nothing else touched the key meanwhile). */
  function writeSettled(key: string, generation: number, revision: number): boolean {
    const state = writing.get(key);
    if (!state) return false;
    if (--state.inFlight === 0) writing.delete(key);
    return state.generation === generation && state.feedRevision <= revision;
  }

  function invalidate(event: ChangeEvent): void {
    const key = keyOf(event.namespace, event.id);
    const state = writing.get(key);
    if (state) {
      // A put's own event may arrive before the put returns; a later revision or a delete means another
      // writer got in between, and the returning write must not cache its (then stale) result.
      if (event.type === 'put') state.feedRevision = Math.max(state.feedRevision, event.revision);
      else state.generation++;
    }
    const cached = cache.peek(key);
    // Our own put reported back by the feed: the entry is already that revision.
    if (event.type === 'put' && cached?.doc.revision === event.revision) return;
    epoch++;
    if (cached && cache.delete(key)) invalidations++;
  }

  let watching: Promise<Subscription> | undefined;
  let subscription: Subscription | undefined;
  function ready(): Promise<Subscription> | undefined {
    if (subscription) return undefined;
    // A reset (the feed dropped and is back) means invalidations may have been missed: start over.
    watching ??= store.watch('*', invalidate, { onReset: () => cached.clear() }).then(
      (s) => {
        subscription = s;
        return s;
      },
      (error: unknown) => {
        watching = undefined; // retried by the next call
        throw error;
      },
    );
    return watching;
  }
  const reportFeedError = (error: unknown, what: string): void =>
    reportBackgroundError(options.onError, error, {
      source: 'CachedStore invalidation feed',
      details: { what },
    });
  ready()?.catch((error: unknown) => reportFeedError(error, 'watch'));

  function remember<V>(doc: StoredDocument<V>): StoredDocument<V> {
    // Spreading reads a lazily decoded value once; the copy is then frozen as a whole.
    const shared = { ...doc };
    deepFreeze(shared.value);
    Object.freeze(shared);
    cache.set(keyOf(doc.namespace, doc.id), { doc: shared, answer: Promise.resolve(shared) });
    return shared;
  }

  // The entry of a key unless it is missing or its document expired (an expired one is dropped).
  function live(key: string): Entry | undefined {
    const hit = cache.get(key);
    if (hit === undefined) return undefined;
    const expiresAt = hit.doc.expiresAt;
    if (expiresAt === undefined || expiresAt > now()) return hit;
    cache.delete(key);
    return undefined;
  }

  async function miss<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
    const before = epoch;
    misses++;
    const doc = await store.get<V>(namespace, id);
    if (!doc) return undefined;
    if (epoch !== before) return doc;
    return remember(doc);
  }

  // A write whose result is not cached (delete, touch): the key is dropped once it settled, and no read
  // that overlapped it may refill the cache with what it read before.
  async function uncaching<T>(namespace: string, id: string, write: () => Promise<T>): Promise<T> {
    await ready();
    const key = keyOf(namespace, id);
    epoch++;
    const generation = writeStarted(key);
    try {
      return await write();
    } finally {
      epoch++;
      writeSettled(key, generation, 0);
      cache.delete(key);
    }
  }

  // A driver's one-step `touch` changes the expiry of a cached document: offered only when the driver has
  // it (callers fall back to a rewrite through `touchExpiry` otherwise, which put already handles).
  const innerTouch = store.touch;
  const touch =
    innerTouch === undefined
      ? {}
      : {
          touch: (namespace: string, id: string, ttlMs: number): Promise<boolean> =>
            uncaching(namespace, id, () => innerTouch.call(store, namespace, id, ttlMs)),
        };

  const overrides = {
    inner: store as DocumentStore,

    get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
      if (!subscription) return (ready() as Promise<unknown>).then(() => cached.get<V>(namespace, id));
      const hit = live(keyOf(namespace, id));
      if (hit !== undefined) {
        hits++;
        return hit.answer as Promise<StoredDocument<V>>;
      }
      return miss<V>(namespace, id);
    },

    peek<V>(namespace: string, id: string): StoredDocument<V> | undefined {
      // Before the change feed is up nothing is cached (every fill waits for it).
      const hit = subscription ? live(keyOf(namespace, id)) : undefined;
      if (hit === undefined) return undefined;
      hits++;
      return hit.doc as StoredDocument<V>;
    },

    async put<V>(namespace: string, id: string, value: V, opts?: PutOptions): Promise<StoredDocument<V>> {
      await ready();
      const key = keyOf(namespace, id);
      epoch++;
      const generation = writeStarted(key);
      let doc: StoredDocument<V>;
      try {
        doc = await store.put(namespace, id, value, opts);
      } catch (error) {
        writeSettled(key, generation, 0);
        // A conflict means another writer got there first: what we hold may be stale.
        cache.delete(key);
        throw error;
      }
      epoch++;
      if (writeSettled(key, generation, doc.revision)) return remember(doc);
      // Another write of this key overlapped ours: which one the store holds last is unknown here.
      cache.delete(key);
      return doc;
    },

    delete(namespace: string, id: string, opts?: DeleteOptions): Promise<boolean> {
      return uncaching(namespace, id, () => store.delete(namespace, id, opts));
    },

    async batch(operations: BatchOperation[]): Promise<BatchResult> {
      await ready();
      epoch++;
      const keys = Array.isArray(operations) ? operations.map((op) => keyOf(op?.namespace, op?.id)) : [];
      const generations = keys.map(writeStarted);
      try {
        return await store.batch(operations);
      } finally {
        epoch++;
        keys.forEach((key, i) => {
          writeSettled(key, generations[i]!, 0);
          cache.delete(key);
        });
      }
    },

    async close(): Promise<void> {
      cache.clear();
      // The store is closed next either way; a feed that fails to stop is reported, not thrown.
      await subscription?.close().catch((error: unknown) => reportFeedError(error, 'close'));
      await store.close();
    },

    stats(): CacheStatistics {
      const reads = hits + misses;
      return {
        hits,
        misses,
        evictions,
        invalidations,
        hitRate: reads === 0 ? 0 : hits / reads,
        entries: cache.size,
        bytes: cache.calculatedSize,
        maxEntries,
        maxBytes,
        ttlMs,
      };
    },

    clear(): void {
      epoch++;
      // A write in flight may return a value some change already replaced: it must not refill.
      for (const state of writing.values()) state.generation++;
      cache.clear();
    },
  } satisfies Omit<CachedStore, 'name' | 'list' | 'listNamespaces' | 'watch' | 'sweepExpired'>;
  // list, listNamespaces, watch, sweepExpired and any extra of the wrapped store (versions, accessInfo...) pass through.
  // TypeScript cannot relate Omit<S, ...> of a generic S to the members given; the overrides are checked
  // against CachedStore by the `satisfies` above.
  const cached = wrapStore(store, { ...overrides, ...touch }) as unknown as CachedStore &
    Omit<S, keyof CachedStore>;
  return cached;
}
