import { isDeepStrictEqual } from 'node:util';
import type { RunnableConfig } from '@langchain/core/runnables';
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  getCheckpointId,
  maxChannelVersion,
  type PendingWrite,
  type SerializerProtocol,
  TASKS,
  WRITES_IDX_MAP,
} from '@langchain/langgraph-checkpoint';
import type { BatchOperation, DocumentStore, StoredDocument } from '../../drivers/index.ts';
import { readParts } from '../../drivers/shared/idParts.ts';
import { deleteByPrefix, listAll } from '../../drivers/shared/paging.ts';
import { AgentStateError, InvalidInputError } from '../../errors.ts';
import { checkIdentifier, descendingId, fromDescendingId, part, parts } from './keys.ts';
import { dump, load, type Serialized } from './serialized.ts';

/** Options of `new AgentStateSaver`. */
export interface AgentStateSaverOptions {
  /** Prefix of the saver's namespaces (default `langgraph`): `<prefix>.checkpoints`, `.blobs`, `.writes`. */
  namespace?: string;
  /** LangGraph serializer for channel values, metadata and writes (default: LangGraph's JsonPlusSerializer). */
  serde?: SerializerProtocol;
  /** Per-thread time to live, ms: `prune()` deletes a thread whose newest checkpoint is older than this. */
  ttlMs?: number;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
}

/** Options of `AgentStateSaver.prune`. */
export interface PruneOptions {
  /** Keep this many newest checkpoints of each thread and checkpoint namespace (at least 1). */
  keepLast?: number;
  /** Delete checkpoints saved more than this many ms ago (the newest of each thread always stays). */
  olderThanMs?: number;
  /** Only this thread (default: every thread). */
  threadId?: string;
}

/** What `prune` removed. */
export interface PruneReport {
  /** Checkpoints deleted. */
  checkpoints: number;
  /** Channel values deleted (no remaining checkpoint referenced them). */
  blobs: number;
  /** Pending writes deleted with their checkpoints. */
  writes: number;
  /** Threads deleted whole because their newest checkpoint outlived `ttlMs`. */
  expiredThreads: number;
}

// A checkpoint as stored: everything but the channel values, which live once per (channel, version).
interface CheckpointDoc {
  checkpoint: Omit<Checkpoint, 'channel_values'>;
  metadata: Serialized;
  parentId: string | null;
  savedAt: number;
}

type BlobDoc = Serialized;

interface WriteDoc {
  taskId: string;
  idx: number;
  channel: string;
  value: Serialized;
}

// The serializer's tag for "the channel was emptied at this version" (as the official savers write it).
const EMPTY = 'empty';
const PAGE = 500;

/**
 * A LangGraph.js checkpointer on any agentstate `DocumentStore` (memory, SQLite, PostgreSQL).
 *
 * Storage: one document per checkpoint (without channel values), one per (channel, version) holding
 * that value, one per pending write. A step that changes one channel of a large state writes that one
 * value and a small checkpoint record, never a copy of the state. Checkpoint ids are stored in
 * descending order (see keys.ts), so the latest checkpoint and `list` pages are prefix reads.
 * `put` is one atomic batch; `putWrites` keeps the official savers' index rules: regular writes keep
 * their position in the list and never replace a stored write, special writes (error, interrupt,
 * scheduled, resume) take fixed negative indexes and replace their own kind only.
 */
export class AgentStateSaver extends BaseCheckpointSaver {
  /** The storage. */
  readonly documents: DocumentStore;
  readonly #checkpoints: string;
  readonly #blobs: string;
  readonly #writes: string;
  readonly #ttlMs: number | undefined;
  readonly #now: () => number;

