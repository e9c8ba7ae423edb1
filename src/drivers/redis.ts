import type { Redis } from 'ioredis';
import { type Codec, codec as defaultCodec, type JsonValue } from '../codec/index.ts';
import { ClosedError, InvalidInputError } from '../errors.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { idFromKey, idKey, keyUpperBound } from '../shared/idKey.ts';
import { loadPackage } from '../shared/optionalPackage.ts';
import { APPLY_BATCH, SWEEP } from './redis/scripts.ts';
import { ChangeHub } from './shared/changeHub.ts';
import { batchOutcome, parseStoredJson, putResult, valuePath } from './shared/documents.ts';
import type { OptionSchemaOf } from './shared/optionSchema.ts';
import { packPayload, payloadSettings, unpackPayload } from './shared/payload.ts';
import { revisionConflict } from './shared/revisionConflict.ts';
import { startSweepTimer } from './shared/sweepTimer.ts';
import {
  checkBatch,
  checkDeleteOptions,
  checkDocumentKey,
  checkList,
  checkNamespaceList,
  checkPutOptions,
  checkWatchNamespace,
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
  WatchOptions,
} from './types.ts';

/** Options of `createRedisStore`. */
export interface RedisStoreOptions extends DriverOptions {
  /** An ioredis client (left open by `close()`), or a URL for a client the store owns and closes. */
  redis: Redis | string;
  /** Key prefix, without `#` (default `agentstate:doc:`); stores with different prefixes share nothing. */
  prefix?: string;
}

interface Scripts {
  agentstateDocBatch(
    ...args: (string | Buffer)[]
  ): Promise<Array<[number, string]> | ['conflict', number, number]>;
  agentstateDocSweep(prefix: string, now: string, limit: number): Promise<number>;
}

interface WireOp {
  t: 'put' | 'delete';
  n: string;
  k: string;
  id: string;
  x: number;
  vi: number;
  e: string;
  m: string;
  s: string;
}

/**
 * The options of `createRedisStore` beyond `DriverOptions`, by kind (the persistence config derives its
 * own from them). `redis` is a client or a URL: from code; a config gives the URL as `url`.
 */
export const REDIS_STORE_OPTIONS = {
  redis: 'code',
  prefix: 'string',
} as const satisfies OptionSchemaOf<Omit<RedisStoreOptions, keyof DriverOptions>>;
const FIELDS = ['v', 'r', 'c', 'u', 'm', 'e', 's'] as const;
const SWEEP_CHUNK = 500;
const LIST_CHUNK = 200;

/**
 * A `DocumentStore` in Redis, for short-lived shared data (caches, signals with a body) that several
 * processes read and write. Every write is one Lua script: compare-and-set and whole batches are atomic
 * and publish their change events in the same step. Expiry follows the store's clock (`now`), like every
 * other driver, through an expiry index the sweep reads from its due end. Durability is Redis's own
 * (RDB/AOF settings): use SQLite or PostgreSQL for the system of record. Single-node Redis: the scripts
 * reach keys they compute, which Redis Cluster does not allow.
 */
