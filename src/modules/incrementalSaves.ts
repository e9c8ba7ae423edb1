/**
 * Incremental saves of a module collection with one growing list attribute (a session's `messages`),
 * as AgentScope's session stores do it: a module that did not change since its last save is not written
 * at all; when only the list grew, the new items are appended as one chunk document; any other change
 * rewrites that module's small record alone. "Only grew" is known, not guessed: the list's own append method
 * announces its change with `markAppended`, and any other change of the list (an assignment, a
 * `markChanged`, a load) marks it rewritten. A save therefore costs the same with 10 or 10,000 items: the
 * history is never encoded or compared again. (Comparing digests of a few saved items instead would miss
 * an edit in the middle and read a removed middle item as a dropped oldest one.) The list lives in
 * `<namespace>` as chunks (see `appendChunk`: at most log2(n) + 1).
 *
 * Changes are noticed through `onStateChange`: assignments and `markChanged` (which every method of
 * `SessionStateModule` calls). An in-place edit of a stored object that is not announced with
 * `markChanged` is not seen, as the change tracker does not see it either.
 */

import type { BatchOperation, DocumentStore } from '../drivers/index.ts';
import { CorruptStateError } from '../errors.ts';
import { part, revisionSuffix } from '../shared/idParts.ts';
import { appendChunk, type Chunk } from '../state/index.ts';
import type { ModuleTypeRegistry } from './moduleTypes.ts';
import type { StateModule } from './stateModule.ts';
import { isShared } from './stateRepository.ts';

/** Which attribute grows and where its chunks go. */
export interface AppendLogOptions {
  /** The list attribute (`messages`). */
  attribute: string;
  /** Namespace of the chunk documents. */
  namespace: string;
  /**
   * Absolute position of the list's first item (a session's `messageCount - messages.length`), when old
   * items are dropped from the front: a window that slid is then still an append. Default 0.
   */
  offsetOf?: (module: StateModule) => number;
}

/** Where a module's list is stored, kept in its envelope. */
export interface AppendLogRecord {
  /** Save counter of the module: names the chunk written by each save. */
  seq: number;
  /** The chunks, in order, at absolute positions. */
  chunks: Chunk[];
  /** Absolute position of the first live item (earlier items of the first chunk were dropped). */
  offset?: number;
}

interface Saved {
  envelope: string;
  offset: number;
  length: number;
  log: AppendLogRecord;
}

// Modules whose list attribute is being changed by a pure append right now (see `markAppended`).
const appending = new WeakSet<StateModule>();

/**
 * Announces that items were pushed at the end of a growing list attribute (older items may have been
 * dropped from its front), so an incremental save appends them. Any other change of that attribute makes
 * the next save rewrite the list.
 */
export function markAppended(module: StateModule, attribute: string): void {
  appending.add(module);
  try {
    module.markChanged(attribute);
  } finally {
    appending.delete(module);
  }
}

/** What one module's save writes, and how to record it once the batch committed. */
export interface PlannedSave {
  operations: BatchOperation[];
  /** Records the save; `revision` is the envelope's new document revision (from the batch result). */
  commit(revision: number): void;
}

/** Tracks changes of the modules of one collection and plans their incremental saves. */
export class IncrementalSaves {
  readonly #options: AppendLogOptions;
  readonly #omit: ReadonlySet<string>;
  readonly #saved = new Map<string, Saved>();
  readonly #dirty = new Set<string>();
  // Modules whose list changed other than by `markAppended` since their last save: rewritten whole.
  readonly #rewritten = new Set<string>();
  readonly #unsubscribe = new Map<string, () => void>();
  // Document revision of each module's envelope as last read or written: every envelope write is a
  // compare-and-set on it, so a writer holding an older envelope (whose chunks another writer may have
  // merged away) fails with nothing written instead of leaving an envelope that points at deleted chunks.
  // Kept after `untrack`, so a removed module's delete and a re-added id are checked too.
  readonly #revisions = new Map<string, number>();

  readonly #types: ModuleTypeRegistry;

  constructor(options: AppendLogOptions, types: ModuleTypeRegistry) {
    this.#options = options;
    this.#types = types;
    this.#omit = new Set([options.attribute]);
  }

