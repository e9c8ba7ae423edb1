import { type JsonValue, setOwn } from '../codec/index.ts';
import type { BatchOperation, BatchResult, DocumentStore, ListOptions } from '../drivers/index.ts';
import { listAll } from '../drivers/index.ts';
import { AgentStateError, CorruptStateError, InvalidInputError, RevisionConflictError } from '../errors.ts';
import { part, revisionSuffix } from '../shared/idParts.ts';
import { SerialQueue } from '../shared/serialQueue.ts';
import { checkPersistedState, type PersistedState, type RestoreReport } from './persisted.ts';
import type { StateStore } from './store.ts';
import {
  documentsOf,
  fromStoredHead,
  type KeyLocation,
  planDelta,
  type StoredThreadHead,
  type ThreadBase,
  type ThreadHead,
  toStoredHead,
  valueId,
  valuesOf,
} from './threadDelta.ts';
import {
  type HistoryDoc,
  historyId,
  readRevision,
  readRevisionsBefore,
  revisionOf,
} from './threadHistory.ts';
import { statesAt, type ThreadStateAt } from './threadPast.ts';
import { type ThreadNamespaces, writeSave } from './threadSave.ts';

/** A thread's saved state as read from storage. */
export interface ThreadRecord {
  /** The thread id. */
  threadId: string;
  /** The persisted state. */
  state: PersistedState;
  /** Revision of the stored head: pass it as `expectedRevision` to the next `save`. */
  documentRevision: number;
  /** Last save, epoch milliseconds. */
  updatedAt: number;
}

/** Options of `new ThreadStateRepository`. */
export interface ThreadStateRepositoryOptions {
  /**
   * Namespace of the thread head records (default `agentstate.threads`); values, history and the values
   * saves replaced use `<namespace>.values`, `<namespace>.history` and `<namespace>.replaced`.
   */
  namespace?: string;
  /**
   * Retention of `history`: keep this many newest revision records per thread (default 1000), and the
   * values those saves replaced, so `statesAt` rebuilds any of them.
   */
  keepRevisions?: number;
  /** Retention of `history`: drop revision records older than this, ms (default: kept by count only). */
  olderThanMs?: number;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
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

/** One saved revision of a thread, as `history` lists it. */
export interface ThreadRevision {
  /** Document revision of the head after that save. */
  documentRevision: number;
  /** State revision saved. */
  revision: number;
  /** Save time, epoch milliseconds. */
  savedAt: number;
  /** Keys written whole (or removed) by that save. */
  changed: string[];
  /** List keys that save only appended items to. */
  appended: string[];
}

// Retention lists history records every RETENTION_EVERY saves, not on each one.
const RETENTION_EVERY = 16;
const PAGE = 500;
const SWEPT_CAP = 10_000;

/**
 * Saves and loads threads' persisted state on any `DocumentStore` (memory, fs, SQLite, PostgreSQL).
 *
 * Saves are deltas: one small head record (the revision and where each key's value lives) plus only the
 * keys whose value changed since the revision the save starts from; a list that only grew (an
 * `appendList` key) stores only its new items (see threadDelta.ts). The head, the changed values, the
 * deletes of replaced values and a history record are one atomic batch, and the head is written with
 * compare-and-set on its revision: when two processes load the same thread and both save, exactly one
 * wins and the other gets `RevisionConflictError` with nothing written. A crash mid-save leaves the
 * previous revision intact. Heads written by earlier releases (the whole state in one document) load
 * as before and are converted by their next save.
 */
export class ThreadStateRepository {
  /** The storage. */
  readonly documents: DocumentStore;
  /** Namespace of the thread head records. */
  readonly namespace: string;
  // Where heads, values, history records and replaced values live.
  readonly #namespaces: ThreadNamespaces;
  readonly #keepRevisions: number;
  readonly #olderThanMs: number | undefined;
  readonly #now: () => number;
  // Threads whose history this repository listed once (bounded: cleared when full, which costs a listing).
  readonly #swept = new Set<string>();

