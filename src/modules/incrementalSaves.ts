/**
 * Incremental saves of a module collection with one growing list attribute (a session's `messages`),
 * as AgentScope's session stores do it: a module that did not change since its last save is not written
 * at all; when only the list grew, the new items are appended as one chunk document; any other change
 * rewrites that module's small record alone. "Only grew" is decided from the saved position and digests of
 * the first and last saved items, so a save costs the same with 10 or 10,000 items: the history is never
 * encoded again. The list lives in `<namespace>` as chunks (see `appendChunk`: at most log2(n) + 1).
 *
 * Changes are noticed through `onStateChange`: assignments and `markChanged` (which every method of
 * `SessionStateModule` calls). An in-place edit of a stored object that is not announced with
 * `markChanged` is not seen, as the change tracker does not see it either.
 */
import { createHash } from 'node:crypto';
import { part, revisionSuffix } from '../drivers/shared/idParts.ts';
import type { BatchOperation, DocumentStore } from '../drivers/types.ts';
import { CorruptStateError } from '../errors.ts';
import { appendChunk, type Chunk } from '../state/threadDelta.ts';
import type { ModuleTypeRegistry } from './moduleTypes.ts';
import type { StateModule } from './stateModule.ts';

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
  first: string | undefined;
  last: string | undefined;
  log: AppendLogRecord;
}

/** What one module's save writes, and how to record it once the batch committed. */
export interface PlannedSave {
  operations: BatchOperation[];
  commit(): void;
}

/** Tracks changes of the modules of one collection and plans their incremental saves. */
export class IncrementalSaves {
  readonly #options: AppendLogOptions;
  readonly #omit: ReadonlySet<string>;
  readonly #saved = new Map<string, Saved>();
  readonly #dirty = new Set<string>();
  readonly #unsubscribe = new Map<string, () => void>();

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
  track(id: string, module: StateModule, log?: AppendLogRecord): void {
    this.#unsubscribe.get(id)?.();
    this.#unsubscribe.set(
      id,
      module.onStateChange('*', () => this.#dirty.add(id)),
    );
    if (log === undefined) {
      this.#saved.delete(id);
      this.#dirty.add(id);
      return;
    }
    const list = this.#list(module);
    this.#saved.set(id, {
      envelope: this.#record(module).text,
      offset: this.#offsetOf(module),
      length: list.length,
      first: list.length > 0 ? digest(module, list[0]) : undefined,
      last: list.length > 0 ? digest(module, list[list.length - 1]) : undefined,
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
  }

  /** Whether a module is stored exactly as it is now (saved, and not changed since). */
  isClean(id: string): boolean {
    return this.#saved.has(id) && !this.#dirty.has(id);
  }

  /** The writes of one module's save, or undefined when it did not change since its last save. */
  plan(namespace: string, id: string, module: StateModule): PlannedSave | undefined {
    const saved = this.#saved.get(id);
    if (saved !== undefined && !this.#dirty.has(id)) return undefined;
    // Cleared now, not after the batch: a change made while the batch is in flight marks it again.
    this.#dirty.delete(id);
    const { type, version, state, text } = this.#record(module);
    const list = this.#list(module);
    const length = list.length;
    const offset = this.#offsetOf(module);
    const end = offset + length;
    const operations: BatchOperation[] = [];
    const seq = (saved?.log.seq ?? 0) + 1;
    let chunks: Chunk[];
    const first = length > 0 ? digest(module, list[0]) : undefined;
    if (saved !== undefined && this.#grew(module, saved, list, offset)) {
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
    });
    return {
      operations,
      commit: () => {
        this.#saved.set(id, {
          envelope: text,
          offset,
          length,
          first,
          last: length > 0 ? digest(module, list[length - 1]) : undefined,
          log,
        });
      },
    };
  }

  // Whether `list` (first item at `offset`) is the saved list with items appended, maybe with old items
  // dropped from the front: the window did not move back, the last saved item is still there and
  // unchanged, and without a known offset the first item is unchanged too. Two digests, whatever the length.
  #grew(module: StateModule, saved: Saved, list: unknown[], offset: number): boolean {
    const savedEnd = saved.offset + saved.length;
    if (offset < saved.offset || offset + list.length < savedEnd) return false;
    if (saved.length === 0) return offset <= savedEnd;
    const lastIndex = savedEnd - 1 - offset;
    if (lastIndex < 0 || digest(module, list[lastIndex]) !== saved.last) return false;
    return this.#options.offsetOf !== undefined || digest(module, list[0]) === saved.first;
  }

  #offsetOf(module: StateModule): number {
    return this.#options.offsetOf?.(module) ?? 0;
  }

  /** Marks modules whose batch failed as changed again, so the next save retries them. */
  failed(ids: Iterable<string>): void {
    for (const id of ids) this.#dirty.add(id);
  }

  /**
   * Fills the list of a stored envelope from its chunks. Returns the envelope to load and its log record
   * (undefined for an envelope of the earlier whole-document format, returned as it is).
   */
  async read(
    store: DocumentStore,
    id: string,
    stored: unknown,
  ): Promise<{ envelope: unknown; log?: AppendLogRecord }> {
    if (typeof stored !== 'object' || stored === null || !('appendLog' in stored))
      return { envelope: stored };
    const { appendLog: log, ...plain } = stored as { appendLog: AppendLogRecord; state?: unknown };
    if (!Array.isArray(log?.chunks) || typeof plain.state !== 'object' || plain.state === null) {
      throw new CorruptStateError(`stored '${id}' has a malformed appendLog record`, { id });
    }
    const docs = await Promise.all(
      log.chunks.map((chunk) => store.get<unknown[]>(this.#options.namespace, this.#chunkId(id, chunk.rev))),
    );
    const items: unknown[] = [];
    for (const [index, doc] of docs.entries()) {
      if (doc === undefined || !Array.isArray(doc.value)) {
        throw new CorruptStateError(`stored ${this.#options.attribute} of '${id}' miss chunk ${index}`, {
          id,
          chunk: log.chunks[index],
        });
      }
      items.push(...doc.value);
    }
    const skip = log.chunks.length > 0 ? (log.offset ?? log.chunks[0]!.start) - log.chunks[0]!.start : 0;
    if (skip > 0) items.splice(0, skip);
    return { envelope: { ...plain, state: { ...plain.state, [this.#options.attribute]: items } }, log };
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

// A short fingerprint of one list item, in the module's own encoding.
function digest(module: StateModule, item: unknown): string {
  return createHash('sha1')
    .update(JSON.stringify(module.stateCodec().encode(item)))
    .digest('base64');
}
