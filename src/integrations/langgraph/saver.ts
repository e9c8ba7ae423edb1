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
import { deleteByPrefix, getMany, listAll } from '../../drivers/index.ts';
import {
  AgentStateError,
  CorruptStateError,
  InvalidInputError,
  RevisionConflictError,
} from '../../errors.ts';
import { readParts } from '../../shared/idParts.ts';
import { checkIdentifier, descendingId, fromDescendingId, part, parts } from './keys.ts';
import { NEEDS_SERDE, type Serialized, ValueSerializer } from './serialized.ts';
import { ValueCache } from './valueCache.ts';

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
  /**
   * Bytes of channel values kept in this process (default 16 MiB; 0: none), so `getTuple` reads from the
   * store only the values it has not written or read before (see valueCache.ts).
   */
  valueCacheBytes?: number;
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

// One (thread, checkpoint namespace) while prune streams through it.
interface PruneGroup {
  thread: string;
  ns: string;
  /** Position of the next checkpoint, newest first. */
  index: number;
  /** `part(channel) + version` of every value a kept checkpoint refers to. */
  referenced: Set<string>;
  /** Highest version of each channel among the listed checkpoints. */
  highest: Map<string, number | string>;
  /** Checkpoint ids to delete, not yet deleted. */
  doomed: string[];
  /** Whether any checkpoint of the group was deleted (only then can values have lost their last reader). */
  pruned?: boolean;
}

// Channel versions ordered as LangGraph orders them: numbers by value (a stored id suffix is read back as
// its number), anything else as text.
function compareVersions(a: number | string, b: number | string): number {
  const x = typeof a === 'number' ? a : Number(a);
  const y = typeof b === 'number' ? b : Number(b);
  if (Number.isFinite(x) && Number.isFinite(y)) return Math.sign(x - y);
  return String(a).localeCompare(String(b));
}

// A checkpoint as stored: everything but the channel values, which live once per (channel, version).
interface CheckpointDoc {
  checkpoint: Omit<Checkpoint, 'channel_values'>;
  metadata: Serialized;
  parentId: string | null;
  savedAt: number;
  /** Channels whose value this put stored (its `newVersions`); absent in checkpoints of earlier releases. */
  written?: string[];
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
  readonly #serializer: ValueSerializer;
  readonly #values: ValueCache;

  /** A saver over `documents`. */
  constructor(documents: DocumentStore, options: AgentStateSaverOptions = {}) {
    super(options.serde);
    this.documents = documents;
    this.#serializer = new ValueSerializer(this.serde, options.serde === undefined);
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
    this.#values = new ValueCache(options.valueCacheBytes);
  }

  /**
   * A channel version unique to this write: the next integer plus a random fraction, as the official
   * Python savers that support forks add a random part. With plain integers, a fork (`updateState` on an
   * old checkpoint) produces version n + 1 of a channel that the original branch already stored as n + 1,
   * and values are kept once per (channel, version). Still a number, because LangGraph.js types a
   * checkpointer's versions as numbers; versions still increase (floor(v) + 1 + f > v).
   */
  override getNextVersion(current: number | undefined): number {
    const base = typeof current === 'number' && Number.isFinite(current) ? Math.floor(current) : 0;
    // Never exactly an integer, so never equal to a version of the earlier integer scheme.
    return base + 1 + (Math.random() || 0.5);
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
    // Thread and namespace known: `before` is a starting point (ids are descending, so the checkpoints
    // older than it come right after its id), not a filter that skips the newer ones one by one.
    let after: string | undefined;
    const scoped = prefix !== '' && wantedNs !== undefined && wantedNs !== null;
    if (scoped && typeof beforeId === 'string' && beforeId !== '') {
      after = prefix + descendingId(checkIdentifier('checkpoint_id', beforeId));
    }
    for await (const doc of listAll<CheckpointDoc>(this.documents, this.#checkpoints, prefix, PAGE, after)) {
      if (limit !== undefined && limit <= 0) return;
      const [[threadId = '', ns = ''], rest] = readParts(doc.id, 2);
      if (wantedNs !== undefined && wantedNs !== null && ns !== wantedNs) continue;
      const checkpointId = fromDescendingId(rest);
      if (onlyId && checkpointId !== onlyId) continue;
      if (typeof beforeId === 'string' && beforeId !== '' && checkpointId >= beforeId) continue;
      if (filter !== undefined && Object.keys(filter).length > 0) {
        const metadata = (await this.#serializer.load(doc.value.metadata)) as Record<string, unknown>;
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
          ? await this.#serializer.dump(values[channel], { ...details, channel })
          : { t: EMPTY, s: '' };
      // Insert-only: a stored (channel, version) is never replaced, whichever branch stored it.
      operations.push({
        type: 'put',
        namespace: this.#blobs,
        id: parts(threadId, ns, channel) + String(version),
        value,
        options: { expectedRevision: 0 },
      });
    }
    const doc: CheckpointDoc = {
      checkpoint: rest,
      metadata: await this.#serializer.dump(metadata, { ...details, field: 'metadata' }),
      parentId: typeof parentId === 'string' && parentId !== '' ? parentId : null,
      savedAt: this.#now(),
      written: Object.keys(newVersions),
    };
    const id = parts(threadId, ns) + descendingId(checkpointId);
    try {
      if (operations.length === 0) await this.documents.put(this.#checkpoints, id, doc);
      else
        await this.#putWithBlobs(operations, Object.values(newVersions), {
          type: 'put',
          namespace: this.#checkpoints,
          id,
          value: doc,
        });
    } catch (error) {
      throw withDetails(error, details);
    }
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpointId } };
  }

