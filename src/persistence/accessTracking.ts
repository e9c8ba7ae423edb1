/**
 * Access counts and last access time per document (the seed's `StateMetadata.access_count` and
 * `last_accessed`), opt-in. Reads are counted in memory and written in batches, one document per read
 * key per flush, never one write per read: a store that wrote on every read would turn each read into a
 * write. Counts live in their own namespace of the same store, so they survive restarts and add up
 * across processes (each flush adds its counts with compare-and-set).
 */

import type { BatchOperation, DocumentStore, StoredDocument } from '../drivers/types.ts';
import { errorMessage, isAgentStateError } from '../errors.ts';

/** Options of `trackAccess`. */
export interface AccessTrackingOptions {
  /** Namespace of the count documents (default `agentstate.access`). */
  namespace?: string;
  /** How often counts are written, ms (default 5000). */
  flushIntervalMs?: number;
  /** Distinct keys counted before a flush is forced (default 10 000), which bounds the memory used. */
  maxPendingKeys?: number;
  /** Receives errors of background flushes (default: a process warning). The counts are kept and retried. */
  onError?: (error: unknown) => void;
  /** Clock, epoch ms (default `Date.now`). */
  now?: () => number;
}

/** How often and when a document was last read. */
export interface AccessInfo {
  /** Reads counted (written ones plus those not flushed yet). */
  count: number;
  /** Last read, epoch ms. */
  lastAccessAt: number;
}

/** A store that counts its reads. */
export interface AccessTrackedStore extends DocumentStore {
  /** Counts of one document, or undefined when it was never read. */
  accessInfo(namespace: string, id: string): Promise<AccessInfo | undefined>;
  /** Writes the pending counts now. */
  flush(): Promise<void>;
}

const FLUSH_ATTEMPTS = 5;

/** Wraps `store` so that every successful `get` is counted; counts are flushed in batches. */
export function trackAccess(store: DocumentStore, options: AccessTrackingOptions = {}): AccessTrackedStore {
  const countsNamespace = options.namespace ?? 'agentstate.access';
  const maxPending = options.maxPendingKeys ?? 10_000;
  const now = options.now ?? Date.now;
  const onError =
    options.onError ??
    ((error: unknown) =>
      process.emitWarning(`access counts could not be written: ${errorMessage(error)}`, {
        code: 'AGENTSTATE_ACCESS_TRACKING',
      }));
  let pending = new Map<string, AccessInfo>();
  let flushing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => void tracked.flush().catch(onError), options.flushIntervalMs ?? 5000);
  timer.unref();

  // Length-prefixed, so that namespace `a:b` with id `c` and namespace `a` with id `b:c` never collide.
  const keyOf = (namespace: string, id: string) => `${namespace.length}:${namespace}:${id}`;

  async function write(batch: Map<string, AccessInfo>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const operations: BatchOperation[] = [];
      for (const [key, info] of batch) {
        const doc = await store.get<AccessInfo>(countsNamespace, key);
        const value: AccessInfo = {
          count: (doc?.value.count ?? 0) + info.count,
          lastAccessAt: Math.max(doc?.value.lastAccessAt ?? 0, info.lastAccessAt),
        };
        operations.push({
          type: 'put',
          namespace: countsNamespace,
          id: key,
          value,
          options: { expectedRevision: doc?.revision ?? 0 },
        });
      }
      try {
        await store.batch(operations);
        return;
      } catch (error) {
        // Another process flushed the same keys meanwhile: read again and add on top of theirs.
        if (!isAgentStateError(error, 'REVISION_CONFLICT') || attempt >= FLUSH_ATTEMPTS) throw error;
      }
    }
  }

  const tracked: AccessTrackedStore = {
    name: store.name,
    async get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
      const doc = await store.get<V>(namespace, id);
      if (doc && namespace !== countsNamespace) {
        const key = keyOf(namespace, id);
        const info = pending.get(key);
        if (info) {
          info.count++;
          info.lastAccessAt = now();
        } else {
          pending.set(key, { count: 1, lastAccessAt: now() });
          if (pending.size >= maxPending) void tracked.flush().catch(onError);
        }
      }
      return doc;
    },
    put: (namespace, id, value, opts) => store.put(namespace, id, value, opts),
    delete: (namespace, id, opts) => store.delete(namespace, id, opts),
    list: (namespace, opts) => store.list(namespace, opts),
    batch: (operations) => store.batch(operations),
    watch: (namespace, listener) => store.watch(namespace, listener),
    sweepExpired: () => store.sweepExpired(),

    async accessInfo(namespace: string, id: string): Promise<AccessInfo | undefined> {
      const key = keyOf(namespace, id);
      const stored = (await store.get<AccessInfo>(countsNamespace, key))?.value;
      const unsaved = pending.get(key);
      if (!stored && !unsaved) return undefined;
      return {
        count: (stored?.count ?? 0) + (unsaved?.count ?? 0),
        lastAccessAt: Math.max(stored?.lastAccessAt ?? 0, unsaved?.lastAccessAt ?? 0),
      };
    },

    flush(): Promise<void> {
      // One flush at a time; each takes the counts gathered so far and puts them back if it fails.
      flushing = flushing
        .catch(() => {})
        .then(async () => {
          if (pending.size === 0) return;
          const batch = pending;
          pending = new Map();
          try {
            await write(batch);
          } catch (error) {
            for (const [key, info] of batch) {
              const later = pending.get(key);
              pending.set(key, {
                count: info.count + (later?.count ?? 0),
                lastAccessAt: Math.max(info.lastAccessAt, later?.lastAccessAt ?? 0),
              });
            }
            throw error;
          }
        });
      return flushing;
    },

    async close(): Promise<void> {
      clearInterval(timer);
      await tracked.flush().catch(onError);
      await store.close();
    },
  };
  return tracked;
}
