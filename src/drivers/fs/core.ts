import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptStateError } from '../../errors.ts';
import { fsyncDirectory, quarantineFile, writeFileAtomic } from '../../shared/atomicWrite.ts';
import { ExpiryHeap } from '../../shared/expiryHeap.ts';
import { ChangeHub } from '../shared/changeHub.ts';
import { acquireDirLock, type DirLock } from './dirLock.ts';
import { DocumentIndex } from './documentIndex.ts';
import { documentFileName, namespaceDirName } from './fileNames.ts';
import { type JournalEntry, readPendingJournals, removeJournal, writeJournal } from './journal.ts';
import { KeyedMutex } from './keyedMutex.ts';
import { IO_PARALLELISM, mapLimit } from './mapLimit.ts';
import { indexDocumentFiles } from './scan.ts';
import { keepVersion } from './versions.ts';

/** Settings fixed by the first handle that opens a directory. */
export interface FsCoreOptions {
  durable: boolean;
  /** Earlier versions kept per document (0 = none). */
  keepVersions: number;
  report: (error: CorruptStateError) => void;
}

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
  /** Revisions and expiries of every document, by namespace. */
  readonly index: DocumentIndex;
  /** Set when a batch could not be completed: writes are refused until the store is reopened. */
  failure: Error | undefined;
  /** Handles using this core. */
  refs = 0;
  closed = false;
  #lock: DirLock | undefined;

  private constructor(dir: string, options: FsCoreOptions) {
    this.dir = dir;
    this.durable = options.durable;
    this.keepVersions = options.keepVersions;
    this.report = options.report;
    this.index = new DocumentIndex(dir, this.expiries);
  }

  /** Locks the directory, completes interrupted batches, and indexes every document header. */
  static async open(dir: string, options: FsCoreOptions): Promise<FsCore> {
    const core = new FsCore(dir, options);
    core.#lock = await acquireDirLock(dir);
    try {
      await core.#recover();
      await indexDocumentFiles(dir, core.index, (path, error) => core.quarantine(path, error));
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
    if (namespace !== undefined && id !== undefined) this.index.remove(namespace, id);
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
    this.index.clear();
    await this.#lock?.release();
  }

  // The version kept is the one on disk now, named by the revision in the index (no file read needed).
  async #keepVersion(namespace: string, id: string): Promise<void> {
    const revision = this.index.entry(namespace, id)?.revision;
    if (this.keepVersions === 0 || revision === undefined) return;
    try {
      await keepVersion(this.pathOf(namespace, id), revision, this.keepVersions, this.durable);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  async #namespaceDir(namespace: string): Promise<void> {
    const index = this.index.namespace(namespace);
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
}