export function createRedisStore(options: RedisStoreOptions): DocumentStore {
  const settings = payloadSettings(options, 'redis', REDIS_STORE_OPTIONS);
  const prefix = options.prefix ?? 'agentstate:doc:';
  if (typeof prefix !== 'string' || prefix.includes('#')) {
    throw new InvalidInputError("the redis driver's prefix must be a string without '#'", { prefix });
  }
  const P = `${prefix}#`;
  const codec: Codec = options.codec ?? defaultCodec;
  const clock = options.now ?? Date.now;
  const now = () => Math.floor(clock());
  const owns = typeof options.redis === 'string';
  const redis =
    typeof options.redis === 'string'
      ? new (loadPackage<typeof import('ioredis')>('ioredis', 'createRedisStore').Redis)(options.redis)
      : options.redis;
  redis.defineCommand('agentstateDocBatch', { numberOfKeys: 0, lua: APPLY_BATCH });
  redis.defineCommand('agentstateDocSweep', { numberOfKeys: 0, lua: SWEEP });
  const scripts = redis as unknown as Scripts;
  const hub = new ChangeHub();
  let subscriber: Redis | undefined;
  let subscribing: Promise<void> | undefined;
  let closed = false;
  const sweepTimer = startSweepTimer(options.sweepIntervalMs, 'redis', () => (closed ? undefined : sweep()));

  function open(): void {
    if (closed) throw new ClosedError('the redis store is closed', { prefix });
  }

  const docKey = (namespace: string, hex: string) => `${P}d:${namespace}:${hex}`;
  const where = `redis prefix ${prefix}`;

  // The namespace index (`P ns`) is kept by the write scripts; data written before it existed is added
  // once, by a SCAN of the `P i:` keys (one per namespace), after which a marker key says it is complete.
  let namespaceIndex: Promise<void> | undefined;
  const namespaceIndexReady = (): Promise<void> => {
    namespaceIndex ??= (async () => {
      if ((await redis.exists(`${P}ns:complete`)) === 1) return;
      const pattern = `${P.replace(/[*?[\]\\]/g, '\\$&')}i:*`;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        const names = keys.map((key) => key.slice(P.length + 2));
        if (names.length > 0) await redis.zadd(`${P}ns`, ...names.flatMap((name) => [0, name]));
      } while (cursor !== '0');
      await redis.set(`${P}ns:complete`, '1');
    })().catch((error: unknown) => {
      namespaceIndex = undefined;
      throw error;
    });
    return namespaceIndex;
  };

  function toDocument<V>(
    namespace: string,
    id: string,
    fields: (Buffer | null)[],
  ): StoredDocument<V> | undefined {
    const [v, r, c, u, m, e, s] = fields;
    if (!v || !r || !c || !u) return undefined;
    const expiresAt = e ? Number(e.toString()) : undefined;
    if (expiresAt !== undefined && expiresAt <= now()) return undefined;
    const json = (text: string, column: string) =>
      codec.decode(parseStoredJson(text, namespace, id, column, where, { prefix }));
    const storage = s
      ? (parseStoredJson(s.toString('utf8'), namespace, id, 'storage', where, {
          prefix,
        }) as unknown as StorageInfo)
      : undefined;
    const text = unpackPayload(v, storage?.checksum, settings, { namespace, id, where });
    return {
      namespace,
      id,
      value: json(text, 'value') as V,
      revision: Number(r.toString()),
      createdAt: Number(c.toString()),
      updatedAt: Number(u.toString()),
      ...(m && { metadata: json(m.toString('utf8'), 'metadata') as Record<string, unknown> }),
      ...(expiresAt !== undefined && { expiresAt }),
      ...(storage && { storage }),
    };
  }

  async function apply(operations: BatchOperation[]) {
    const t = now();
    const values: Buffer[] = [];
    const encoded: Array<
      { value: JsonValue; metadata: JsonValue | undefined; storage: StorageInfo } | undefined
    > = [];
    const wire = operations.map((op): WireOp => {
      const base = {
        n: op.namespace,
        k: idKey(op.id).toString('hex'),
        id: op.id,
        x: op.options?.expectedRevision ?? -1,
      };
      if (op.type === 'delete') return { ...base, t: 'delete', vi: 0, e: '', m: '', s: '' };
      const value = codec.encode(op.value, valuePath(op.namespace, op.id));
      const metadata =
        op.options?.metadata === undefined ? undefined : codec.encode(op.options.metadata, '$.metadata');
      const packed = packPayload(JSON.stringify(value), settings);
      values.push(Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength));
      encoded[values.length - 1] = { value, metadata, storage: packed.storage };
      const ttl = op.options?.ttlMs;
      return {
        ...base,
        t: 'put',
        vi: values.length,
        e: ttl === undefined ? '' : String(Math.min(t + Math.ceil(ttl), Number.MAX_SAFE_INTEGER)),
        m: metadata === undefined ? '' : JSON.stringify(metadata),
        s: JSON.stringify(packed.storage),
      };
    });
    const reply = await scripts.agentstateDocBatch(P, String(t), JSON.stringify(wire), ...values);
    if (reply[0] === 'conflict') {
      const op = operations[Number(reply[1]) - 1]!;
      throw revisionConflict(op.namespace, op.id, op.options?.expectedRevision ?? 0, Number(reply[2]));
    }
    const outcomes = reply as Array<[number, string]>;
    return {
      t,
      wire,
      encoded,
      revisions: outcomes.map(([revision]) => Number(revision)),
      createdAt: outcomes.map(([, created]) => Number(created)),
    };
  }

  async function sweep(): Promise<number> {
    let removed = 0;
    for (;;) {
      const n = Number(await scripts.agentstateDocSweep(P, String(now()), SWEEP_CHUNK));
      removed += n;
      if (n < SWEEP_CHUNK || closed) return removed;
    }
  }

  async function startFeed(): Promise<void> {
    subscriber = redis.duplicate();
    subscriber.on('message', (_channel: string, message: string) => {
      let event: { t: 'put' | 'delete' | 'expire'; n: string; k: string; r: number };
      try {
        event = JSON.parse(message);
      } catch {
        return;
      }
      hub.emit({
        type: event.t,
        namespace: event.n,
        id: idFromKey(Buffer.from(event.k, 'hex')),
        revision: event.r,
      });
    });
    const feed = subscriber;
    await feed.subscribe(`${P}changes`);
    // ioredis reconnects and resubscribes by itself, but messages published while the connection was
    // down are gone (pub/sub keeps nothing). Once subscribed again, tell the watchers to re-read.
    feed.on('ready', () => {
      if (closed || subscriber !== feed) return;
      feed.subscribe(`${P}changes`).then(
        () => hub.reset(),
        () => {}, // dropped again: the next 'ready' retries
      );
    });
  }

  return {
    name: 'redis',

    async get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
      open();
      checkDocumentKey(namespace, id);
      const fields = await redis.hmgetBuffer(docKey(namespace, idKey(id).toString('hex')), ...FIELDS);
      return toDocument<V>(namespace, id, fields);
    },

    async put<V>(namespace: string, id: string, value: V, opts?: PutOptions): Promise<StoredDocument<V>> {
      open();
      checkDocumentKey(namespace, id);
      checkPutOptions(opts, namespace, id);
      const op: BatchOperation = { type: 'put', namespace, id, value, ...(opts && { options: opts }) };
      const { t, wire, encoded, revisions, createdAt: created } = await apply([op]);
      const createdAt = created[0]!;
      const written = encoded[0]!;
      return putResult<V>(
        codec,
        namespace,
        id,
        {
          revision: revisions[0]!,
          createdAt,
          updatedAt: t,
          storage: written.storage,
          ...(wire[0]!.e !== '' && { expiresAt: Number(wire[0]!.e) }),
        },
        written.value,
        written.metadata,
      );
    },

    async delete(namespace: string, id: string, opts?: DeleteOptions): Promise<boolean> {
      open();
      checkDocumentKey(namespace, id);
      checkDeleteOptions(opts, namespace, id);
      const { revisions } = await apply([{ type: 'delete', namespace, id, ...(opts && { options: opts }) }]);
      return revisions[0]! > 0;
    },

    async listNamespaces(opts?: NamespaceListOptions): Promise<NamespacePage> {
      open();
      const { limit, after } = checkNamespaceList(opts);
      await namespaceIndexReady();
      const raw = await redis.zrangebylex(
        `${P}ns`,
        after === undefined ? '-' : `(${after}`,
        '+',
        'LIMIT',
        0,
        limit + 1,
      );
      const candidates = raw.slice(0, limit);
      // The fill from before the index existed may have added a namespace emptied meanwhile: checked here.
      const held = await Promise.all(candidates.map((name) => redis.exists(`${P}i:${name}`)));
      const namespaces = candidates.filter((_, i) => held[i] === 1);
      const gone = candidates.filter((_, i) => held[i] !== 1);
      if (gone.length > 0) await redis.zrem(`${P}ns`, ...gone);
      const last = candidates.at(-1);
      return raw.length > limit && last !== undefined
        ? { namespaces, cursor: encodeCursor(last) }
        : { namespaces };
    },

    async list<V>(namespace: string, opts?: ListOptions): Promise<ListPage<V>> {
      open();
      const { limit, after, prefix: idPrefix } = checkList(namespace, opts);
      const low = idKey(idPrefix);
      const upper = idPrefix === '' ? undefined : keyUpperBound(low);
      const max = upper ? `(${upper.toString('hex')}` : '+';
      let min =
        after !== undefined && after >= idPrefix
          ? `(${idKey(after).toString('hex')}`
          : idPrefix
            ? `[${low.toString('hex')}`
            : '-';
      const items: StoredDocument<V>[] = [];
      let more = false;
      // Members of expired documents not yet swept are skipped, so a page may need several chunks.
      while (items.length <= limit) {
        const members = await redis.zrangebylex(`${P}i:${namespace}`, min, max, 'LIMIT', 0, LIST_CHUNK);
        if (members.length === 0) break;
        const pipeline = redis.pipeline();
        for (const hex of members) pipeline.hmgetBuffer(docKey(namespace, hex), ...FIELDS);
        const rows = (await pipeline.exec()) ?? [];
        for (const [i, hex] of members.entries()) {
          const [error, fields] = rows[i] ?? [];
          if (error) throw error;
          const doc = toDocument<V>(
            namespace,
            idFromKey(Buffer.from(hex, 'hex')),
            fields as (Buffer | null)[],
          );
          if (!doc) continue;
          if (items.length === limit) {
            more = true;
            break;
          }
          items.push(doc);
        }
        if (more || members.length < LIST_CHUNK) break;
        min = `(${members[members.length - 1]}`;
      }
      return more ? { items, cursor: encodeCursor(items[items.length - 1]!.id) } : { items };
    },

    async batch(operations: BatchOperation[]): Promise<BatchResult> {
      open();
      checkBatch(operations);
      if (operations.length === 0) return { results: [] };
      const { revisions } = await apply(operations);
      return { results: batchOutcome(operations, revisions).results };
    },

    async watch(namespace: string, listener: ChangeListener, options?: WatchOptions): Promise<Subscription> {
      open();
      checkWatchNamespace(namespace);
      subscribing ??= startFeed().catch((error: unknown) => {
        // Let the next watch try again (Redis down for a moment) instead of failing for good.
        subscribing = undefined;
        subscriber?.disconnect();
        throw error;
      });
      await subscribing;
      return hub.subscribe(namespace, listener, options);
    },

    sweepExpired: async () => {
      open();
      return sweep();
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      hub.clear();
      await subscribing?.catch(() => {});
      if (subscriber) subscriber.disconnect();
      if (owns) await redis.quit().catch(() => {});
    },
  };
}
