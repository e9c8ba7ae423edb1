import { type Codec, codec as defaultCodec, type JsonValue } from '../codec/index.ts';
import { ClosedError } from '../errors.ts';
import { ChangeHub } from './shared/changeHub.ts';
import { decodeCursor, encodeCursor } from './shared/cursor.ts';
import { ExpiryHeap } from './shared/expiryHeap.ts';
import { defineLazyValue } from './shared/lazyValue.ts';
import { revisionConflict } from './shared/revisionConflict.ts';
import {
  checkBatch,
  checkDeleteOptions,
  checkId,
  checkListOptions,
  checkNamespace,
  checkPutOptions,
} from './shared/validate.ts';
import type {
  BatchOperation,
  BatchResult,
  ChangeEvent,
  ChangeListener,
  DeleteOptions,
  DocumentStore,
  DriverOptions,
  ListOptions,
  ListPage,
  PutOptions,
  StoredDocument,
  Subscription,
} from './types.ts';

interface Entry {
  // The encoded form, never the caller's object: later mutations of a value never reach the store.
  encoded: JsonValue;
  revision: number;
  createdAt: number;
  updatedAt: number;
  metadata?: Record<string, unknown>;
  expiresAt?: number;
}

/** Options of `createMemoryStore`. */
export type MemoryStoreOptions = DriverOptions;

