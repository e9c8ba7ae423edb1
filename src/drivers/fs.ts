import { readFile } from 'node:fs/promises';
import { type Codec, codec as defaultCodec, type JsonValue } from '../codec/index.ts';
import { ClosedError, CorruptStateError, InvalidInputError } from '../errors.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { type FsCore, type IndexEntry, isMissing, releaseCore, retainCore } from './fs/core.ts';
import { DOCUMENT_FORMAT, type DocumentHeader, formatDocument, parseDocument } from './fs/envelope.ts';
import { checkFsId } from './fs/fileNames.ts';
import type { JournalEntry } from './fs/journal.ts';
import { mapLimit } from './fs/mapLimit.ts';
import { keptVersions } from './fs/versions.ts';
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

/** Where the filesystem driver keeps its files unless told otherwise. */
export const DEFAULT_FS_DIR = './.agentstate/documents';

/** Options of `createFsStore`. */
export interface FsStoreOptions extends DriverOptions {
  /** Store directory (default `./.agentstate/documents`; created if missing). One process at a time. */
  dir?: string;
  /**
   * fsync every file and directory change before a write resolves (default true), so acknowledged
   * writes survive power loss. With false they still survive a crash or `kill -9` of the process (the
   * data is in the OS page cache) but not an OS crash. The first handle opened on a directory decides.
   */
  durable?: boolean;
  /**
   * Earlier versions kept per document (default 0): before a write or delete replaces a document's
   * file, it is copied (atomically; fsynced when durable) to
   * `<namespace>/.versions/<file>/<sequence>-<revision>.jsonl` and only the newest `keepVersions` are
   * kept, newest by a per-document sequence that keeps growing across delete and re-create. Listed by
   * `versions()`, read by `getVersion()`. The first handle decides.
   */
  keepVersions?: number;
  /**
   * Told about every corrupt file that was moved aside (on open, or when a read finds it). Default:
   * a process warning. Reads of a corrupt document also throw `CorruptStateError` naming both paths.
   */
  onCorruption?: (error: CorruptStateError) => void;
}

// A put with its value encoded before any lock is taken, so encoding errors change nothing.
interface PreparedPut {
  encoded: JsonValue;
  // The value line: the JSON text, or a JSON string of the compressed/encrypted bytes in base64.
  text: string;
  storage: StorageInfo;
  metadata?: JsonValue;
}

/** The options of `createFsStore` beyond `DriverOptions`, by kind (the persistence config derives its own from them). */
export const FS_STORE_OPTIONS = {
  dir: 'string',
  durable: 'boolean',
  onCorruption: 'code',
  keepVersions: 'wholeNumber',
} as const satisfies OptionSchemaOf<Omit<FsStoreOptions, keyof DriverOptions>>;

/** A version kept by `keepVersions`. */
export interface DocumentVersion {
  /** The revision the document had (revisions restart at 1 when a document is deleted and re-created). */
  revision: number;
  /** Order in which versions were kept: higher is newer, never reused, also across delete and re-create. */
  sequence: number;
  /** When that revision was written, epoch ms. */
  updatedAt: number;
}

/** The filesystem driver's store: a `DocumentStore` that can also read the versions it keeps. */
export interface FsDocumentStore extends DocumentStore {
  /**
   * Kept earlier versions of a document, newest first (empty without `keepVersions`). A kept version
   * that cannot be read is left out and reported to `onCorruption`.
   */
  versions(namespace: string, id: string): Promise<DocumentVersion[]>;
  /**
   * One kept version, or undefined when it is not kept: by revision (the newest kept version with that
   * revision) or by `{ sequence }` (exactly that one).
   */
  getVersion<V = unknown>(
    namespace: string,
    id: string,
    version: number | { sequence: number },
  ): Promise<StoredDocument<V> | undefined>;
}

// A value stored compressed or encrypted is a base64 JSON string on its line.
const isPacked = (storage: StorageInfo | undefined): boolean =>
  storage !== undefined && (storage.compression !== 'none' || storage.keyId !== undefined);