  /** A repository over `documents`. */
  constructor(documents: DocumentStore, options: ThreadStateRepositoryOptions = {}) {
    this.documents = documents;
    this.namespace = options.namespace ?? 'agentstate.threads';
    this.#namespaces = {
      head: this.namespace,
      values: `${this.namespace}.values`,
      history: `${this.namespace}.history`,
      replaced: `${this.namespace}.replaced`,
    };
    const keep = options.keepRevisions ?? 1000;
    if (!Number.isSafeInteger(keep) || keep < 1) {
      throw new InvalidInputError('keepRevisions must be an integer >= 1', { keepRevisions: keep });
    }
    const olderThanMs = options.olderThanMs;
    if (olderThanMs !== undefined && !(Number.isFinite(olderThanMs) && olderThanMs >= 0)) {
      throw new InvalidInputError('olderThanMs must be a number of milliseconds >= 0', { olderThanMs });
    }
    this.#keepRevisions = keep;
    this.#olderThanMs = olderThanMs;
    this.#now = options.now ?? Date.now;
  }

  /** The saved state of a thread, or undefined when it was never saved. Unreadable data is `CORRUPT_STATE`. */
  async load(threadId: string): Promise<ThreadRecord | undefined> {
    return (await this.loadBase(threadId))?.record;
  }

  /** Loads a thread with the base a delta save starts from (used by `ThreadSession`). */
  async loadBase(threadId: string): Promise<{ record: ThreadRecord; base: ThreadBase } | undefined> {
    const doc = await this.documents.get<unknown>(this.namespace, threadId);
    if (doc === undefined || isTombstone(doc.value)) return undefined;
    const corrupt = (reason: string, cause?: unknown) =>
      new CorruptStateError(
        `stored state of thread '${threadId}' is not a persisted state: ${reason}`,
        { namespace: this.namespace, threadId, documentRevision: doc.revision },
        { cause },
      );
    if (isDeltaHead(doc.value)) {
      let head: ThreadHead;
      try {
        head = fromStoredHead(doc.value);
      } catch (error) {
        throw corrupt((error as Error).message, error);
      }
      const values = new Map<string, JsonValue>();
      const extensions: Record<string, JsonValue> = {};
      await Promise.all(
        Object.entries(head.keys).map(async ([key, location]) => {
          const value = await this.#readValue(threadId, key, location);
          if (value === undefined) throw corrupt(`the value of key '${key}' is missing`);
          values.set(key, value);
        }),
      );
      for (const key of Object.keys(head.keys)) setOwn(extensions, key, values.get(key));
      const state: PersistedState = { revision: head.revision, extensions };
      if (head.versions !== undefined) state.versions = head.versions;
      return {
        record: { threadId, state, documentRevision: doc.revision, updatedAt: doc.updatedAt },
        base: { documentRevision: doc.revision, head, values },
      };
    }
    try {
      checkPersistedState(doc.value);
    } catch (error) {
      throw corrupt((error as Error).message, error);
    }
    const state = doc.value;
    return {
      record: { threadId, state, documentRevision: doc.revision, updatedAt: doc.updatedAt },
      // A whole-state head of an earlier release: the next save writes every key once, as a delta head.
      base: { documentRevision: doc.revision, head: undefined, values: new Map() },
    };
  }

  /**
   * Saves a thread's state if its head is still at `expectedRevision` (0: create only). Otherwise
   * throws `RevisionConflictError` naming the thread and both revisions, and writes nothing.
   * Without a base from a `ThreadSession`, the stored state is read first to compute the delta.
   */
  async save(threadId: string, state: PersistedState, options: ThreadSaveOptions): Promise<ThreadRecord> {
    const expected = checkExpected(threadId, options?.expectedRevision);
    checkPersistedState(state);
    const loaded = expected === 0 ? undefined : await this.loadBase(threadId);
    const base: ThreadBase =
      loaded !== undefined && loaded.base.documentRevision === expected
        ? loaded.base
        : { documentRevision: expected, head: undefined, values: new Map() };
    return (await this.saveDelta(threadId, state, base)).record;
  }