/** A `DocumentStore` in process memory: for tests, caches and single-process tools. Nothing survives a restart. */
export function createMemoryStore(options: MemoryStoreOptions = {}): DocumentStore {
  const codec: Codec = options.codec ?? defaultCodec;
  const now = options.now ?? Date.now;
  const namespaces = new Map<string, Map<string, Entry>>();
  const expiries = new ExpiryHeap();
  const hub = new ChangeHub();
  let closed = false;
  const sweepTimer = setInterval(() => void sweep(), options.sweepIntervalMs ?? 30_000);
  sweepTimer.unref();

  function open(): void {
    if (closed) throw new ClosedError('the memory store is closed');
  }

  function live(namespace: string, id: string): Entry | undefined {
    const entry = namespaces.get(namespace)?.get(id);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= now()) return undefined;
    return entry;
  }

  // `lazy`: decode the value on first read (see defineLazyValue), for `put` results that callers often drop.
  function toDocument<V>(namespace: string, id: string, entry: Entry, lazy = false): StoredDocument<V> {
    const fields = {
      namespace,
      id,
      revision: entry.revision,
      createdAt: entry.createdAt,
      updatedAt: entry.updatedAt,
      ...(entry.metadata && { metadata: structuredClone(entry.metadata) }),
      ...(entry.expiresAt !== undefined && { expiresAt: entry.expiresAt }),
    };
    const decode = () => codec.decode(entry.encoded) as V;
    return lazy ? defineLazyValue(fields, decode) : { ...fields, value: decode() };
  }

  // Validates and prepares a put without changing anything, so a batch can check every op first.
  function preparePut(
    namespace: string,
    id: string,
    value: unknown,
    opts: PutOptions | undefined,
    pending: Map<string, number>,
  ): Entry {
    const key = `${namespace}\0${id}`;
    const current = pending.has(key) ? pending.get(key)! : (live(namespace, id)?.revision ?? 0);
    if (opts?.expectedRevision !== undefined && opts.expectedRevision !== current)
      throw revisionConflict(namespace, id, opts.expectedRevision, current);
    const encoded = codec.encode(value, `$[${JSON.stringify(`${namespace}/${id}`)}]`);
    const t = now();
    const previous = current > 0 ? live(namespace, id) : undefined;
    pending.set(key, current + 1);
    return {
      encoded,
      revision: current + 1,
      createdAt: previous && current === previous.revision ? previous.createdAt : t,
      updatedAt: t,
      ...(opts?.metadata && {
        metadata: codec.decode(codec.encode(opts.metadata)) as Record<string, unknown>,
      }),
      ...(opts?.ttlMs !== undefined && { expiresAt: t + opts.ttlMs }),
    };
  }

  function commitPut(namespace: string, id: string, entry: Entry): void {
    let map = namespaces.get(namespace);
    if (!map) {
      map = new Map();
      namespaces.set(namespace, map);
    }
    map.set(id, entry);
    if (entry.expiresAt !== undefined) expiries.push({ at: entry.expiresAt, namespace, id });
  }

  function prepareDelete(
    namespace: string,
    id: string,
    opts: DeleteOptions | undefined,
    pending: Map<string, number>,
  ): number {
    const key = `${namespace}\0${id}`;
    const current = pending.has(key) ? pending.get(key)! : (live(namespace, id)?.revision ?? 0);
    if (opts?.expectedRevision !== undefined && opts.expectedRevision !== current)
      throw revisionConflict(namespace, id, opts.expectedRevision, current);
    pending.set(key, 0);
    return current;
  }

  async function sweep(): Promise<number> {
    if (closed) return 0;
    const t = now();
    let removed = 0;
    for (let item = expiries.popDue(t); item; item = expiries.popDue(t)) {
      const map = namespaces.get(item.namespace);
      const entry = map?.get(item.id);
      // Stale heap items (document rewritten with another expiry, or deleted) are skipped.
      if (!map || !entry || entry.expiresAt !== item.at) continue;
      map.delete(item.id);
      if (map.size === 0) namespaces.delete(item.namespace);
      removed++;
      hub.emit({ type: 'expire', namespace: item.namespace, id: item.id, revision: entry.revision });
    }
    return removed;
  }

  return {
    name: 'memory',

    async get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
      open();
      checkNamespace(namespace);
      checkId(id, namespace);
      const entry = live(namespace, id);
      return entry && toDocument<V>(namespace, id, entry);
    },

    async put<V>(namespace: string, id: string, value: V, opts?: PutOptions): Promise<StoredDocument<V>> {
      open();
      checkNamespace(namespace);
      checkId(id, namespace);
      checkPutOptions(opts, namespace, id);
      const entry = preparePut(namespace, id, value, opts, new Map());
      commitPut(namespace, id, entry);
      hub.emit({ type: 'put', namespace, id, revision: entry.revision });
      return toDocument<V>(namespace, id, entry, true);
    },

    async delete(namespace: string, id: string, opts?: DeleteOptions): Promise<boolean> {
      open();
      checkNamespace(namespace);
      checkId(id, namespace);
      checkDeleteOptions(opts, namespace, id);
      const revision = prepareDelete(namespace, id, opts, new Map());
      if (revision === 0) return false;
      namespaces.get(namespace)?.delete(id);
      hub.emit({ type: 'delete', namespace, id, revision });
      return true;
    },

    async list<V>(namespace: string, opts?: ListOptions): Promise<ListPage<V>> {
      open();
      checkNamespace(namespace);
      const limit = checkListOptions(opts, namespace);
      const after = decodeCursor(opts?.cursor, namespace);
      const prefix = opts?.prefix ?? '';
      const t = now();
      const map = namespaces.get(namespace);
      if (!map) return { items: [] };
      const ids: string[] = [];
      for (const [id, entry] of map) {
        if (!id.startsWith(prefix) || (after !== undefined && id <= after)) continue;
        if (entry.expiresAt !== undefined && entry.expiresAt <= t) continue;
        ids.push(id);
      }
      ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const page = ids.slice(0, limit);
      const items = page.map((id) => toDocument<V>(namespace, id, map.get(id)!));
      return ids.length > limit ? { items, cursor: encodeCursor(page[page.length - 1]!) } : { items };
    },

    async batch(operations: BatchOperation[]): Promise<BatchResult> {
      open();
      checkBatch(operations);
      // Phase 1 checks and encodes everything; phase 2 applies. An error in phase 1 changes nothing.
      const pending = new Map<string, number>();
      const prepared = operations.map((op) =>
        op.type === 'put'
          ? { op, entry: preparePut(op.namespace, op.id, op.value, op.options, pending), revision: 0 }
          : { op, entry: undefined, revision: prepareDelete(op.namespace, op.id, op.options, pending) },
      );
      const events: ChangeEvent[] = [];
      const results: BatchResult['results'] = prepared.map(({ op, entry, revision }) => {
        if (entry) {
          commitPut(op.namespace, op.id, entry);
          events.push({ type: 'put', namespace: op.namespace, id: op.id, revision: entry.revision });
          return { namespace: op.namespace, id: op.id, revision: entry.revision };
        }
        if (revision > 0) {
          namespaces.get(op.namespace)?.delete(op.id);
          events.push({ type: 'delete', namespace: op.namespace, id: op.id, revision });
        }
        return { namespace: op.namespace, id: op.id, revision: null, deleted: revision > 0 };
      });
      for (const event of events) hub.emit(event);
      return { results };
    },

    async watch(namespace: string, listener: ChangeListener): Promise<Subscription> {
      open();
      if (namespace !== '*') checkNamespace(namespace);
      return hub.subscribe(namespace, listener);
    },

    sweepExpired: sweep,

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      hub.clear();
      namespaces.clear();
      expiries.clear();
    },
  };
}