  /**
   * Starts watching a module. `log` is given when the module was just loaded from chunks, so storage
   * holds exactly its state; without it (new, or loaded from the whole-document format) the next save
   * writes it completely.
   */
  track(id: string, module: StateModule, log?: AppendLogRecord, revision?: number): void {
    if (revision !== undefined) this.#revisions.set(id, revision);
    this.#unsubscribe.get(id)?.();
    this.#unsubscribe.set(
      id,
      module.onStateChange('*', (attribute) => {
        this.#dirty.add(id);
        if (attribute === this.#options.attribute && !appending.has(module)) this.#rewritten.add(id);
      }),
    );
    this.#rewritten.delete(id);
    if (log === undefined) {
      this.#saved.delete(id);
      this.#dirty.add(id);
      return;
    }
    this.#saved.set(id, {
      envelope: this.#record(module).text,
      offset: this.#offsetOf(module),
      length: this.#list(module).length,
      log,
    });
    this.#dirty.delete(id);
  }

  /** Stops watching a module (removed or replaced). */
  untrack(id: string): void {
    this.#unsubscribe.get(id)?.();
    this.#unsubscribe.delete(id);
    this.#saved.delete(id);
    this.#dirty.delete(id);
    this.#rewritten.delete(id);
  }

  /** Forgets every known revision (before a load replaces the collection). */
  reset(): void {
    this.#revisions.clear();
  }

  /** The compare-and-set revision of a module's document: last seen, or 0 (create-only) when never seen. */
  expectedRevision(id: string): number {
    return this.#revisions.get(id) ?? 0;
  }

  /** Records the revision a batch gave a module's document (0 once deleted). */
  stored(id: string, revision: number): void {
    this.#revisions.set(id, revision);
  }

  /** Ids of the modules changed since their last save (or never saved): the only ones a save looks at. */
  changed(): string[] {
    return [...this.#dirty];
  }

  /** The writes of one module's save, or undefined when it did not change since its last save. */
  plan(namespace: string, id: string, module: StateModule): PlannedSave | undefined {
    const saved = this.#saved.get(id);
    if (saved !== undefined && !this.#dirty.has(id)) return undefined;
    // Cleared now, not after the batch: a change made while the batch is in flight marks it again.
    this.#dirty.delete(id);
    const rewritten = this.#rewritten.delete(id);
    const { type, version, state, text } = this.#record(module);
    const list = this.#list(module);
    const length = list.length;
    const offset = this.#offsetOf(module);
    const end = offset + length;
    const operations: BatchOperation[] = [];
    const seq = (saved?.log.seq ?? 0) + 1;
    let chunks: Chunk[];
    if (saved !== undefined && !rewritten && this.#grew(saved, length, offset)) {
      const savedEnd = saved.offset + saved.length;
      chunks = saved.log.chunks;
      if (end > savedEnd) {
        const appended = appendChunk(chunks, savedEnd, end - savedEnd, seq);
        chunks = appended.chunks;
        for (const stale of appended.merged) operations.push(this.#delete(id, stale));
        // A merge may reach back before the window: the items there were dropped, the chunk starts later.
        const tail = chunks[chunks.length - 1]!;
        if (tail.start < offset) chunks[chunks.length - 1] = { ...tail, start: offset, length: end - offset };
        const written = chunks[chunks.length - 1]!;
        operations.push(this.#put(id, seq, list.slice(written.start - offset, end - offset)));
      }
      // Chunks wholly before the window hold only dropped items.
      const live = chunks.filter((chunk) => chunk.start + chunk.length > offset);
      for (const chunk of chunks) {
        if (!live.includes(chunk) && chunk.rev !== seq) operations.push(this.#delete(id, chunk.rev));
      }
      chunks = live;
    } else {
      // Not a pure append (first save, items edited or removed): the list is written again, alone.
      for (const stale of saved?.log.chunks ?? []) operations.push(this.#delete(id, stale.rev));
      chunks = length > 0 ? [{ rev: seq, start: offset, length }] : [];
      if (length > 0) operations.push(this.#put(id, seq, list.slice()));
    }
    const log: AppendLogRecord = { seq: operations.length > 0 ? seq : (saved?.log.seq ?? 0), chunks, offset };
    const envelope = { type, version, state, appendLog: log };
    const envelopeChanged =
      saved === undefined || text !== saved.envelope || operations.length > 0 || offset !== saved.offset;
    if (!envelopeChanged) return undefined;
    // The envelope keeps an empty list in the state, so a reader of the plain envelope format still
    // gets a state of the right shape; loadAll fills it from the chunks.
    operations.push({
      type: 'put',
      namespace,
      id,
      value: { ...envelope, state: { ...state, [this.#options.attribute]: [] } },
      options: { expectedRevision: this.expectedRevision(id) },
    });
    return {
      operations,
      commit: (revision) => {
        this.#revisions.set(id, revision);
        this.#saved.set(id, {
          envelope: text,
          offset,
          length,
          log,
        });
      },
    };
  }

  // Whether a list known to have only had items appended (and maybe its oldest dropped) still covers the
  // saved end: the window did not move back and did not shrink below what was saved.
  #grew(saved: Saved, length: number, offset: number): boolean {
    const savedEnd = saved.offset + saved.length;
    return offset >= saved.offset && offset <= savedEnd && offset + length >= savedEnd;
  }

  #offsetOf(module: StateModule): number {
    return this.#options.offsetOf?.(module) ?? 0;
  }

  /** Marks modules whose batch failed as changed again, so the next save retries them. */
  failed(ids: Iterable<string>): void {
    // Rewritten too: the plan consumed the module's rewrite mark, and a failed rewrite must be redone.
    for (const id of ids) {
      this.#dirty.add(id);
      this.#rewritten.add(id);
    }
  }

  /**
   * Fills the list of a stored envelope from its chunks. Returns the envelope to load and its log record
   * (undefined for an envelope of the earlier whole-document format, returned as it is).
   */
  async read(
    store: DocumentStore,
    id: string,
    stored: unknown,
  ): Promise<{ envelope: unknown; log?: AppendLogRecord; shared: boolean }> {
    if (typeof stored !== 'object' || stored === null || !('appendLog' in stored))
      return { envelope: stored, shared: isShared(stored) };
    const { appendLog: log, ...plain } = stored as { appendLog: AppendLogRecord; state?: unknown };
    if (!Array.isArray(log?.chunks) || typeof plain.state !== 'object' || plain.state === null) {
      throw new CorruptStateError(`stored '${id}' has a malformed appendLog record`, { id });
    }
    const docs = await Promise.all(
      log.chunks.map((chunk) => store.get<unknown[]>(this.#options.namespace, this.#chunkId(id, chunk.rev))),
    );
    const items: unknown[] = [];
    // Chunks read through a cache are shared: the module must then copy what it adopts.
    let shared = isShared(stored);
    for (const [index, doc] of docs.entries()) {
      if (doc === undefined || !Array.isArray(doc.value)) {
        throw new CorruptStateError(`stored ${this.#options.attribute} of '${id}' miss chunk ${index}`, {
          id,
          chunk: log.chunks[index],
        });
      }
      shared ||= isShared(doc.value);
      items.push(...doc.value);
    }
    const skip = log.chunks.length > 0 ? (log.offset ?? log.chunks[0]!.start) - log.chunks[0]!.start : 0;
    if (skip > 0) items.splice(0, skip);
    return {
      envelope: { ...plain, state: { ...plain.state, [this.#options.attribute]: items } },
      log,
      shared,
    };
  }

  /** The namespace of the chunks and the id prefix of one module's chunks, for deleting it. */
  chunksOf(id: string): { namespace: string; prefix: string } {
    return { namespace: this.#options.namespace, prefix: part(id) };
  }

  // The module's record without the list, and its encoded text to compare with the saved one.
  #record(module: StateModule) {
    const { type, version } = this.#types.typeOf(module);
    const state = module.stateDict({ omit: this.#omit });
    return {
      type,
      version,
      state,
      text: JSON.stringify(module.stateCodec().encode({ type, version, state })),
    };
  }

  #list(module: StateModule): unknown[] {
    const value = (module as unknown as Record<string, unknown>)[this.#options.attribute];
    return Array.isArray(value) ? value : [];
  }

  #chunkId(id: string, rev: number): string {
    return part(id) + revisionSuffix(rev);
  }

  #put(id: string, rev: number, items: unknown[]): BatchOperation {
    return { type: 'put', namespace: this.#options.namespace, id: this.#chunkId(id, rev), value: items };
  }

  #delete(id: string, rev: number): BatchOperation {
    return { type: 'delete', namespace: this.#options.namespace, id: this.#chunkId(id, rev) };
  }
}