  /** Saves `state` as a delta over `base` (compare-and-set on `base.documentRevision`); returns the new base. */
  async saveDelta(
    threadId: string,
    state: PersistedState,
    base: ThreadBase,
  ): Promise<{ record: ThreadRecord; base: ThreadBase }> {
    checkPersistedState(state);
    let expected = checkExpected(threadId, base.documentRevision);
    if (expected === 0) {
      // Creating: over the tombstone of a deleted thread, the revision goes on counting from it, so a
      // writer that still holds a revision from before the delete can never match the new thread's.
      const head = await this.documents.get<unknown>(this.namespace, threadId);
      if (head !== undefined && isTombstone(head.value)) expected = head.revision;
    }
    const rev = expected + 1;
    const plan = planDelta(base, state.extensions, state.versions, state.revision, rev);
    const savedAt = this.#now();
    let result: BatchResult;
    try {
      result = await writeSave(this.documents, {
        namespaces: this.#namespaces,
        threadId,
        expected,
        rev,
        state,
        plan,
        base,
        savedAt,
      });
    } catch (error) {
      throw conflictError(error, this.namespace, threadId, expected);
    }
    const documentRevision = result.results.at(-1)?.revision ?? rev;
    // Retention runs every 16th save, outside the save's batch: a save stays head + values + one history
    // record, and the records beyond `keepRevisions` (all of them, also after it was lowered) or older
    // than `olderThanMs` go in one batch. Up to 15 records beyond the bound may be visible in between.
    if (rev % RETENTION_EVERY === 0) await this.#retainOnSave(threadId, rev);
    return {
      record: { threadId, state, documentRevision, updatedAt: savedAt },
      base: { documentRevision, head: plan.head, values: valuesOf(state.extensions) },
    };
  }

