import { mkdir, readdir, realpath, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CorruptStateError } from '../../errors.ts';
import { fsyncDirectory, quarantineFile, writeFileAtomic } from '../../shared/atomicWrite.ts';
import { ExpiryHeap } from '../../shared/expiryHeap.ts';
import { ChangeHub } from '../shared/changeHub.ts';
import { acquireDirLock, type DirLock } from './dirLock.ts';
import { type DocumentHeader, readHeader } from './envelope.ts';
import { DOCUMENT_EXTENSION, documentFileName, namespaceDirName } from './fileNames.ts';
import { type JournalEntry, readPendingJournals, removeJournal, writeJournal } from './journal.ts';
import { KeyedMutex } from './keyedMutex.ts';
import { mapLimit } from './mapLimit.ts';
import { keepVersion } from './versions.ts';

/** What the index knows about a document without reading its file. */
export interface IndexEntry {
  revision: number;
  createdAt: number;
  expiresAt?: number;
}

interface NamespaceIndex {
  path: string;
  entries: Map<string, IndexEntry>;
  // Ids in JavaScript string order, rebuilt lazily after an id is added or removed.
  sorted: string[] | undefined;
  dirReady: boolean;
}

/** Settings fixed by the first handle that opens a directory. */
export interface FsCoreOptions {
  durable: boolean;
  /** Earlier versions kept per document (0 = none). */
  keepVersions: number;
  report: (error: CorruptStateError) => void;
}

const IO_PARALLELISM = 16;

/** Whether a filesystem call failed because the file or directory does not exist. */
export const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The state of one store directory shared by every handle on it in this process: the lock file, the
 * in-memory index of revisions and expiries (rebuilt from file headers on open), the per-document
 * mutex and the change feed. Sharing it is what keeps compare-and-set exact between two handles.
 */
export class FsCore {
  readonly dir: string;
  readonly durable: boolean;
  readonly keepVersions: number;
  readonly report: (error: CorruptStateError) => void;
  readonly mutex = new KeyedMutex();
  readonly hub = new ChangeHub();
  readonly expiries = new ExpiryHeap();
  /** Set when a batch could not be completed: writes are refused until the store is reopened. */
  failure: Error | undefined;
  /** Handles using this core. */
  refs = 0;
  closed = false;
  readonly #namespaces = new Map<string, NamespaceIndex>();
  #lock: DirLock | undefined;

  private constructor(dir: string, options: FsCoreOptions) {
    this.dir = dir;
    this.durable = options.durable;
    this.keepVersions = options.keepVersions;
    this.report = options.report;
  }

  /** Locks the directory, completes interrupted batches, and indexes every document header. */
  static async open(dir: string, options: FsCoreOptions): Promise<FsCore> {
    const core = new FsCore(dir, options);
    core.#lock = await acquireDirLock(dir);
    try {
      await core.#recover();
      await core.#scan();
    } catch (error) {
      await core.#lock.release();
      throw error;
    }
    return core;
  }

  /** Path of a document's file. */
  pathOf(namespace: string, id: string): string {
    return join(this.dir, namespaceDirName(namespace), documentFileName(id));
  }

  /** The indexed entry of a document if it exists and has not expired at `now`. */
  live(namespace: string, id: string, now: number): IndexEntry | undefined {
    const entry = this.#namespaces.get(namespace)?.entries.get(id);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= now) return undefined;
    return entry;
  }

  /** The indexed entry, expired or not. */
  entry(namespace: string, id: string): IndexEntry | undefined {
    return this.#namespaces.get(namespace)?.entries.get(id);
  }

  /** Records a written document. */
  set(namespace: string, id: string, entry: IndexEntry): void {
    const index = this.#index(namespace);
    if (!index.entries.has(id)) index.sorted = undefined;
    index.entries.set(id, entry);
    if (entry.expiresAt !== undefined) this.expiries.push({ at: entry.expiresAt, namespace, id });
  }

  /** Forgets a deleted document. */
  remove(namespace: string, id: string): void {
    const index = this.#namespaces.get(namespace);
    if (index?.entries.delete(id)) index.sorted = undefined;
  }

