import type { Redis } from 'ioredis';
import { InvalidInputError } from '../errors.ts';
import { idFromKey, idKey, keyUpperBound } from '../shared/idKey.ts';
import { loadPackage } from '../shared/optionalPackage.ts';
import { createDocumentStore } from './kernel/documentStore.ts';
import type { StoredRow } from './kernel/storage.ts';
import { RedisFeed } from './redis/feed.ts';
import { namespaceIndex } from './redis/namespaces.ts';
import { FIELDS, rowOf } from './redis/rows.ts';
import { APPLY_BATCH, SWEEP } from './redis/scripts.ts';
import { wireOps } from './redis/wire.ts';
import type { OptionSchemaOf } from './shared/optionSchema.ts';
import { revisionConflict } from './shared/revisionConflict.ts';
import type { DocumentStore, DriverOptions } from './types.ts';

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

/**
 * The options of `createRedisStore` beyond `DriverOptions`, by kind (the persistence config derives its
 * own from them). `redis` is a client or a URL: from code; a config gives the URL as `url`.
 */
export const REDIS_STORE_OPTIONS = {
  redis: 'code',
  prefix: 'string',
} as const satisfies OptionSchemaOf<Omit<RedisStoreOptions, keyof DriverOptions>>;
const SPEC = { name: 'redis', label: 'redis', options: REDIS_STORE_OPTIONS };
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
  return createDocumentStore(SPEC, options, ({ hub, reportError }) => {
    const prefix = options.prefix ?? 'agentstate:doc:';
    if (typeof prefix !== 'string' || prefix.includes('#')) {
      throw new InvalidInputError("the redis driver's prefix must be a string without '#'", { prefix });
    }
    const P = `${prefix}#`;
    const owns = typeof options.redis === 'string';
    const redis =
      typeof options.redis === 'string'
        ? new (loadPackage<typeof import('ioredis')>('ioredis', 'createRedisStore').Redis)(options.redis)
        : options.redis;
    redis.defineCommand('agentstateDocBatch', { numberOfKeys: 0, lua: APPLY_BATCH });
    redis.defineCommand('agentstateDocSweep', { numberOfKeys: 0, lua: SWEEP });
    const scripts = redis as unknown as Scripts;
    const docKey = (namespace: string, hex: string) => `${P}d:${namespace}:${hex}`;
    let feed: Promise<RedisFeed> | undefined;
    let closed = false;
    return {
      where: `redis prefix ${prefix}`,
      whereDetails: { prefix },
      // The write scripts publish every change, this store's included, to the feed.
      feedsOwnWrites: true,
      async read(namespace, id, now) {
        return rowOf(
          id,
          await redis.hmgetBuffer(docKey(namespace, idKey(id).toString('hex')), ...FIELDS),
          now,
        );
      },
      async write(ops, now) {
        const { wire, values } = wireOps(ops);
        const reply = await scripts.agentstateDocBatch(P, String(now), wire, ...values);
        if (reply[0] === 'conflict') {
          const op = ops[Number(reply[1]) - 1]!;
          throw revisionConflict(op.namespace, op.id, op.expectedRevision ?? 0, Number(reply[2]));
        }
        return (reply as Array<[number, string]>).map(([revision, created]) => ({
          revision: Number(revision),
          createdAt: Number(created),
        }));
      },
      async scan(namespace, { limit, after, prefix: idPrefix }, now) {
        const low = idKey(idPrefix);
        const upper = idPrefix === '' ? undefined : keyUpperBound(low);
        const max = upper ? `(${upper.toString('hex')}` : '+';
        let min =
          after !== undefined && after >= idPrefix
            ? `(${idKey(after).toString('hex')}`
            : idPrefix
              ? `[${low.toString('hex')}`
              : '-';
        const items: StoredRow[] = [];
        // Members of expired documents not yet swept are skipped, so a page may need several chunks.
        for (;;) {
          const members = await redis.zrangebylex(`${P}i:${namespace}`, min, max, 'LIMIT', 0, LIST_CHUNK);
          if (members.length === 0) break;
          const pipeline = redis.pipeline();
          for (const hex of members) pipeline.hmgetBuffer(docKey(namespace, hex), ...FIELDS);
          const replies = (await pipeline.exec()) ?? [];
          for (const [i, hex] of members.entries()) {
            const [error, fields] = replies[i] ?? [];
            if (error) throw error;
            const row = rowOf(idFromKey(Buffer.from(hex, 'hex')), fields as (Buffer | null)[], now);
            if (!row) continue;
            if (items.length === limit) return { items, last: items[limit - 1]!.id! };
            items.push(row);
          }
          if (members.length < LIST_CHUNK) break;
          min = `(${members[members.length - 1]}`;
        }
        return { items };
      },
      namespaces: namespaceIndex(redis, P),
      async sweep(now) {
        let removed = 0;
        for (;;) {
          const n = Number(await scripts.agentstateDocSweep(P, String(now), SWEEP_CHUNK));
          removed += n;
          if (n < SWEEP_CHUNK || closed) return removed;
        }
      },
      async startFeed() {
        feed ??= RedisFeed.start(redis, `${P}changes`, hub, (error) =>
          reportError(error, 'change feed'),
        ).catch((error: unknown) => {
          // Let the next watch try again (Redis down for a moment) instead of failing for good.
          feed = undefined;
          throw error;
        });
        await feed;
      },
      async close() {
        closed = true;
        (await feed?.catch(() => undefined))?.close();
        if (owns) await redis.quit().catch(() => {});
      },
    };
  });
}
