import { type Codec, codec as defaultCodec, type JsonValue } from '../codec/index.ts';
import { ClosedError } from '../errors.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { ExpiryHeap } from '../shared/expiryHeap.ts';
import { ChangeHub } from './shared/changeHub.ts';
import { batchOutcome, putResult, valuePath } from './shared/documents.ts';
import type { OptionSchemaOf } from './shared/optionSchema.ts';
import { packPayload, payloadSettings, unpackPayload } from './shared/payload.ts';
import { checkRevision } from './shared/revisionConflict.ts';
import { startSweepTimer } from './shared/sweepTimer.ts';
import {
  checkBatch,
  checkDeleteOptions,
  checkDocumentKey,
  checkList,
  checkNamespaceList,
  checkPutOptions,
  checkWatchNamespace,
  namespacePage,
} from './shared/validate.ts';
import type {
  BatchOperation,
  BatchResult,
  ChangeListener,
  DeleteOptions,
  DocumentStore,
  DriverOptions,
  ListOptions,
  ListPage,
  NamespaceListOptions,
  NamespacePage,
  PutOptions,
  StorageInfo,
  StoredDocument,
  Subscription,
} from './types.ts';

interface Entry {
  // The encoded form, never the caller's object: later mutations of a value never reach the store.
  // Absent when the value is kept compressed or encrypted in `payload`.
  encoded: JsonValue | undefined;
  payload: Uint8Array | undefined;
  // Computed on first use for plain values (see storageOf).
  storage: StorageInfo | undefined;
  revision: number;
  createdAt: number;
  updatedAt: number;
  // Encoded too, and decoded on every read: each caller gets its own copy.
  metadata?: JsonValue;
  expiresAt?: number;
}

/** Options of `createMemoryStore`. */
export type MemoryStoreOptions = DriverOptions;

/** The memory driver has no options beyond `DriverOptions`. */
export const MEMORY_STORE_OPTIONS = {} as const satisfies OptionSchemaOf<
  Omit<MemoryStoreOptions, keyof DriverOptions>
>;

// Pages shorter than this are selected while scanning (see list); longer ones sort every matching id.
const SHORT_PAGE = 64;

// Inserts `id` into the sorted `ids` and drops the largest entry beyond `keep`.
function insertSorted(ids: string[], id: string, keep: number): void {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (ids[middle]! < id) low = middle + 1;
    else high = middle;
  }
  ids.splice(low, 0, id);
  if (ids.length > keep) ids.pop();
}