  /** Namespaces holding at least one document (the index is loaded at open, so nothing is read). */
  namespacesWithDocuments(): string[] {
    return [...this.#namespaces].filter(([, index]) => index.entries.size > 0).map(([name]) => name);
  }

  /** Ids of a namespace in JavaScript string order. */
  sortedIds(namespace: string): readonly string[] {
    const index = this.#namespaces.get(namespace);
    if (!index) return [];
    index.sorted ??= [...index.entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return index.sorted;
  }

  /** Atomically replaces one document file (creating its namespace directory on first use). */
  async writeDocument(namespace: string, id: string, content: string): Promise<void> {
    await this.#namespaceDir(namespace);
    await this.#keepVersion(namespace, id);
    await writeFileAtomic(this.pathOf(namespace, id), content, { durable: this.durable });
  }

  /** Deletes one document file; a missing file is fine. */
  async deleteDocument(namespace: string, id: string): Promise<void> {
    await this.#keepVersion(namespace, id);
    try {
      await unlink(this.pathOf(namespace, id));
    } catch (error) {
      if (!isMissing(error)) throw error;
      return;
    }
    if (this.durable) await fsyncDirectory(join(this.dir, namespaceDirName(namespace)));
  }

  /**
   * Writes the final states of a batch all-or-nothing: through the journal when more than one file
   * changes (see journal.ts), directly when only one does (a single rename is already atomic).
   */
  async commitBatch(entries: JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    if (entries.length === 1) return this.#apply(entries);
    const journal = await writeJournal(this.dir, entries, this.durable);
    try {
      await this.#apply(entries);
      await removeJournal(journal, this.durable);
    } catch (error) {
      // Part of the batch may be on disk. The journal stays and completes it on the next open; until
      // then, refuse writes so nothing can be written on top of the half-applied state.
      this.failure = new CorruptStateError(
        `a batch could not be completed (${(error as Error).message}); reopen the store to finish it from ${journal}`,
        { journal, dir: this.dir },
        { cause: error },
      );
      throw this.failure;
    }
  }

  /** Moves a corrupt document file aside, forgets it, reports it, and returns the error to throw. */
  async quarantine(
    path: string,
    cause: CorruptStateError,
    namespace?: string,
    id?: string,
  ): Promise<CorruptStateError> {
    const aside = await quarantineFile(path);
    if (namespace !== undefined && id !== undefined) this.remove(namespace, id);
    const error = new CorruptStateError(
      `${cause.message}; it was moved to ${aside} (nothing was overwritten)${namespace !== undefined ? ' and the document is treated as missing' : ''}`,
      { ...cause.details, path, quarantinedTo: aside, ...(namespace !== undefined && { namespace, id }) },
      { cause },
    );
    this.report(error);
    return error;
  }

  /** Releases the directory lock. */
  async close(): Promise<void> {
    this.closed = true;
    this.hub.clear();
    this.expiries.clear();
    this.#namespaces.clear();
    await this.#lock?.release();
  }

  // The version kept is the one on disk now, named by the revision in the index (no file read needed).
  async #keepVersion(namespace: string, id: string): Promise<void> {
    const revision = this.entry(namespace, id)?.revision;
    if (this.keepVersions === 0 || revision === undefined) return;
    try {
      await keepVersion(this.pathOf(namespace, id), revision, this.keepVersions, this.durable);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  #index(namespace: string): NamespaceIndex {
    let index = this.#namespaces.get(namespace);
    if (!index) {
      index = {
        path: join(this.dir, namespaceDirName(namespace)),
        entries: new Map(),
        sorted: undefined,
        dirReady: false,
      };
      this.#namespaces.set(namespace, index);
    }
    return index;
  }

  async #namespaceDir(namespace: string): Promise<void> {
    const index = this.#index(namespace);
    if (index.dirReady) return;
    await mkdir(index.path, { recursive: true });
    // The new directory entry must be durable too, or the files inside it could vanish on power loss.
    if (this.durable) await fsyncDirectory(this.dir);
    index.dirReady = true;
  }

  async #apply(entries: JournalEntry[]): Promise<void> {
    await mapLimit(entries, IO_PARALLELISM, (e) =>
      e.content === null
        ? this.deleteDocument(e.namespace, e.id)
        : this.writeDocument(e.namespace, e.id, e.content),
    );
  }

  async #recover(): Promise<void> {
    const pending = await readPendingJournals(this.dir, async (path, error) => {
      await this.quarantine(path, error);
    });
    for (const journal of pending) {
      await this.#apply(journal.entries);
      await removeJournal(journal.path, this.durable);
    }
  }

  async #scan(): Promise<void> {
    const dirs = await readdir(this.dir, { withFileTypes: true });
    for (const dirent of dirs) {
      if (!dirent.isDirectory() || dirent.name.startsWith('.')) continue;
      const dirPath = join(this.dir, dirent.name);
      const names = await readdir(dirPath);
      await mapLimit(names, IO_PARALLELISM, async (name) => {
        const path = join(dirPath, name);
        // Leftover temp file of an atomic write interrupted by a crash: its rename never happened.
        if (name.startsWith('.') && name.endsWith('.tmp')) return unlink(path).catch(() => {});
        if (!name.endsWith(DOCUMENT_EXTENSION)) return;
        let header: DocumentHeader;
        try {
          header = await readHeader(path);
          if (namespaceDirName(header.namespace) !== dirent.name || documentFileName(header.id) !== name) {
            throw new CorruptStateError(
              `document file ${path} holds ${header.namespace}/${header.id}, which belongs elsewhere`,
              { path, namespace: header.namespace, id: header.id },
            );
          }
        } catch (error) {
          if (isMissing(error)) return;
          if (error instanceof CorruptStateError) return void (await this.quarantine(path, error));
          throw error;
        }
        const index = this.#index(header.namespace);
        index.dirReady = true;
        this.set(header.namespace, header.id, {
          revision: header.revision,
          createdAt: header.createdAt,
          ...(header.expiresAt !== undefined && { expiresAt: header.expiresAt }),
        });
      });
    }
  }
}

const cores = new Map<string, Promise<FsCore>>();
const closing = new Map<string, Promise<void>>();

/** Opens (or joins) the core of a directory for one more handle. */
export async function retainCore(dir: string, options: FsCoreOptions): Promise<FsCore> {
  const created = await mkdir(dir, { recursive: true });
  if (created !== undefined && options.durable) await fsyncDirectory(dirname(created));
  const key = await realpath(dir);
  for (;;) {
    const shutting = closing.get(key);
    if (shutting) {
      await shutting;
      continue;
    }
    let opening = cores.get(key);
    if (!opening) {
      opening = FsCore.open(key, options);
      cores.set(key, opening);
      opening.catch(() => {
        if (cores.get(key) === opening) cores.delete(key);
      });
    }
    const core = await opening;
    if (core.closed || closing.has(key)) continue;
    core.refs++;
    return core;
  }
}

/** Gives a handle's share of a core back; the last one closes it and unlocks the directory. */
export async function releaseCore(core: FsCore): Promise<void> {
  if (--core.refs > 0) return;
  cores.delete(core.dir);
  const done = core.close().finally(() => closing.delete(core.dir));
  closing.set(core.dir, done);
  await done;
}