  /** A saver over `documents`. */
  constructor(documents: DocumentStore, options: AgentStateSaverOptions = {}) {
    super(options.serde);
    this.documents = documents;
    const prefix = options.namespace ?? 'langgraph';
    this.#checkpoints = `${prefix}.checkpoints`;
    this.#blobs = `${prefix}.blobs`;
    this.#writes = `${prefix}.writes`;
    if (options.ttlMs !== undefined && !(Number.isFinite(options.ttlMs) && options.ttlMs > 0)) {
      throw new InvalidInputError('ttlMs must be a positive number of milliseconds', {
        ttlMs: options.ttlMs,
      });
    }
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /** The checkpoint named by `config` (its `checkpoint_id`, else the thread's latest), with its writes. */
  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    // No thread named: nothing to find (the official savers answer undefined too).
    if (config.configurable?.thread_id === undefined) return undefined;
    const threadId = checkIdentifier('thread_id', config.configurable?.thread_id);
    const ns = checkIdentifier('checkpoint_ns', config.configurable?.checkpoint_ns ?? '', true);
    const checkpointId = getCheckpointId(config);
    const scope = parts(threadId, ns);
    let doc: StoredDocument<CheckpointDoc> | undefined;
    if (checkpointId) {
      checkIdentifier('checkpoint_id', checkpointId);
      doc = await this.documents.get<CheckpointDoc>(this.#checkpoints, scope + descendingId(checkpointId));
    } else {
      const page = await this.documents.list<CheckpointDoc>(this.#checkpoints, { prefix: scope, limit: 1 });
      doc = page.items[0];
    }
    if (doc === undefined) return undefined;
    return this.#tuple(threadId, ns, fromDescendingId(doc.id.slice(scope.length)), doc.value);
  }

  /** Checkpoints newest first per thread, filtered by thread, namespace, `before`, metadata; at most `limit`. */
  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let { limit } = options;
    const configurable = config.configurable ?? {};
    let prefix = '';
    if (configurable.thread_id !== undefined && configurable.thread_id !== null) {
      prefix = part(checkIdentifier('thread_id', configurable.thread_id));
      if (configurable.checkpoint_ns !== undefined && configurable.checkpoint_ns !== null) {
        prefix += part(checkIdentifier('checkpoint_ns', configurable.checkpoint_ns, true));
      }
    }
    const onlyId: unknown = configurable.checkpoint_id;
    const beforeId: unknown = before?.configurable?.checkpoint_id;
    const wantedNs: unknown = configurable.checkpoint_ns;
    for await (const doc of listAll<CheckpointDoc>(this.documents, this.#checkpoints, prefix, PAGE)) {
      if (limit !== undefined && limit <= 0) return;
      const [[threadId = '', ns = ''], rest] = readParts(doc.id, 2);
      if (wantedNs !== undefined && wantedNs !== null && ns !== wantedNs) continue;
      const checkpointId = fromDescendingId(rest);
      if (onlyId && checkpointId !== onlyId) continue;
      if (typeof beforeId === 'string' && beforeId !== '' && checkpointId >= beforeId) continue;
      if (filter !== undefined && Object.keys(filter).length > 0) {
        const metadata = (await load(this.serde, doc.value.metadata)) as Record<string, unknown>;
        if (!Object.entries(filter).every(([key, value]) => isDeepStrictEqual(metadata?.[key], value)))
          continue;
      }
      if (limit !== undefined) limit -= 1;
      yield await this.#tuple(threadId, ns, checkpointId, doc.value);
    }
  }

  /** Stores a checkpoint and the values of the channels in `newVersions`, atomically. */
  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    if (config.configurable === undefined) {
      throw new InvalidInputError('put needs config.configurable with a thread_id', {});
    }
    const threadId = checkIdentifier('thread_id', config.configurable.thread_id);
    const ns = checkIdentifier('checkpoint_ns', config.configurable.checkpoint_ns ?? '', true);
    const checkpointId = checkIdentifier('checkpoint_id', checkpoint.id);
    const parentId: unknown = config.configurable.checkpoint_id;
    if (parentId !== undefined && parentId !== null && parentId !== '')
      checkIdentifier('checkpoint_id', parentId);
    const details = { threadId, checkpointNs: ns, checkpointId };
    const { channel_values: values, ...rest } = checkpoint;
    const operations: BatchOperation[] = [];
    for (const [channel, version] of Object.entries(newVersions)) {
      const value: BlobDoc =
        values !== undefined && channel in values
          ? await dump(this.serde, values[channel], { ...details, channel })
          : { t: EMPTY, s: '' };
      operations.push({
        type: 'put',
        namespace: this.#blobs,
        id: parts(threadId, ns, channel) + String(version),
        value,
      });
    }
    const doc: CheckpointDoc = {
      checkpoint: rest,
      metadata: await dump(this.serde, metadata, { ...details, field: 'metadata' }),
      parentId: typeof parentId === 'string' && parentId !== '' ? parentId : null,
      savedAt: this.#now(),
    };
    const id = parts(threadId, ns) + descendingId(checkpointId);
    try {
      if (operations.length === 0) await this.documents.put(this.#checkpoints, id, doc);
      else
        await this.documents.batch([
          ...operations,
          { type: 'put', namespace: this.#checkpoints, id, value: doc },
        ]);
    } catch (error) {
      throw withDetails(error, details);
    }
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpointId } };
  }

  /** Stores writes of task `taskId` against a checkpoint (see the class comment for the index rules). */
  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string): Promise<void> {
    const threadId = checkIdentifier('thread_id', config.configurable?.thread_id);
    const ns = checkIdentifier('checkpoint_ns', config.configurable?.checkpoint_ns ?? '', true);
    const checkpointId = checkIdentifier('checkpoint_id', config.configurable?.checkpoint_id);
    checkIdentifier('task_id', taskId);
    const details = { threadId, checkpointNs: ns, checkpointId, taskId };
    // Writes for a checkpoint that is not stored (yet) are kept, as the official savers keep them:
    // LangGraph's loop chains each put after the previous one and lets the next step's tasks record their
    // writes meanwhile, so writes routinely arrive before the put of their checkpoint has landed.
    const base = parts(threadId, ns, checkpointId, taskId);
    const allSpecial = writes.every(([channel]) => channel in WRITES_IDX_MAP);
    const rows = await Promise.all(
      writes.map(async ([channel, value], index) => {
        const idx = WRITES_IDX_MAP[channel] ?? index;
        const doc: WriteDoc = {
          taskId,
          idx,
          channel,
          value: await dump(this.serde, value, { ...details, channel }),
        };
        return { id: base + String(idx), doc };
      }),
    );
    // Regular writes are insert-or-ignore (a retried task must not change what was recorded); a batch of
    // special writes replaces them. Two attempts: a concurrent putWrites may insert between list and batch.
    for (let attempt = 0; ; attempt += 1) {
      const existing = new Set<string>();
      if (!allSpecial) {
        for await (const doc of listAll(this.documents, this.#writes, base, PAGE)) existing.add(doc.id);
      }
      const operations: BatchOperation[] = rows
        .filter((row) => !existing.has(row.id))
        .map((row) => ({
          type: 'put',
          namespace: this.#writes,
          id: row.id,
          value: row.doc,
          ...(allSpecial ? {} : { options: { expectedRevision: 0 } }),
        }));
      if (operations.length === 0) return;
      try {
        await this.documents.batch(operations);
        return;
      } catch (error) {
        if (attempt === 0 && error instanceof AgentStateError && error.code === 'REVISION_CONFLICT') continue;
        throw withDetails(error, details);
      }
    }
  }

  /** Deletes every checkpoint, channel value and write of a thread, in every checkpoint namespace. */
  async deleteThread(threadId: string): Promise<void> {
    const prefix = part(checkIdentifier('thread_id', threadId));
    // Checkpoints first: a reader never finds a checkpoint whose values are already gone.
    await deleteByPrefix(this.documents, this.#checkpoints, prefix, PAGE);
    await deleteByPrefix(this.documents, this.#writes, prefix, PAGE);
    await deleteByPrefix(this.documents, this.#blobs, prefix, PAGE);
  }

  /**
   * Bounds the growth of threads: keeps the `keepLast` newest checkpoints of each thread and namespace,
   * drops those older than `olderThanMs` (the newest always stays), deletes channel values no remaining
   * checkpoint refers to, and deletes whole threads whose newest checkpoint outlived the saver's `ttlMs`.
   */
  async prune(options: PruneOptions = {}): Promise<PruneReport> {
    const { keepLast, olderThanMs, threadId } = options;
    if (keepLast !== undefined && !(Number.isSafeInteger(keepLast) && keepLast >= 1)) {
      throw new InvalidInputError('prune keepLast must be an integer >= 1', { keepLast });
    }
    if (olderThanMs !== undefined && !(Number.isFinite(olderThanMs) && olderThanMs >= 0)) {
      throw new InvalidInputError('prune olderThanMs must be a number of milliseconds >= 0', { olderThanMs });
    }
    const report: PruneReport = { checkpoints: 0, blobs: 0, writes: 0, expiredThreads: 0 };
    const now = this.#now();
    const prefix = threadId === undefined ? '' : part(checkIdentifier('thread_id', threadId));
    let group: { thread: string; ns: string; items: Array<{ id: string; doc: CheckpointDoc }> } | undefined;
    const expired = new Set<string>();
    const flush = async () => {
      if (group === undefined) return;
      const { thread, ns, items } = group;
      group = undefined;
      const newest = items[0]!;
      if (this.#ttlMs !== undefined && now - newest.doc.savedAt > this.#ttlMs) {
        expired.add(thread);
        return;
      }
      const doomed = items.filter(
        (item, index) =>
          index > 0 &&
          ((keepLast !== undefined && index >= keepLast) ||
            (olderThanMs !== undefined && now - item.doc.savedAt > olderThanMs)),
      );
      if (doomed.length === 0) return;
      await this.#pruneGroup(thread, ns, items, new Set(doomed.map((item) => item.id)), report);
    };
    for await (const doc of listAll<CheckpointDoc>(this.documents, this.#checkpoints, prefix, PAGE)) {
      const [[thread = '', ns = '']] = readParts(doc.id, 2);
      if (group !== undefined && (group.thread !== thread || group.ns !== ns)) await flush();
      const current = group ?? { thread, ns, items: [] };
      group = current;
      current.items.push({ id: doc.id, doc: doc.value });
    }
    await flush();
    for (const thread of expired) {
      await this.deleteThread(thread);
      report.expiredThreads += 1;
    }
    return report;
  }

  async #pruneGroup(
    thread: string,
    ns: string,
    items: Array<{ id: string; doc: CheckpointDoc }>,
    doomed: Set<string>,
    report: PruneReport,
  ): Promise<void> {
    const scope = parts(thread, ns);
    const referenced = new Set<string>();
    for (const item of items) {
      if (doomed.has(item.id)) continue;
      for (const [channel, version] of Object.entries(item.doc.checkpoint.channel_versions ?? {})) {
        referenced.add(part(channel) + String(version));
      }
    }
    const operations: BatchOperation[] = [];
    for (const id of doomed) {
      operations.push({ type: 'delete', namespace: this.#checkpoints, id });
      const checkpointId = fromDescendingId(id.slice(scope.length));
      for await (const write of listAll(this.documents, this.#writes, scope + part(checkpointId), PAGE)) {
        operations.push({ type: 'delete', namespace: this.#writes, id: write.id });
        report.writes += 1;
      }
    }
    for await (const blob of listAll(this.documents, this.#blobs, scope, PAGE)) {
      if (!referenced.has(blob.id.slice(scope.length))) {
        operations.push({ type: 'delete', namespace: this.#blobs, id: blob.id });
        report.blobs += 1;
      }
    }
    report.checkpoints += doomed.size;
    for (let i = 0; i < operations.length; i += PAGE) {
      await this.documents.batch(operations.slice(i, i + PAGE));
    }
  }

  async #tuple(
    threadId: string,
    ns: string,
    checkpointId: string,
    doc: CheckpointDoc,
  ): Promise<CheckpointTuple> {
    const scope = parts(threadId, ns);
    const versions = doc.checkpoint.channel_versions ?? {};
    const [values, pendingWrites, metadata] = await Promise.all([
      this.#values(scope, versions),
      this.#pendingWrites(scope + part(checkpointId)),
      load(this.serde, doc.metadata) as Promise<CheckpointMetadata>,
    ]);
    const checkpoint = {
      ...doc.checkpoint,
      channel_versions: { ...versions },
      versions_seen: doc.checkpoint.versions_seen ?? {},
      channel_values: values,
    } as Checkpoint;
    if (checkpoint.v < 4 && doc.parentId !== null) {
      await this.#migratePendingSends(checkpoint, scope + part(doc.parentId));
    }
    const tuple: CheckpointTuple = {
      config: { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpointId } },
      checkpoint,
      metadata,
      pendingWrites,
    };
    if (doc.parentId !== null) {
      tuple.parentConfig = {
        configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: doc.parentId },
      };
    }
    return tuple;
  }

  async #values(scope: string, versions: ChannelVersions): Promise<Record<string, unknown>> {
    const entries = await Promise.all(
      Object.entries(versions).map(async ([channel, version]) => {
        const blob = await this.documents.get<BlobDoc>(this.#blobs, scope + part(channel) + String(version));
        if (blob === undefined || blob.value.t === EMPTY) return undefined;
        return [channel, await load(this.serde, blob.value)] as const;
      }),
    );
    const values: Record<string, unknown> = {};
    for (const entry of entries) if (entry !== undefined) values[entry[0]] = entry[1];
    return values;
  }

  async #writeDocs(prefix: string): Promise<WriteDoc[]> {
    const docs: WriteDoc[] = [];
    for await (const doc of listAll<WriteDoc>(this.documents, this.#writes, prefix, PAGE))
      docs.push(doc.value);
    // Ordered by task id, then index, as the official savers return them.
    return docs.sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : a.idx - b.idx));
  }

  async #pendingWrites(prefix: string): Promise<CheckpointPendingWrite[]> {
    const docs = await this.#writeDocs(prefix);
    return Promise.all(
      docs.map(
        async (doc) => [doc.taskId, doc.channel, await load(this.serde, doc.value)] as CheckpointPendingWrite,
      ),
    );
  }

  // Checkpoints of format < 4 kept pending sends as writes on the parent; newer LangGraph reads them as a
  // TASKS channel value, so they are moved there on read, as the official savers do.
  async #migratePendingSends(checkpoint: Checkpoint, parentPrefix: string): Promise<void> {
    const docs = (await this.#writeDocs(parentPrefix)).filter((doc) => doc.channel === TASKS);
    const sends = await Promise.all(docs.map((doc) => load(this.serde, doc.value)));
    checkpoint.channel_values[TASKS] = sends;
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] =
      versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }
}

// A storage error again, naming the thread and checkpoint being saved (the code stays the same).
function withDetails(error: unknown, details: Record<string, unknown>): unknown {
  if (!(error instanceof AgentStateError)) return error;
  const where = Object.entries(details)
    .map(([key, value]) => `${key} '${String(value)}'`)
    .join(', ');
  return new AgentStateError(
    error.code,
    `${error.message} (${where})`,
    { ...error.details, ...details },
    { cause: error },
  );
}
