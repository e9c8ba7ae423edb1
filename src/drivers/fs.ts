import type { CorruptStateError } from '../errors.ts';
import { InvalidInputError } from '../errors.ts';
import type { FsCore } from './fs/core.ts';
import { releaseCore, retainCore } from './fs/coreRegistry.ts';
import { checkFsId } from './fs/fileNames.ts';
import { type DocumentVersion, listVersions, readVersion } from './fs/history.ts';
import { mapLimit } from './fs/mapLimit.ts';
import { readRow } from './fs/rows.ts';
import { sweepFiles, writeFiles } from './fs/writes.ts';
import { createDocumentStore } from './kernel/documentStore.ts';
import { namespacePage } from './kernel/pages.ts';
import type { DriverContext, StorageDriver, StoredRow } from './kernel/storage.ts';
import type { OptionSchemaOf } from './shared/optionSchema.ts';
import { checkDocumentKey } from './shared/validate.ts';
import type { DocumentStore, DriverOptions, StoredDocument, Subscription } from './types.ts';

export type { DocumentVersion } from './fs/history.ts';

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
   * `onError` (a process warning unless given). Reads of a corrupt document also throw `CorruptStateError`.
   */
  onCorruption?: (error: CorruptStateError) => void;
}

/** The options of `createFsStore` beyond `DriverOptions`, by kind (the persistence config derives its own from them). */
export const FS_STORE_OPTIONS = {
  dir: 'string',
  durable: 'boolean',
  onCorruption: 'code',
  keepVersions: 'wholeNumber',
} as const satisfies OptionSchemaOf<Omit<FsStoreOptions, keyof DriverOptions>>;

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

const SPEC = { name: 'fs', label: 'filesystem', options: FS_STORE_OPTIONS };
const READ_PARALLELISM = 16;

interface FsDriver extends StorageDriver {
  /** Runs an operation on the directory's core, tracked so that close() waits for it. */
  run<T>(operation: (core: FsCore) => Promise<T> | T): Promise<T>;
}

function fsDriver(
  options: FsStoreOptions,
  keepVersions: number,
  { hub, reportError }: DriverContext,
): FsDriver {
  const ready = retainCore(options.dir ?? DEFAULT_FS_DIR, {
    durable: options.durable ?? true,
    keepVersions,
    report: options.onCorruption ?? ((error) => reportError(error, 'corrupt file', error.details)),
  });
  // An open error is reported by the first call that needs the store (and by every later one).
  ready.catch(() => {});
  const inFlight = new Set<Promise<unknown>>();
  let feed: Subscription | undefined;
  function run<T>(operation: (core: FsCore) => Promise<T> | T): Promise<T> {
    const promise = ready.then(operation);
    inFlight.add(promise);
    const forget = () => inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }
  return {
    where: 'filesystem',
    // Handles on one directory in this process share its change feed (fs/core.ts), writes included.
    feedsOwnWrites: true,
    run,
    checkId: (namespace, id) => checkFsId(id, namespace),
    read: (namespace, id, now) =>
      run((core) => (core.index.live(namespace, id, now) ? readRow(core, namespace, id, now) : undefined)),
    write: (ops, now) => run((core) => writeFiles(core, ops, now)),
    scan: (namespace, { limit, after, prefix }, now) =>
      run(async (core) => {
        const ids = core.index.sortedIds(namespace);
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
          if ((after === undefined || id > after) && core.index.live(namespace, id, now)) picked.push(id);
        }
        const page = picked.slice(0, limit);
        const rows = await mapLimit(page, READ_PARALLELISM, (id) => readRow(core, namespace, id, now));
        const items = rows.filter((row): row is StoredRow => row !== undefined);
        return picked.length > limit ? { items, last: page.at(-1)! } : { items };
      }),
    namespaces: (query) => run((core) => namespacePage(core.index.namespacesWithDocuments(), query)),
    sweep: (now) => run((core) => sweepFiles(core, now)),
    async startFeed() {
      feed ??= await run((core) => core.hub.subscribe('*', (event) => hub.emit(event)));
    },
    async close() {
      await Promise.allSettled([...inFlight]);
      await feed?.close();
      const core = await ready.catch(() => undefined);
      if (core) await releaseCore(core);
    },
  };
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
  const keepVersions = options.keepVersions ?? 0;
  if (!Number.isSafeInteger(keepVersions) || keepVersions < 0) {
    throw new InvalidInputError(`keepVersions must be a whole number, got ${String(keepVersions)}`, {
      option: 'keepVersions',
    });
  }
  return createDocumentStore(
    SPEC,
    options,
    (context) => fsDriver(options, keepVersions, context),
    ({ driver, toDocument, open }) => {
      const checked = (namespace: string, id: string) => {
        open();
        checkDocumentKey(namespace, id);
        checkFsId(id, namespace);
      };
      return {
        async versions(namespace: string, id: string) {
          checked(namespace, id);
          return driver.run((core) => listVersions(core, namespace, id));
        },
        async getVersion<V>(namespace: string, id: string, version: number | { sequence: number }) {
          checked(namespace, id);
          return driver.run((core) => readVersion<V>(core, toDocument, namespace, id, version));
        },
      };
    },
  );
}