/** A `DocumentStore` in process memory: for tests, caches and single-process tools. Nothing survives a restart. */
export function createMemoryStore(options: MemoryStoreOptions = {}): DocumentStore {
  const settings = payloadSettings(options, 'memory', MEMORY_STORE_OPTIONS);
  const codec: Codec = options.codec ?? defaultCodec;
  const now = options.now ?? Date.now;
  const namespaces = new Map<string, Map<string, Entry>>();
  const expiries = new ExpiryHeap();
  const hub = new ChangeHub();
  let closed = false;
  const sweepTimer = startSweepTimer(options.sweepIntervalMs, 'memory', sweep);

  function open(): void {
    if (closed) throw new ClosedError('the memory store is closed');
  }

  function live(namespace: string, id: string): Entry | undefined {
    const entry = namespaces.get(namespace)?.get(id);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= now()) return undefined;
    return entry;
  }

  // A plain value's size and SHA-256 cost a JSON.stringify and a hash, about a third of a put: they are
  // computed when first asked for, from the encoded form (which gives the same text every time).
  function storageOf(entry: Entry): StorageInfo {
    entry.storage ??= packPayload(JSON.stringify(entry.encoded), settings).storage;
    return entry.storage;
  }

  // Adds `storage` as an enumerable getter, so reading it (or spreading the document) computes it once.
  function withStorage<D extends object>(doc: D, entry: Entry): D & { storage: StorageInfo } {
    return Object.defineProperty(doc, 'storage', {
      enumerable: true,
      configurable: true,
      get: () => storageOf(entry),
    }) as D & { storage: StorageInfo };
  }

  function readValue(namespace: string, id: string, entry: Entry): unknown {
    if (entry.encoded !== undefined && !settings.verifyChecksums) return codec.decode(entry.encoded);
    const stored = entry.payload ?? JSON.stringify(entry.encoded);
    const text = unpackPayload(stored, storageOf(entry).checksum, settings, {
      namespace,
      id,
      where: 'memory',
    });
    return codec.decode(JSON.parse(text) as JsonValue);
  }

  function toDocument<V>(namespace: string, id: string, entry: Entry): StoredDocument<V> {
    return withStorage(
      {
        namespace,
        id,
        value: readValue(namespace, id, entry) as V,
        revision: entry.revision,
        createdAt: entry.createdAt,
        updatedAt: entry.updatedAt,
        ...(entry.metadata !== undefined && {
          metadata: codec.decode(entry.metadata) as Record<string, unknown>,
        }),
        ...(entry.expiresAt !== undefined && { expiresAt: entry.expiresAt }),
      },
      entry,
    );
  }

  // Validates and prepares a put without changing anything, so a batch can check every op first.
  function preparePut(
    namespace: string,
    id: string,
    value: unknown,
    opts: PutOptions | undefined,
    pending: Map<string, number>,
  ): { entry: Entry; encoded: JsonValue } {
    const key = `${namespace}\0${id}`;
    const existing = live(namespace, id);
    const current = pending.has(key) ? pending.get(key)! : (existing?.revision ?? 0);
    checkRevision(namespace, id, opts?.expectedRevision, current);
    const encoded = codec.encode(value, valuePath(namespace, id));
    // Only compression and encryption need the bytes now; a plain value is kept as its encoded form.
    const packed =
      settings.compression === 'none' && !settings.encryption
        ? undefined
        : packPayload(JSON.stringify(encoded), settings);
    const t = now();
    pending.set(key, current + 1);
    const payload = packed && packed.text === undefined ? packed.bytes : undefined;
    const entry: Entry = {
      encoded: payload ? undefined : encoded,
      payload,
      storage: packed?.storage,
      revision: current + 1,
      // Kept only when this put replaces the stored document itself (not one the batch deleted or wrote).
      createdAt: existing && current === existing.revision ? existing.createdAt : t,
      updatedAt: t,
      ...(opts?.metadata && { metadata: codec.encode(opts.metadata) }),
      ...(opts?.ttlMs !== undefined && { expiresAt: t + opts.ttlMs }),
    };
    return { entry, encoded };
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
    checkRevision(namespace, id, opts?.expectedRevision, current);
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
      checkDocumentKey(namespace, id);
      const entry = live(namespace, id);
      return entry && toDocument<V>(namespace, id, entry);
    },

    async put<V>(namespace: string, id: string, value: V, opts?: PutOptions): Promise<StoredDocument<V>> {
      open();
      checkDocumentKey(namespace, id);
      checkPutOptions(opts, namespace, id);
      const { entry, encoded } = preparePut(namespace, id, value, opts, new Map());
      commitPut(namespace, id, entry);
      hub.emit({ type: 'put', namespace, id, revision: entry.revision });
      return withStorage(putResult<V>(codec, namespace, id, entry, encoded, entry.metadata), entry);
    },

    async touch(namespace: string, id: string, ttlMs: number): Promise<boolean> {
      open();
      checkDocumentKey(namespace, id);
      checkPutOptions({ ttlMs }, namespace, id);
      const entry = live(namespace, id);
      if (entry === undefined) return false;
      // The heap item of the old expiry goes stale (the sweep skips it, see sweep()).
      entry.expiresAt = now() + ttlMs;
      expiries.push({ at: entry.expiresAt, namespace, id });
      return true;
    },

    async delete(namespace: string, id: string, opts?: DeleteOptions): Promise<boolean> {
      open();
      checkDocumentKey(namespace, id);
      checkDeleteOptions(opts, namespace, id);
      const revision = prepareDelete(namespace, id, opts, new Map());
      if (revision === 0) return false;
      namespaces.get(namespace)?.delete(id);
      hub.emit({ type: 'delete', namespace, id, revision });
      return true;
    },

    async list<V>(namespace: string, opts?: ListOptions): Promise<ListPage<V>> {
      open();
      const { limit, after, prefix } = checkList(namespace, opts);
      const t = now();
      const map = namespaces.get(namespace);
      if (!map) return { items: [] };
      // A short page (the latest checkpoint of a thread is a page of 1) keeps only the smallest limit + 1
      // ids while scanning, in a sorted array of at most SHORT_PAGE entries, instead of sorting them all.
      const ids: string[] = [];
      const short = limit < SHORT_PAGE;
      for (const [id, entry] of map) {
        if (!id.startsWith(prefix) || (after !== undefined && id <= after)) continue;
        if (entry.expiresAt !== undefined && entry.expiresAt <= t) continue;
        if (!short) ids.push(id);
        else if (ids.length <= limit || id < ids[limit]!) insertSorted(ids, id, limit + 1);
      }
      if (!short) ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const page = ids.slice(0, limit);
      const items = page.map((id) => toDocument<V>(namespace, id, map.get(id)!));
      return ids.length > limit ? { items, cursor: encodeCursor(page[page.length - 1]!) } : { items };
    },

    async listNamespaces(opts?: NamespaceListOptions): Promise<NamespacePage> {
      open();
      const query = checkNamespaceList(opts);
      // A namespace whose last document was deleted keeps an empty map until the sweep: not listed.
      return namespacePage(
        [...namespaces].filter(([, map]) => map.size > 0).map(([name]) => name),
        query,
      );
    },

    async batch(operations: BatchOperation[]): Promise<BatchResult> {
      open();
      checkBatch(operations);
      // Phase 1 checks and encodes everything; phase 2 applies. An error in phase 1 changes nothing.
      const pending = new Map<string, number>();
      const prepared = operations.map((op) =>
        op.type === 'put'
          ? { op, entry: preparePut(op.namespace, op.id, op.value, op.options, pending).entry, revision: 0 }
          : { op, entry: undefined, revision: prepareDelete(op.namespace, op.id, op.options, pending) },
      );
      const revisions = prepared.map(({ op, entry, revision }) => {
        if (entry) {
          commitPut(op.namespace, op.id, entry);
          return entry.revision;
        }
        if (revision > 0) namespaces.get(op.namespace)?.delete(op.id);
        return revision;
      });
      const { results, events } = batchOutcome(operations, revisions);
      for (const event of events) hub.emit(event);
      return { results };
    },

    async watch(namespace: string, listener: ChangeListener): Promise<Subscription> {
      open();
      checkWatchNamespace(namespace);
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
