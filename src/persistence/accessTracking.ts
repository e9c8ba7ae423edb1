/**
 * Access counts and last access time per document (the seed's `StateMetadata.access_count` and
 * `last_accessed`), opt-in. Reads are counted in memory and written in batches, one document per read
 * key per flush, never one write per read: a store that wrote on every read would turn each read into a
 * write. Counts live in their own namespace of the same store, so they survive restarts and add up
 * across processes (each flush adds its counts with compare-and-set).
 *
 * Memory is bounded by `maxPendingKeys`: counts that cannot be written (the store is down, or one key
 * keeps failing) are retried a few flushes, then left out; when the pending counts are full the oldest
 * is left out. Every count left out is reported to `onError`, never silently lost.
 */

import { createHash } from 'node:crypto';
import type { BatchOperation, DocumentStore, StoredDocument } from '../drivers/index.ts';
import { CapacityExceededError, errorMessage, isAgentStateError } from '../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';
import { settled } from '../shared/settled.ts';
import { wrapStore } from './wrapStore.ts';

/** Options of `trackAccess`. */
export interface AccessTrackingOptions {
  /** Namespace of the count documents (default `agentstate.access`). */
  namespace?: string;
  /** How often counts are written, ms (default 5000). */
  flushIntervalMs?: number;
  /**
   * Distinct keys counted before a flush is forced (default 10 000); the pending counts never exceed
   * it: beyond it the oldest pending count is left out and reported.
   */
  maxPendingKeys?: number;
  /**
   * Receives errors of background flushes and counts left out (default: a process warning). Counts of
   * a failed flush are retried by the next ones, up to 5 times, then left out and reported.
   */
  onError?: BackgroundErrorHandler;
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
  /** Writes the pending counts now; rejects when some could not be written (they are retried). */
  flush(): Promise<void>;
}

// What a count document holds: the document it counts, so the fixed-length id can be traced back.
interface CountDocument extends AccessInfo {
  namespace: string;
  id: string;
}

interface PendingCount extends CountDocument {
  // Flushes that failed for this key so far.
  failures: number;
}

const FLUSH_ATTEMPTS = 5;

/**
 * Id of the count document of `namespace`/`id`: a SHA-256, so that every count id is a valid id of the
 * same length whatever the length or characters of the counted one (those are kept in the value).
 */
export function accessCountId(namespace: string, id: string): string {
  return createHash('sha256').update(`${namespace}\0${id}`).digest('hex');
}

/** Wraps `store` so that every successful `get` is counted; counts are flushed in batches. */
export function trackAccess<S extends DocumentStore>(
  store: S,
  options: AccessTrackingOptions = {},
): AccessTrackedStore & Omit<S, keyof AccessTrackedStore> {
  const countsNamespace = options.namespace ?? 'agentstate.access';
  const maxPending = options.maxPendingKeys ?? 10_000;
  const now = options.now ?? Date.now;
  const onError = (error: unknown): void =>
    reportBackgroundError(options.onError, error, {
      source: 'access tracking flush',
      details: { namespace: countsNamespace },
    });
  // Keyed by the count id; Map order is insertion order, so the first entry is the oldest.
  let pending = new Map<string, PendingCount>();
  let flushing: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;
  const timer = setInterval(() => void tracked.flush().catch(onError), options.flushIntervalMs ?? 5000);
  timer.unref();

  /** Adds counts to the pending ones; when full, leaves out (and reports) the oldest. */
  function addPending(key: string, count: PendingCount): void {
    const known = pending.get(key);
    if (known) {
      known.count += count.count;
      known.lastAccessAt = Math.max(known.lastAccessAt, count.lastAccessAt);
      known.failures = Math.max(known.failures, count.failures);
      return;
    }
    if (pending.size >= maxPending) {
      const [oldestKey, oldest] = pending.entries().next().value as [string, PendingCount];
      pending.delete(oldestKey);
      onError(
        new CapacityExceededError(
          `access count of ${oldest.namespace}/${oldest.id} (${oldest.count} reads) left out: ${maxPending} counts are pending (maxPendingKeys)`,
          { namespace: oldest.namespace, id: oldest.id, maxPendingKeys: maxPending },
        ),
      );
    }
    pending.set(key, count);
  }

  async function write(batch: ReadonlyMap<string, PendingCount>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const operations: BatchOperation[] = [];
      for (const [key, info] of batch) {
        const doc = await store.get<CountDocument>(countsNamespace, key);
        const value: CountDocument = {
          namespace: info.namespace,
          id: info.id,
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

  async function flushPending(): Promise<void> {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    try {
      await write(batch);
      return;
    } catch {
      // The batch is all or nothing: find the keys that fail, so one of them cannot hold back the rest.
    }
    let firstError: unknown;
    let failed = 0;
    for (const [key, info] of batch) {
      try {
        await write(new Map([[key, info]]));
      } catch (error) {
        firstError ??= error;
        failed++;
        if (++info.failures < FLUSH_ATTEMPTS) {
          addPending(key, info);
        } else {
          onError(
            new CapacityExceededError(
              `access count of ${info.namespace}/${info.id} (${info.count} reads) left out after ${info.failures} failed flushes: ${errorMessage(error)}`,
              { namespace: info.namespace, id: info.id },
            ),
          );
        }
      }
    }
    if (failed > 0) {
      throw new CapacityExceededError(
        `access counts of ${failed} of ${batch.size} documents could not be written: ${errorMessage(firstError)}`,
        { failed },
      );
    }
  }

  const overrides = {
    async get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
      const doc = await store.get<V>(namespace, id);
      if (doc && namespace !== countsNamespace) {
        const key = accessCountId(namespace, id);
        const info = pending.get(key);
        if (info) {
          info.count++;
          info.lastAccessAt = now();
        } else {
          addPending(key, { namespace, id, count: 1, lastAccessAt: now(), failures: 0 });
          if (pending.size >= maxPending) void tracked.flush().catch(onError);
        }
      }
      return doc;
    },
    async accessInfo(namespace: string, id: string): Promise<AccessInfo | undefined> {
      const key = accessCountId(namespace, id);
      const stored = (await store.get<CountDocument>(countsNamespace, key))?.value;
      const unsaved = pending.get(key);
      if (!stored && !unsaved) return undefined;
      return {
        count: (stored?.count ?? 0) + (unsaved?.count ?? 0),
        lastAccessAt: Math.max(stored?.lastAccessAt ?? 0, unsaved?.lastAccessAt ?? 0),
      };
    },

    flush(): Promise<void> {
      // One flush at a time, and at most one waiting: it takes all counts gathered until it starts.
      if (queued) return queued;
      // The previous flush's failure went to its own caller.
      const next = settled(flushing).then(() => {
        queued = undefined;
        return flushPending();
      });
      queued = next;
      flushing = next;
      return next;
    },

    async close(): Promise<void> {
      clearInterval(timer);
      await tracked.flush().catch(onError);
      await store.close();
    },
  } satisfies Partial<AccessTrackedStore>;
  // Writes, lists and any extra of the wrapped store (versions, a cache's stats...) pass through.
  const tracked = wrapStore(store, overrides) as unknown as AccessTrackedStore &
    Omit<S, keyof AccessTrackedStore>;
  return tracked;
}
