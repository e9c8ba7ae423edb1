import type { DocumentStore, ListOptions } from '../drivers/index.ts';
import { AgentStateError, CorruptStateError, InvalidInputError, RevisionConflictError } from '../errors.ts';
import { checkPersistedState, type PersistedState, type RestoreReport } from './persisted.ts';
import type { StateStore } from './store.ts';

/** A thread's saved state as read from storage. */
export interface ThreadRecord {
  /** The thread id. */
  threadId: string;
  /** The persisted state. */
  state: PersistedState;
  /** Revision of the stored document: pass it as `expectedRevision` to the next `save`. */
  documentRevision: number;
  /** Last save, epoch milliseconds. */
  updatedAt: number;
}

/** Options of `new ThreadStateRepository`. */
export interface ThreadStateRepositoryOptions {
  /** Namespace of the thread documents (default `agentstate.threads`). */
  namespace?: string;
}

/** Options of `ThreadStateRepository.save`. */
export interface ThreadSaveOptions {
  /** The `documentRevision` last loaded or saved; 0 to create a new thread. Required: saves are always compare-and-set. */
  expectedRevision: number;
}

/** One page of thread ids. */
export interface ThreadPage {
  /** Thread ids in id order. */
  threadIds: string[];
  /** Pass to the next `list` call; undefined on the last page. */
  cursor?: string;
}

/**
 * Saves and loads threads' persisted state on any `DocumentStore` (memory, fs, SQLite, PostgreSQL).
 * Every save is a compare-and-set on the stored document's revision, so when two processes load the same
 * thread and both commit, exactly one save wins and the other gets `RevisionConflictError` with nothing
 * overwritten: it must reload (and re-apply its work) before saving again. There is no blind overwrite.
 */
export class ThreadStateRepository {
  /** The storage. */
  readonly documents: DocumentStore;
  /** Namespace of the thread documents. */
  readonly namespace: string;

  /** A repository over `documents`. */
  constructor(documents: DocumentStore, options: ThreadStateRepositoryOptions = {}) {
    this.documents = documents;
    this.namespace = options.namespace ?? 'agentstate.threads';
  }

  /** The saved state of a thread, or undefined when it was never saved. Unreadable data is `CORRUPT_STATE`. */
  async load(threadId: string): Promise<ThreadRecord | undefined> {
    const doc = await this.documents.get<unknown>(this.namespace, threadId);
    if (doc === undefined) return undefined;
    try {
      checkPersistedState(doc.value);
    } catch (error) {
      throw new CorruptStateError(
        `stored state of thread '${threadId}' is not a persisted state: ${(error as Error).message}`,
        { namespace: this.namespace, threadId, documentRevision: doc.revision },
        { cause: error },
      );
    }
    return { threadId, state: doc.value, documentRevision: doc.revision, updatedAt: doc.updatedAt };
  }

  /**
   * Saves a thread's state if its stored document is still at `expectedRevision` (0: create only).
   * Otherwise throws `RevisionConflictError` naming the thread and both revisions, and writes nothing.
   */
  async save(threadId: string, state: PersistedState, options: ThreadSaveOptions): Promise<ThreadRecord> {
    checkPersistedState(state);
    const expected = options?.expectedRevision;
    if (typeof expected !== 'number' || !Number.isSafeInteger(expected) || expected < 0) {
      throw new InvalidInputError(
        `save of thread '${threadId}' needs expectedRevision: the documentRevision last loaded, or 0 for a new thread`,
        { threadId, expectedRevision: expected },
      );
    }
    try {
      const doc = await this.documents.put(this.namespace, threadId, state, {
        expectedRevision: expected,
        metadata: { stateRevision: state.revision },
      });
      return { threadId, state, documentRevision: doc.revision, updatedAt: doc.updatedAt };
    } catch (error) {
      if (error instanceof AgentStateError && error.code === 'REVISION_CONFLICT') {
        const actual = error.details.actualRevision;
        throw new RevisionConflictError(
          expected === 0
            ? `thread '${threadId}' already exists (document revision ${String(actual)}); load it and retry`
            : `thread '${threadId}' was saved by someone else (document revision ${String(actual)}, expected ${expected}); load it again and re-apply your changes`,
          { namespace: this.namespace, threadId, expectedRevision: expected, actualRevision: actual },
        );
      }
      throw error;
    }
  }

  /** Deletes a thread; with `expectedRevision`, only if it is still at that revision. */
  delete(threadId: string, options: { expectedRevision?: number } = {}): Promise<boolean> {
    return this.documents.delete(this.namespace, threadId, options);
  }

  /** Lists thread ids in id order, one page at a time. */
  async list(options: ListOptions = {}): Promise<ThreadPage> {
    const page = await this.documents.list(this.namespace, options);
    const result: ThreadPage = { threadIds: page.items.map((item) => item.id) };
    if (page.cursor !== undefined) result.cursor = page.cursor;
    return result;
  }

  /**
   * Binds a thread to a store: restores the saved state into it (when there is one) and returns a
   * `ThreadSession` that remembers the document revision for compare-and-set saves.
   */
  async open(threadId: string, store: StateStore): Promise<ThreadSession> {
    const session = new ThreadSession(this, threadId, store);
    await session.reload();
    return session;
  }
}

/** A thread bound to a `StateStore`: `save()` writes the store's persisted state with compare-and-set. */
export class ThreadSession {
  /** The thread id. */
  readonly threadId: string;
  /** The bound store. */
  readonly store: StateStore;
  readonly #repository: ThreadStateRepository;
  #documentRevision = 0;
  // Saves and reloads of one session run in call order; see save().
  #queue: Promise<unknown> = Promise.resolve();

  /** Made by `ThreadStateRepository.open`. */
  constructor(repository: ThreadStateRepository, threadId: string, store: StateStore) {
    this.#repository = repository;
    this.threadId = threadId;
    this.store = store;
  }

  /** Revision of the stored document this session last loaded or saved (0: not stored yet). */
  get documentRevision(): number {
    return this.#documentRevision;
  }

  /**
   * Saves the store's persisted state; `RevisionConflictError` if another writer saved the thread since.
   * Calls on one session run one after another (each exports the state when its turn comes), so two
   * saves in flight never conflict with each other.
   */
  save(): Promise<ThreadRecord> {
    return this.#serial(async () => {
      const record = await this.#repository.save(this.threadId, this.store.exportPersisted(), {
        expectedRevision: this.#documentRevision,
      });
      this.#documentRevision = record.documentRevision;
      return record;
    });
  }

  /** Loads the saved state into the store, replacing its persistent state; undefined when nothing is saved. */
  reload(): Promise<RestoreReport | undefined> {
    return this.#serial(async () => {
      const record = await this.#repository.load(this.threadId);
      if (record === undefined) {
        this.#documentRevision = 0;
        return undefined;
      }
      const report = this.store.restore(record.state);
      this.#documentRevision = record.documentRevision;
      return report;
    });
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => {});
    return run;
  }
}