const READ_PARALLELISM = 16;

function warnCorruption(error: CorruptStateError): void {
  process.emitWarning(`agentstate: ${error.message}`, { code: 'AGENTSTATE_CORRUPT_FILE' });
}

/**
 * A `DocumentStore` in a directory: `<dir>/<namespace>/<id>.jsonl`, one file per document, names made
 * safe by `encodeName` (ids are data, never path fragments; path-like ids are refused). Every write is
 * atomic (temp file, fsync, rename, fsync of the directory); batches go through a write-ahead journal.
 * Revisions and expiries are indexed in memory from the file headers on open, so a sweep pops only due
 * documents (the seeds scanned every key). A corrupt file is moved aside and reported, never read as
 * empty and never overwritten (the seeds reset it, losing it on the next save).
 *
 * One process per directory: a lock file refuses a second process (`UNAVAILABLE`); handles within one
 * process share the index, locks and change feed. Use SQLite or PostgreSQL to share between processes.
 */
export function createFsStore(options: FsStoreOptions = {}): FsDocumentStore {
  const settings = payloadSettings(options, 'filesystem', FS_STORE_OPTIONS);
  const keepVersions = options.keepVersions ?? 0;
  if (!Number.isSafeInteger(keepVersions) || keepVersions < 0) {
    throw new InvalidInputError(`keepVersions must be a whole number, got ${String(keepVersions)}`, {
      option: 'keepVersions',
    });
  }
  const codec: Codec = options.codec ?? defaultCodec;
  const now = options.now ?? Date.now;
  const ready = retainCore(options.dir ?? DEFAULT_FS_DIR, {
    durable: options.durable ?? true,
    keepVersions,
    report: options.onCorruption ?? warnCorruption,
  });
  // An open error is reported by the first call that needs the store (and by every later one).
  ready.catch(() => {});
  let closed = false;
  const inFlight = new Set<Promise<unknown>>();
  const subscriptions = new Set<Subscription>();
  const sweepTimer = startSweepTimer(options.sweepIntervalMs, 'filesystem', () =>
    closed ? undefined : run(sweep),
  );

  // Every operation is tracked so that close() waits for writes in progress before unlocking.
  function run<T>(operation: (core: FsCore) => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new ClosedError('the filesystem store is closed'));
    const promise = ready.then((core) => operation(core));
    inFlight.add(promise);
    const forget = () => inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  function writable(core: FsCore): void {
    if (core.failure) throw core.failure;
  }

  function key(namespace: string, id: string): string {
    return `${namespace}\0${id}`;
  }

  function checkDocument(namespace: string, id: string): void {
    checkDocumentKey(namespace, id);
    checkFsId(id, namespace);
  }

  function prepare(namespace: string, id: string, value: unknown, opts?: PutOptions): PreparedPut {
    const encoded = codec.encode(value, valuePath(namespace, id));
    const packed = packPayload(JSON.stringify(encoded), settings);
    return {
      encoded,
      text: packed.text ?? JSON.stringify(Buffer.from(packed.bytes).toString('base64')),
      storage: packed.storage,
      ...(opts?.metadata && { metadata: codec.encode(opts.metadata) }),
    };
  }

  function readValue(header: DocumentHeader, value: JsonValue, valueText: string, path: string): unknown {
    const { storage } = header;
    const source = { namespace: header.namespace, id: header.id, where: path };
    if (isPacked(storage)) {
      if (typeof value !== 'string') {
        throw new CorruptStateError(`document file ${path} should hold its value as base64 text`, { path });
      }
      const bytes = Buffer.from(value, 'base64');
      return codec.decode(JSON.parse(unpackPayload(bytes, storage?.checksum, settings, source)) as JsonValue);
    }
    if (settings.verifyChecksums) unpackPayload(valueText, storage?.checksum, settings, source);
    return codec.decode(value);
  }

  function toDocument<V>(
    header: DocumentHeader,
    value: JsonValue,
    valueText: string,
    path: string,
  ): StoredDocument<V> {
    return {
      namespace: header.namespace,
      id: header.id,
      value: readValue(header, value, valueText, path) as V,
      revision: header.revision,
      createdAt: header.createdAt,
      updatedAt: header.updatedAt,
      ...(header.metadata !== undefined && {
        metadata: codec.decode(header.metadata) as Record<string, unknown>,
      }),
      ...(header.expiresAt !== undefined && { expiresAt: header.expiresAt }),
      ...(header.storage !== undefined && { storage: header.storage }),
    };
  }

  async function readText(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async function readParsed(path: string, namespace: string, id: string) {
    const text = await readText(path);
    if (text === undefined) return undefined;
    const parsed = parseDocument(text, path);
    if (parsed.header.namespace !== namespace || parsed.header.id !== id) {
      throw new CorruptStateError(
        `document file ${path} holds ${parsed.header.namespace}/${parsed.header.id}, not ${namespace}/${id}`,
        { path },
      );
    }
    return parsed;
  }

  async function readDocument<V>(
    core: FsCore,
    namespace: string,
    id: string,
  ): Promise<StoredDocument<V> | undefined> {
    const path = core.pathOf(namespace, id);
    let parsed: Awaited<ReturnType<typeof readParsed>>;
    try {
      parsed = await readParsed(path, namespace, id);
    } catch (error) {
      if (!(error instanceof CorruptStateError)) throw error;
      // Look again under the document's lock: a writer may have replaced the file meanwhile, and a good
      // file must never be moved aside.
      const release = await core.mutex.lock([key(namespace, id)]);
      try {
        parsed = await readParsed(path, namespace, id);
      } catch (again) {
        if (!(again instanceof CorruptStateError)) throw again;
        throw await core.quarantine(path, again, namespace, id);
      } finally {
        release();
      }
    }
    if (!parsed) return undefined;
    if (parsed.header.expiresAt !== undefined && parsed.header.expiresAt <= now()) return undefined;
    return toDocument<V>(parsed.header, parsed.value, parsed.valueText, path);
  }

  function header(
    namespace: string,
    id: string,
    entry: IndexEntry,
    updatedAt: number,
    p: PreparedPut,
  ): DocumentHeader {
    return {
      format: DOCUMENT_FORMAT,
      namespace,
      id,
      revision: entry.revision,
      createdAt: entry.createdAt,
      updatedAt,
      ...(p.metadata !== undefined && { metadata: p.metadata }),
      ...(entry.expiresAt !== undefined && { expiresAt: entry.expiresAt }),
      storage: p.storage,
    };
  }

  // The entry a put leaves, given the live revision before it (0 = absent).
  function nextEntry(current: IndexEntry | undefined, t: number, opts?: PutOptions): IndexEntry {
    return {
      revision: (current?.revision ?? 0) + 1,
      createdAt: current?.createdAt ?? t,
      ...(opts?.ttlMs !== undefined && { expiresAt: t + opts.ttlMs }),
    };
  }

  async function sweep(core: FsCore): Promise<number> {
    const t = now();
    let removed = 0;
    for (let item = core.expiries.popDue(t); item; item = core.expiries.popDue(t)) {
      const { namespace, id, at } = item;
      // Stale heap items (rewritten with another expiry, or deleted) are skipped.
      if (core.entry(namespace, id)?.expiresAt !== at) continue;
      const release = await core.mutex.lock([key(namespace, id)]);
      try {
        const entry = core.entry(namespace, id);
        if (entry?.expiresAt !== at) continue;
        await core.deleteDocument(namespace, id);
        core.remove(namespace, id);
        removed++;
        core.hub.emit({ type: 'expire', namespace, id, revision: entry.revision });
      } finally {
        release();
      }
    }
    return removed;
  }

  return {
    name: 'fs',

    get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
      return run(async (core) => {
        checkDocument(namespace, id);
        if (!core.live(namespace, id, now())) return undefined;
        return readDocument<V>(core, namespace, id);
      });
    },

    put<V>(namespace: string, id: string, value: V, opts?: PutOptions): Promise<StoredDocument<V>> {
      return run(async (core) => {
        checkDocument(namespace, id);
        checkPutOptions(opts, namespace, id);
        const prepared = prepare(namespace, id, value, opts);
        writable(core);
        const release = await core.mutex.lock([key(namespace, id)]);
        let entry: IndexEntry;
        let t: number;
        try {
          writable(core);
          t = now();
          const current = core.live(namespace, id, t);
          checkRevision(namespace, id, opts?.expectedRevision, current?.revision ?? 0);
          entry = nextEntry(current, t, opts);
          await core.writeDocument(
            namespace,
            id,
            formatDocument(header(namespace, id, entry, t, prepared), prepared.text),
          );
          core.set(namespace, id, entry);
        } finally {
          release();
        }
        core.hub.emit({ type: 'put', namespace, id, revision: entry.revision });
        return putResult<V>(
          codec,
          namespace,
          id,
          { ...entry, updatedAt: t, storage: prepared.storage },
          prepared.encoded,
          prepared.metadata,
        );
      });
    },

    delete(namespace: string, id: string, opts?: DeleteOptions): Promise<boolean> {
      return run(async (core) => {
        checkDocument(namespace, id);
        checkDeleteOptions(opts, namespace, id);
        writable(core);
        const release = await core.mutex.lock([key(namespace, id)]);
        let revision: number;
        try {
          writable(core);
          revision = core.live(namespace, id, now())?.revision ?? 0;
          checkRevision(namespace, id, opts?.expectedRevision, revision);
          if (revision === 0) return false;
          await core.deleteDocument(namespace, id);
          core.remove(namespace, id);
        } finally {
          release();
        }
        core.hub.emit({ type: 'delete', namespace, id, revision });
        return true;
      });
    },

    listNamespaces(opts?: NamespaceListOptions): Promise<NamespacePage> {
      return run(async (core) => namespacePage(core.namespacesWithDocuments(), checkNamespaceList(opts)));
    },

    list<V>(namespace: string, opts?: ListOptions): Promise<ListPage<V>> {
      return run(async (core) => {
        const { limit, after, prefix } = checkList(namespace, opts);
        const t = now();
        const ids = core.sortedIds(namespace);
        // Binary search for the first id that can be on this page.
        const from = after !== undefined && after >= prefix ? after : prefix;
        let lo = 0;
        let hi = ids.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (ids[mid]! < from) lo = mid + 1;
          else hi = mid;
        }
        const picked: string[] = [];
        for (let i = lo; i < ids.length && picked.length <= limit; i++) {
          const id = ids[i]!;
          if (!id.startsWith(prefix)) break;
          if (after !== undefined && id <= after) continue;
          if (core.live(namespace, id, t)) picked.push(id);
        }
        const page = picked.slice(0, limit);
        const docs = await mapLimit(page, READ_PARALLELISM, (id) => readDocument<V>(core, namespace, id));
        const items = docs.filter((doc): doc is StoredDocument<V> => doc !== undefined);
        return picked.length > limit ? { items, cursor: encodeCursor(page[page.length - 1]!) } : { items };
      });
    },

    batch(operations: BatchOperation[]): Promise<BatchResult> {
      return run(async (core) => {
        checkBatch(operations);
        for (const op of operations) checkFsId(op.id, op.namespace);
        const prepared = operations.map((op) =>
          op.type === 'put' ? prepare(op.namespace, op.id, op.value, op.options) : undefined,
        );
        writable(core);
        const release = await core.mutex.lock(operations.map((op) => key(op.namespace, op.id)));
        const revisions: number[] = [];
        try {
          writable(core);
          const t = now();
          // Phase 1: check every operation against the index plus the batch's own earlier operations.
          const pending = new Map<string, IndexEntry | null>();
          const finals = new Map<string, JournalEntry & { entry: IndexEntry | null }>();
          operations.forEach((op, i) => {
            const k = key(op.namespace, op.id);
            const seen = pending.get(k);
            const current = seen === undefined ? core.live(op.namespace, op.id, t) : (seen ?? undefined);
            const revision = current?.revision ?? 0;
            checkRevision(op.namespace, op.id, op.options?.expectedRevision, revision);
            const p = prepared[i];
            if (op.type === 'put' && p) {
              const entry = nextEntry(current, t, op.options);
              pending.set(k, entry);
              const content = formatDocument(header(op.namespace, op.id, entry, t, p), p.text);
              finals.set(k, { namespace: op.namespace, id: op.id, content, entry });
              revisions.push(entry.revision);
            } else {
              pending.set(k, null);
              if (revision > 0)
                finals.set(k, { namespace: op.namespace, id: op.id, content: null, entry: null });
              revisions.push(revision);
            }
          });
          // Phase 2: write the final state of every touched document, all or nothing.
          const entries = [...finals.values()];
          await core.commitBatch(entries.map(({ namespace, id, content }) => ({ namespace, id, content })));
          for (const { namespace, id, entry } of entries) {
            if (entry) core.set(namespace, id, entry);
            else core.remove(namespace, id);
          }
        } finally {
          release();
        }
        const { results, events } = batchOutcome(operations, revisions);
        for (const event of events) core.hub.emit(event);
        return { results };
      });
    },

    watch(namespace: string, listener: ChangeListener): Promise<Subscription> {
      return run(async (core) => {
        checkWatchNamespace(namespace);
        const inner = core.hub.subscribe(namespace, listener);
        const subscription: Subscription = {
          close: async () => {
            subscriptions.delete(subscription);
            await inner.close();
          },
        };
        subscriptions.add(subscription);
        return subscription;
      });
    },

    sweepExpired(): Promise<number> {
      return run(sweep);
    },

    versions(namespace: string, id: string): Promise<DocumentVersion[]> {
      return run(async (core) => {
        checkDocument(namespace, id);
        const found = await mapLimit(
          await keptVersions(core.pathOf(namespace, id)),
          READ_PARALLELISM,
          async ({ sequence, revision, file }) => {
            const text = await readText(file);
            if (text === undefined) return undefined; // pruned meanwhile
            try {
              return { revision, sequence, updatedAt: parseDocument(text, file).header.updatedAt };
            } catch (error) {
              // One damaged copy must not hide the others; it stays on disk for inspection.
              if (!(error instanceof CorruptStateError)) throw error;
              core.report(error);
              return undefined;
            }
          },
        );
        return found.filter((v): v is DocumentVersion => v !== undefined);
      });
    },

    getVersion<V>(
      namespace: string,
      id: string,
      version: number | { sequence: number },
    ): Promise<StoredDocument<V> | undefined> {
      return run(async (core) => {
        checkDocument(namespace, id);
        const bySequence = typeof version === 'object' && version !== null;
        const wanted = bySequence ? version.sequence : version;
        if (!Number.isSafeInteger(wanted) || wanted < 1) {
          throw new InvalidInputError(
            `${bySequence ? 'sequence' : 'revision'} must be a positive whole number, got ${String(wanted)}`,
            { namespace, id },
          );
        }
        const kept = await keptVersions(core.pathOf(namespace, id));
        const match = kept.find((v) => (bySequence ? v.sequence : v.revision) === wanted);
        if (!match) return undefined;
        const text = await readText(match.file);
        if (text === undefined) return undefined;
        const parsed = parseDocument(text, match.file);
        return toDocument<V>(parsed.header, parsed.value, parsed.valueText, match.file);
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      await Promise.allSettled([...inFlight]);
      await Promise.all([...subscriptions].map((s) => s.close()));
      let core: FsCore;
      try {
        core = await ready;
      } catch {
        return;
      }
      await releaseCore(core);
    },
  };
}