  /** Revisions of a thread, newest last (as many as retention keeps). */
  async history(threadId: string): Promise<ThreadRevision[]> {
    const prefix = part(threadId);
    const revisions: ThreadRevision[] = [];
    for await (const doc of listAll<HistoryDoc>(this.documents, this.#namespaces.history, prefix, PAGE)) {
      revisions.push(revisionOf(Number(doc.id.slice(prefix.length)), doc.value));
    }
    return revisions;
  }

  /**
   * One page of a thread's revisions, newest first: up to `limit` below the document revision `before`
   * (the head's `documentRevision + 1` for the newest), read by id without listing the whole history.
   */
  async historyBefore(threadId: string, before: number, limit: number): Promise<ThreadRevision[]> {
    return readRevisionsBefore(this.documents, this.#namespaces.history, threadId, before, limit);
  }

  /** The history record of one save (by its `documentRevision`), or undefined when retention removed it. */
  async revision(threadId: string, documentRevision: number): Promise<ThreadRevision | undefined> {
    return readRevision(this.documents, this.#namespaces.history, threadId, documentRevision);
  }

  /**
   * The thread's state at each of `documentRevisions` (saves up to the head), rebuilt from the current
   * state and the values later saves replaced; a save older than retention keeps (or more than
   * `maxSaves` below the head, default unbounded) is answered `retained: false` with the oldest one that
   * can be rebuilt. Undefined when the thread does not exist.
   */
  async statesAt(
    threadId: string,
    documentRevisions: readonly number[],
    options: { maxSaves?: number } = {},
  ): Promise<ThreadStateAt[] | undefined> {
    const loaded = await this.load(threadId);
    if (loaded === undefined) return undefined;
    for (const documentRevision of documentRevisions) {
      if (
        !Number.isSafeInteger(documentRevision) ||
        documentRevision < 1 ||
        documentRevision > loaded.documentRevision
      ) {
        throw new InvalidInputError(
          `thread '${threadId}' has no save ${documentRevision}: saves are 1 to ${loaded.documentRevision}`,
          { threadId, documentRevision, head: loaded.documentRevision },
        );
      }
    }
    const head = {
      documentRevision: loaded.documentRevision,
      revision: loaded.state.revision,
      savedAt: loaded.updatedAt,
      extensions: loaded.state.extensions,
    };
    const source = {
      documents: this.documents,
      history: this.#namespaces.history,
      replaced: this.#namespaces.replaced,
      threadId,
      head,
    };
    return statesAt(source, documentRevisions, options.maxSaves ?? Number.MAX_SAFE_INTEGER);
  }

  /**
   * Rewrites a thread so each list key is one chunk again (compare-and-set like a save; the state is
   * unchanged). Delta saves keep at most log2(n) + 1 chunks per list, so this is rarely needed; it also
   * applies the history retention now and drops the values past saves replaced (revisions before the
   * compaction are no longer rebuilt by `statesAt`).
   */
  async compact(threadId: string): Promise<ThreadRecord | undefined> {
    const loaded = await this.loadBase(threadId);
    if (loaded === undefined) return undefined;
    // An empty base makes every key a whole write; the delete list removes the old chunks.
    const { base, record } = loaded;
    const rev = base.documentRevision + 1;
    const plan = planDelta(
      { documentRevision: base.documentRevision, head: undefined, values: new Map() },
      record.state.extensions,
      record.state.versions,
      record.state.revision,
      rev,
    );
    const operations: BatchOperation[] = plan.writes.map((write) => ({
      type: 'put',
      namespace: this.#namespaces.values,
      id: valueId(threadId, write.key, write.rev),
      value: write.value as JsonValue,
    }));
    // Old documents go, except those the rewrite itself puts (a whole value keeps its one document).
    const rewritten = new Set(plan.writes.map((write) => valueId(threadId, write.key, write.rev)));
    for (const [key, location] of Object.entries(base.head?.keys ?? {})) {
      for (const stale of documentsOf(location)) {
        const id = valueId(threadId, key, stale);
        if (!rewritten.has(id)) operations.push({ type: 'delete', namespace: this.#namespaces.values, id });
      }
    }
    operations.push({
      type: 'put',
      namespace: this.namespace,
      id: threadId,
      value: toStoredHead(plan.head),
      options: {
        expectedRevision: base.documentRevision,
        metadata: { stateRevision: record.state.revision },
      },
    });
    let result: BatchResult;
    try {
      result = await this.documents.batch(operations);
    } catch (error) {
      throw conflictError(error, this.namespace, threadId, base.documentRevision);
    }
    await this.#applyRetention(threadId, rev);
    await this.#sweepBefore(this.#namespaces.replaced, threadId, rev + 1);
    return { ...record, documentRevision: result.results.at(-1)?.revision ?? rev, updatedAt: this.#now() };
  }

  /**
   * Deletes a thread (values and history; the head becomes a small tombstone); with `expectedRevision`,
   * only if it is still at that revision. The tombstone is written with compare-and-set and keeps the
   * head's revision counting, so a writer that loaded the thread before the delete gets a conflict, also
   * after the thread is created again; the sweep removes only documents of revisions before the
   * tombstone, never those of a thread created again meanwhile.
   */
  async delete(threadId: string, options: { expectedRevision?: number } = {}): Promise<boolean> {
    let tombstone: number | undefined;
    for (let attempt = 1; tombstone === undefined; attempt += 1) {
      const head = await this.documents.get<unknown>(this.namespace, threadId);
      const live = head !== undefined && !isTombstone(head.value);
      const actual = live ? head.revision : 0;
      if (options.expectedRevision !== undefined && options.expectedRevision !== actual)
        throw conflictError(
          new RevisionConflictError('stale', { actualRevision: actual }),
          this.namespace,
          threadId,
          options.expectedRevision,
        );
      if (!live) return false;
      try {
        const written = await this.documents.put(
          this.namespace,
          threadId,
          { format: 'deleted', deletedAt: this.#now() },
          { expectedRevision: head.revision },
        );
        tombstone = written.revision;
      } catch (error) {
        // Saved meanwhile: an unconditional delete reads the head again and retries.
        const conflict = error instanceof AgentStateError && error.code === 'REVISION_CONFLICT';
        if (!conflict || options.expectedRevision !== undefined || attempt >= 3)
          throw conflictError(error, this.namespace, threadId, head.revision);
      }
    }
    // The head went first: without it the values are unreachable, so a crash here leaves only garbage
    // that the next delete of the same id removes.
    for (const namespace of [this.#namespaces.values, this.#namespaces.history, this.#namespaces.replaced]) {
      await this.#sweepBefore(namespace, threadId, tombstone);
    }
    return true;
  }

  // Deletes a thread's documents in `namespace` whose revision suffix is below `revision`.
  async #sweepBefore(namespace: string, threadId: string, revision: number): Promise<void> {
    const doomed: BatchOperation[] = [];
    for await (const doc of listAll(this.documents, namespace, part(threadId), PAGE)) {
      const rev = Number(doc.id.slice(-revisionSuffix(0).length));
      if (rev < revision) doomed.push({ type: 'delete', namespace, id: doc.id });
      if (doomed.length >= PAGE) await this.documents.batch(doomed.splice(0));
    }
    if (doomed.length > 0) await this.documents.batch(doomed);
  }

  /** Lists thread ids in id order, one page at a time. */
  async list(options: ListOptions = {}): Promise<ThreadPage> {
    const page = await this.documents.list(this.namespace, options);
    // Tombstones of deleted threads are left out (a page may hold fewer ids than `limit`).
    const result: ThreadPage = {
      threadIds: page.items.filter((item) => !isTombstone(item.value)).map((item) => item.id),
    };
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

  async #readValue(threadId: string, key: string, location: KeyLocation): Promise<JsonValue | undefined> {
    if ('v' in location) return location.v;
    if ('rev' in location) {
      return (
        await this.documents.get<JsonValue>(this.#namespaces.values, valueId(threadId, key, location.rev))
      )?.value;
    }
    const chunks = await Promise.all(
      location.chunks.map((chunk) =>
        this.documents.get<JsonValue[]>(this.#namespaces.values, valueId(threadId, key, chunk.rev)),
      ),
    );
    const items: JsonValue[] = [];
    for (const chunk of chunks) {
      if (chunk === undefined || !Array.isArray(chunk.value)) return undefined;
      items.push(...chunk.value);
    }
    return items;
  }

  // Drops history records beyond `keepRevisions` or older than `olderThanMs`, with the values those saves
  // replaced (the head's value documents are never touched: a save deletes the ones it replaces).
  // Retention after a save. By count alone, once this repository has swept the thread, the records that
  // fell out since the last run are known by id (revisions are consecutive): deleted without a listing.
  // The first run per thread lists, so records left by a higher `keepRevisions` go too.
  async #retainOnSave(threadId: string, rev: number): Promise<void> {
    if (this.#olderThanMs !== undefined || !this.#swept.has(threadId)) {
      await this.#applyRetention(threadId, rev);
      if (this.#swept.size >= SWEPT_CAP) this.#swept.clear();
      this.#swept.add(threadId);
      return;
    }
    const doomed: BatchOperation[] = [];
    for (
      let old = rev - this.#keepRevisions;
      old > Math.max(0, rev - this.#keepRevisions - RETENTION_EVERY);
      old -= 1
    )
      doomed.push(...this.#forget(threadId, old));
    if (doomed.length > 0) await this.documents.batch(doomed);
  }

  // Deleting a save's history record and the values it replaced.
  #forget(threadId: string, documentRevision: number): BatchOperation[] {
    const id = historyId(threadId, documentRevision);
    return [
      { type: 'delete', namespace: this.#namespaces.history, id },
      { type: 'delete', namespace: this.#namespaces.replaced, id },
    ];
  }

  async #applyRetention(threadId: string, rev: number): Promise<void> {
    const prefix = part(threadId);
    const cutoff = this.#olderThanMs === undefined ? undefined : this.#now() - this.#olderThanMs;
    const doomed: BatchOperation[] = [];
    for await (const doc of listAll<HistoryDoc>(
      this.documents,
      this.#namespaces.history,
      prefix,
      RETENTION_EVERY * 2,
    )) {
      const documentRevision = Number(doc.id.slice(prefix.length));
      const tooMany = documentRevision <= rev - this.#keepRevisions;
      const tooOld = cutoff !== undefined && doc.value.savedAt < cutoff && documentRevision !== rev;
      if (!tooMany && !tooOld) break;
      doomed.push(...this.#forget(threadId, documentRevision));
    }
    for (let i = 0; i < doomed.length; i += PAGE) await this.documents.batch(doomed.slice(i, i + PAGE));
  }
}

// The head left by `delete`: the thread reads as absent, its revision keeps counting.
function isTombstone(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { format?: unknown }).format === 'deleted';
}

function isDeltaHead(value: unknown): value is StoredThreadHead {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as StoredThreadHead).format === 'delta' &&
    typeof (value as StoredThreadHead).revision === 'number' &&
    typeof (value as StoredThreadHead).keys === 'object' &&
    ((value as StoredThreadHead).inline === undefined ||
      typeof (value as StoredThreadHead).inline === 'string')
  );
}

function checkExpected(threadId: string, expected: unknown): number {
  if (typeof expected !== 'number' || !Number.isSafeInteger(expected) || expected < 0) {
    throw new InvalidInputError(
      `save of thread '${threadId}' needs expectedRevision: the documentRevision last loaded, or 0 for a new thread`,
      { threadId, expectedRevision: expected },
    );
  }
  return expected;
}

function conflictError(error: unknown, namespace: string, threadId: string, expected: number): unknown {
  if (!(error instanceof AgentStateError && error.code === 'REVISION_CONFLICT')) return error;
  const actual = error.details.actualRevision;
  return new RevisionConflictError(
    expected === 0
      ? `thread '${threadId}' already exists (document revision ${String(actual)}); load it and retry`
      : `thread '${threadId}' was saved by someone else (document revision ${String(actual)}, expected ${expected}); load it again and re-apply your changes`,
    { namespace, threadId, expectedRevision: expected, actualRevision: actual },
  );
}

/** A thread bound to a `StateStore`: `save()` writes the store's persisted state with compare-and-set. */
export class ThreadSession {
  /** The thread id. */
  readonly threadId: string;
  /** The bound store. */
  readonly store: StateStore;
  readonly #repository: ThreadStateRepository;
  #base: ThreadBase = { documentRevision: 0, head: undefined, values: new Map() };
  // Saves and reloads of one session run in call order; see save().
  readonly #queue = new SerialQueue();

  /** Made by `ThreadStateRepository.open`. */
  constructor(repository: ThreadStateRepository, threadId: string, store: StateStore) {
    this.#repository = repository;
    this.threadId = threadId;
    this.store = store;
  }

  /** Revision of the stored document this session last loaded or saved (0: not stored yet). */
  get documentRevision(): number {
    return this.#base.documentRevision;
  }

  /**
   * Saves the store's persisted state; `RevisionConflictError` if another writer saved the thread since.
   * Calls on one session run one after another (each exports the state when its turn comes), so two
   * saves in flight never conflict with each other.
   */
  save(): Promise<ThreadRecord> {
    return this.#queue.run(async () => {
      const state = this.store.exportPersisted();
      // The next save's base reads these values (see valuesOf): the record handed back cannot change them.
      Object.freeze(state.extensions);
      const { record, base } = await this.#repository.saveDelta(this.threadId, state, this.#base);
      this.#base = base;
      return record;
    });
  }

  /** Loads the saved state into the store, replacing its persistent state; undefined when nothing is saved. */
  reload(): Promise<RestoreReport | undefined> {
    return this.#queue.run(async () => {
      const loaded = await this.#repository.loadBase(this.threadId);
      if (loaded === undefined) {
        this.#base = { documentRevision: 0, head: undefined, values: new Map() };
        return undefined;
      }
      const report = this.store.restore(loaded.record.state);
      this.#base = loaded.base;
      return report;
    });
  }
}