  // One batch of the new channel values and the checkpoint. A value already stored under its (channel,
  // version) is kept (a retried put, or a version from before unique versions): its put is left out and
  // the batch is tried once more.
  async #putWithBlobs(
    blobs: BatchOperation[],
    versions: readonly unknown[],
    checkpoint: BatchOperation,
  ): Promise<void> {
    try {
      await this.documents.batch([...blobs, checkpoint]);
      this.#keep(blobs, versions);
      return;
    } catch (error) {
      if (!(error instanceof AgentStateError && error.code === 'REVISION_CONFLICT')) throw error;
    }
    const stored = await Promise.all(blobs.map((op) => this.documents.get(this.#blobs, op.id)));
    for (const [index, doc] of stored.entries()) {
      const op = blobs[index]!;
      // Another branch stored a different value under this version: never read one branch's value in
      // the other (with random versions this takes a collision of about one in 2^30).
      if (doc !== undefined && op.type === 'put' && !isDeepStrictEqual(doc.value, op.value)) {
        throw new RevisionConflictError(
          `channel value ${op.id} is already stored with another value; put the checkpoint again`,
          { namespace: this.#blobs, id: op.id },
        );
      }
    }
    await this.documents.batch([...blobs.filter((_, index) => stored[index] === undefined), checkpoint]);
    // The ones left out are stored with these very values (checked above).
    this.#keep(blobs, versions);
  }

  // Keeps the values of committed blob puts for later reads.
  #keep(blobs: BatchOperation[], versions: readonly unknown[]): void {
    for (let i = 0; i < blobs.length; i++) {
      const op = blobs[i]!;
      if (op.type === 'put') this.#values.set(op.id, versions[i], op.value as BlobDoc);
    }
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
          value: await this.#serializer.dump(value, { ...details, channel }),
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
    this.#values.clear();
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
    // Checkpoints come ordered by thread, namespace, newest first; one group (thread, namespace) is pruned
    // as it streams by: only the versions the kept checkpoints need and the doomed ids of one page are held.
    let group: PruneGroup | undefined;
    // A thread's newest checkpoint across all its namespaces decides its TTL: an idle subgraph namespace
    // does not expire a thread whose root namespace is in use.
    let thread: { id: string; newest: number } | undefined;
    const expired: string[] = [];
    const endThread = () => {
      if (thread !== undefined && this.#ttlMs !== undefined && now - thread.newest > this.#ttlMs)
        expired.push(thread.id);
    };
    for await (const doc of listAll<CheckpointDoc>(this.documents, this.#checkpoints, prefix, PAGE)) {
      const [[threadOf = '', ns = '']] = readParts(doc.id, 2);
      if (group !== undefined && (group.thread !== threadOf || group.ns !== ns)) {
        await this.#endGroup(group, report);
        group = undefined;
      }
      if (thread?.id !== threadOf) {
        endThread();
        thread = { id: threadOf, newest: doc.value.savedAt };
      } else thread.newest = Math.max(thread.newest, doc.value.savedAt);
      group ??= { thread: threadOf, ns, index: 0, referenced: new Set(), highest: new Map(), doomed: [] };
      const versions = doc.value.checkpoint.channel_versions ?? {};
      for (const [channel, version] of Object.entries(versions)) {
        const seen = group.highest.get(channel);
        if (seen === undefined || compareVersions(version, seen) > 0) group.highest.set(channel, version);
      }
      const index = group.index;
      group.index += 1;
      const doomed =
        index > 0 &&
        ((keepLast !== undefined && index >= keepLast) ||
          (olderThanMs !== undefined && now - doc.value.savedAt > olderThanMs));
      if (!doomed) {
        for (const [channel, version] of Object.entries(versions))
          group.referenced.add(part(channel) + String(version));
        continue;
      }
      group.doomed.push(doc.id);
      if (group.doomed.length >= PAGE) await this.#deleteCheckpoints(group, report);
    }
    if (group !== undefined) await this.#endGroup(group, report);
    endThread();
    for (const id of expired) {
      await this.deleteThread(id);
      report.expiredThreads += 1;
    }
    if (report.blobs > 0) this.#values.clear();
    return report;
  }

  // Deletes the doomed checkpoints of a group collected so far, with their writes.
  async #deleteCheckpoints(group: PruneGroup, report: PruneReport): Promise<void> {
    const scope = parts(group.thread, group.ns);
    const operations: BatchOperation[] = [];
    for (const id of group.doomed) {
      operations.push({ type: 'delete', namespace: this.#checkpoints, id });
      const checkpointId = fromDescendingId(id.slice(scope.length));
      for await (const write of listAll(this.documents, this.#writes, scope + part(checkpointId), PAGE)) {
        operations.push({ type: 'delete', namespace: this.#writes, id: write.id });
        report.writes += 1;
      }
    }
    report.checkpoints += group.doomed.length;
    group.pruned = true;
    group.doomed = [];
    await this.#batchInPages(operations);
  }

  // Finishes a group: deletes its last doomed checkpoints, then the channel values no kept checkpoint
  // refers to. A value newer than every version of its channel seen in the listed checkpoints is kept:
  // a put that ran during the prune wrote it, and its checkpoint was not listed.
  async #endGroup(group: PruneGroup, report: PruneReport): Promise<void> {
    if (group.doomed.length > 0) await this.#deleteCheckpoints(group, report);
    if (!group.pruned) return;
    const scope = parts(group.thread, group.ns);
    const operations: BatchOperation[] = [];
    for await (const blob of listAll(this.documents, this.#blobs, scope, PAGE)) {
      const key = blob.id.slice(scope.length);
      if (group.referenced.has(key)) continue;
      const [[channel = ''], version] = readParts(key, 1);
      const highest = group.highest.get(channel);
      if (highest === undefined || compareVersions(version, highest) > 0) continue;
      operations.push({ type: 'delete', namespace: this.#blobs, id: blob.id });
      report.blobs += 1;
      if (operations.length >= PAGE) await this.#batchInPages(operations.splice(0));
    }
    await this.#batchInPages(operations);
  }

  async #batchInPages(operations: BatchOperation[]): Promise<void> {
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
      this.#channelValues(scope, versions, new Set(doc.written ?? [])),
      this.#pendingWrites(scope + part(checkpointId)),
      this.#serializer.load(doc.metadata) as CheckpointMetadata,
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

  async #channelValues(
    scope: string,
    versions: ChannelVersions,
    written: ReadonlySet<string>,
  ): Promise<Record<string, unknown>> {
    const wanted = Object.entries(versions);
    const ids = wanted.map(([channel, version]) => scope + part(channel) + String(version));
    // One read of every value not seen before (one statement on SQLite and PostgreSQL), not one per channel.
    const blobs = await this.#values.getMany(
      ids,
      wanted.map(([, version]) => version),
      async (missing) =>
        (await getMany<BlobDoc>(this.documents, this.#blobs, missing)).map((doc) => doc?.value),
    );
    const values: Record<string, unknown> = {};
    for (let index = 0; index < wanted.length; index++) {
      const [channel, version] = wanted[index]!;
      const blob = blobs[index];
      if (blob === undefined) {
        // A version no put stored reads as no value, as the official savers read it (the validation
        // suite puts checkpoints whose versions name channels outside newVersions). But a value this
        // very checkpoint stored is missing only through damage: an emptied channel has its 'empty' marker.
        if (!written.has(channel)) continue;
        throw new CorruptStateError(
          `checkpoint value of channel '${channel}' at version ${String(version)} is missing`,
          { namespace: this.#blobs, id: ids[index], channel, version },
        );
      }
      if (blob.t === EMPTY) continue;
      // Plain JSON is read at once; only a value needing LangGraph's (async) serializer waits for it.
      const plain = this.#serializer.plain(blob);
      values[channel] = plain === NEEDS_SERDE ? await this.#serializer.load(blob) : plain;
    }
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
        async (doc) =>
          [doc.taskId, doc.channel, await this.#serializer.load(doc.value)] as CheckpointPendingWrite,
      ),
    );
  }

  // Checkpoints of format < 4 kept pending sends as writes on the parent; newer LangGraph reads them as a
  // TASKS channel value, so they are moved there on read, as the official savers do.
  async #migratePendingSends(checkpoint: Checkpoint, parentPrefix: string): Promise<void> {
    const docs = (await this.#writeDocs(parentPrefix)).filter((doc) => doc.channel === TASKS);
    const sends = await Promise.all(docs.map((doc) => this.#serializer.load(doc.value)));
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
