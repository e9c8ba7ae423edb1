import type { Redis } from 'ioredis';
import { type Codec, codec as defaultCodec } from '../codec/index.ts';
import {
  AgentStateError,
  ClosedError,
  CorruptStateError,
  InvalidInputError,
  UnknownTypeError,
  UnsupportedValueError,
} from '../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';
import { loadPackage } from '../shared/optionalPackage.ts';
import { acquireLockWith, type LockBackend } from './locks.ts';
import { type ExpiryWatchOptions, watchIndexedExpiries } from './redisExpiries.ts';
import { redisFailure } from './redisFailure.ts';
import {
  DELETE_INDEXED,
  DUE_EXPIRIES,
  EXPIRE_INDEXED,
  EXTEND_LOCK,
  INCREMENT,
  INDEX_KEEP_MS,
  RELEASE_LOCK,
  SET_EXPIRING,
} from './redisScripts.ts';
import type {
  LockOptions,
  ScanKeysOptions,
  ScanKeysPage,
  TtlLock,
  TtlOptions,
  TtlStoreLike,
} from './types.ts';
import { checkKey, checkStep, checkTtl, checkTtlOptions, scanLimit } from './validate.ts';

// Ends the tenant prefix in every key. Prefixes may not contain it, so the first one in a Redis key says
// whose key it is: with plain concatenation, the prefix `p` would read and clear the keys of a tenant
// whose prefix is `pv:` (`p` + `v:` + `v:x` = `pv:` + `v:` + `x`).
const PREFIX_END = '#';

/** Options of `new RedisTtlStore()`. */
export interface RedisTtlStoreOptions {
  /** An ioredis client (left open by `close()`), or a URL for a client the store owns and closes. */
  redis: Redis | string;
  /**
   * Prefix of every Redis key this store touches (tenant isolation). Values live under `<prefix>#v:`,
   * locks under `<prefix>#l:`, cooldowns under `<prefix>#c:`. It may not contain `#`. Default
   * `agentstate:ttl:`.
   */
  prefix?: string;
  /** Codec for values (register your classes on it). Default: the package's `codec`. */
  codec?: Codec;
  /**
   * Receives the connection errors of a client the store owns (a URL given as `redis`), once per outage:
   * calls fail with UNAVAILABLE meanwhile, and this says why (default: a process warning).
   */
  onError?: BackgroundErrorHandler;
}

/** The Lua commands registered on the client with `defineCommand`. */
interface ScriptCommands {
  agentstateReleaseLock(key: string, token: string): Promise<number>;
  agentstateExtendLock(key: string, token: string, ms: number): Promise<number>;
  agentstateIncrement(
    key: string,
    index: string,
    by: number,
    ms: number | '',
    member: string,
  ): Promise<string>;
  agentstateSetExpiring(
    key: string,
    index: string,
    text: string,
    ms: number,
    member: string,
    nx: 'NX' | '',
  ): Promise<number>;
  agentstateExpire(key: string, index: string, ms: number, member: string): Promise<number>;
  agentstateDelete(key: string, index: string, member: string): Promise<number>;
  agentstateDueExpiries(
    index: string,
    flag: string,
    from: number | '+inf',
    count: number,
    flagMs: number,
  ): Promise<[number, string[]]>;
}

const SCAN_COUNT = 1000;
const TRIM_EVERY = 256;
// A watcher renews the flag each read (every second by default); it outlives a few missed reads.
const WATCH_FLAG_MS = 10_000;
// How often a store asks whether someone watches, ms: a write within this of a watch's start may go unnoted.
const WATCH_CHECK_MS = 2000;
const BATCH = 500;

/**
 * The `TtlStore` API on Redis, so processes and machines share signals, cooldowns and locks. Expiry is
 * Redis's own (`PX`), so there is nothing to sweep here; values are stored as codec JSON text; locks are
 * `SET NX PX` with owner-checked Lua release/extend. Writes that set an expiry also note it in an expiry
 * index (a sorted set under `<prefix>#x`, in the same script), which `watchExpiries` reads to announce
 * expiries within about a second. Enable ioredis `enableAutoPipelining` on the client to batch
 * concurrent calls into one round trip.
 */
export class RedisTtlStore<V = unknown> implements TtlStoreLike<V> {
  readonly #redis: Redis;
  readonly #scripts: ScriptCommands;
  readonly #ownsClient: boolean;
  readonly #values: string;
  readonly #locks: string;
  readonly #cooldowns: string;
  readonly #expiries: string;
  readonly #codec: Codec;
  #closed = false;
  readonly #watchFlag: string;
  // TTL writes by `set`, which trims the expiry index every TRIM_EVERY of them (the scripts trim each time).
  #expiringWrites = 0;
  // Writes note expiries only while some process watches them (`watchExpiries` renews a flag key): nobody
  // pays for the index while no dashboard is open (noting every expiry halved the rate of TTL writes).
  #watchedElsewhere = false;
  #watchCheckedAt = Number.NEGATIVE_INFINITY;
  #watchersHere = 0;

  constructor(options: RedisTtlStoreOptions) {
    const { redis, prefix = 'agentstate:ttl:', codec = defaultCodec, onError } = options ?? {};
    if (typeof prefix !== 'string' || prefix.includes(PREFIX_END)) {
      throw new InvalidInputError(`RedisTtlStore option prefix must be a string without '${PREFIX_END}'`, {
        prefix: String(prefix),
      });
    }
    // ioredis is loaded here, not at import: programs without Redis never load it.
    const RedisClient = loadPackage<typeof import('ioredis')>('ioredis', 'RedisTtlStore').Redis;
    if (typeof redis === 'string') {
      // While Redis is away a command waits for one reconnection attempt, then fails (UNAVAILABLE, a 503
      // from the server) instead of queueing through ioredis' default 20 attempts; the client keeps
      // reconnecting, so calls succeed again as soon as Redis is back.
      this.#redis = new RedisClient(redis, { maxRetriesPerRequest: 1 });
      // Connection errors reach callers as UNAVAILABLE; without a listener ioredis would also print each
      // reconnection failure as an "unhandled error event". Reported once per outage: ioredis retries
      // every few hundred ms, and one report per retry would bury everything else in the log.
      let down = false;
      this.#redis.on('error', (error: Error) => {
        if (down) return;
        down = true;
        reportBackgroundError(onError, error, { source: 'RedisTtlStore connection', details: { prefix } });
      });
      this.#redis.on('ready', () => {
        down = false;
      });
      this.#ownsClient = true;
    } else if (redis instanceof RedisClient) {
      this.#redis = redis;
      this.#ownsClient = false;
    } else {
      throw new InvalidInputError(
        'RedisTtlStore option redis must be an ioredis client or a redis:// URL',
        {},
      );
    }
    // ioredis' keyPrefix is not applied to SCAN patterns, which would make keys() and clear() miss keys.
    if (this.#redis.options.keyPrefix) {
      throw new InvalidInputError(
        'RedisTtlStore needs a client without keyPrefix: pass the prefix as the store option `prefix` instead',
        { keyPrefix: this.#redis.options.keyPrefix },
      );
    }
    this.#redis.defineCommand('agentstateReleaseLock', { numberOfKeys: 1, lua: RELEASE_LOCK });
    this.#redis.defineCommand('agentstateExtendLock', { numberOfKeys: 1, lua: EXTEND_LOCK });
    this.#redis.defineCommand('agentstateIncrement', { numberOfKeys: 2, lua: INCREMENT });
    this.#redis.defineCommand('agentstateSetExpiring', { numberOfKeys: 2, lua: SET_EXPIRING });
    this.#redis.defineCommand('agentstateExpire', { numberOfKeys: 2, lua: EXPIRE_INDEXED });
    this.#redis.defineCommand('agentstateDelete', { numberOfKeys: 2, lua: DELETE_INDEXED });
    this.#redis.defineCommand('agentstateDueExpiries', { numberOfKeys: 2, lua: DUE_EXPIRIES });
    this.#scripts = this.#redis as unknown as ScriptCommands;
    this.#values = `${prefix}${PREFIX_END}v:`;
    this.#locks = `${prefix}${PREFIX_END}l:`;
    this.#cooldowns = `${prefix}${PREFIX_END}c:`;
    this.#expiries = `${prefix}${PREFIX_END}x`;
    this.#watchFlag = `${prefix}${PREFIX_END}w`;
    this.#codec = codec;
    // Asked now, so the first TTL writes already know whether some process watches expiries.
    this.#noting();
  }

  /** The underlying client. */
  get client(): Redis {
    return this.#redis;
  }

  /** Stores `value`; without `ttlMs` the key never expires (Redis SET drops an earlier expiry). */
  async set(key: string, value: V, options?: TtlOptions): Promise<void> {
    const text = this.#encode(key, value);
    const px = this.#ttlArg(key, options);
    const redisKey = this.#values + key;
    // Without an expiry a stale index entry may stay: the watcher finds the key still there and skips it.
    if (px === undefined) {
      await this.#redis.set(redisKey, text);
      return;
    }
    if (!this.#noting()) {
      await this.#redis.set(redisKey, text, 'PX', px);
      return;
    }
    // The hot path: SET and ZADD sent together (one round trip), not a script, which halved the rate of
    // TTL writes. The index time is this process's clock; the watcher re-checks a key still alive at its
    // noted time by its remaining PTTL, so a clock behind Redis's delays nothing, one ahead delays events.
    const writes: Array<Promise<unknown>> = [
      this.#redis.set(redisKey, text, 'PX', px),
      this.#redis.zadd(this.#expiries, Date.now() + px, key),
    ];
    this.#expiringWrites += 1;
    if (this.#expiringWrites % TRIM_EVERY === 0) {
      writes.push(this.#redis.zremrangebyscore(this.#expiries, '-inf', Date.now() - INDEX_KEEP_MS));
    }
    await Promise.all(writes);
  }

  /** The value, or `fallback` when missing or expired. */
  async get<F = undefined>(key: string, fallback?: F): Promise<V | F> {
    this.#check(key);
    const text = await this.#redis.get(this.#values + key);
    return text === null ? (fallback as F) : this.#decode(key, text);
  }

  /** Whether the key holds an unexpired value. */
  async has(key: string): Promise<boolean> {
    this.#check(key);
    return (await this.#redis.exists(this.#values + key)) === 1;
  }

  /** Removes the key; true when it was there. */
  async delete(key: string): Promise<boolean> {
    this.#check(key);
    if (!this.#noting()) return (await this.#redis.del(this.#values + key)) === 1;
    return (await this.#scripts.agentstateDelete(this.#values + key, this.#expiries, key)) === 1;
  }

  /** Remaining ms of life, or undefined when the key is missing or never expires. */
  async ttl(key: string): Promise<number | undefined> {
    this.#check(key);
    const ms = await this.#redis.pttl(this.#values + key);
    return ms < 0 ? undefined : ms;
  }

  /** Sets the key to expire `ttlMs` from now; false when the key is missing. */
  async expire(key: string, ttlMs: number): Promise<boolean> {
    this.#check(key);
    checkTtl(ttlMs, key);
    const ms = Math.ceil(ttlMs);
    if (!this.#noting()) return (await this.#redis.pexpire(this.#values + key, ms)) === 1;
    return (await this.#scripts.agentstateExpire(this.#values + key, this.#expiries, ms, key)) === 1;
  }

  /** Drops the key's expiry; true when it had one. */
  async persist(key: string): Promise<boolean> {
    this.#check(key);
    return (await this.#redis.persist(this.#values + key)) === 1;
  }

  /** Stores only when the key is missing (or expired): `SET NX`. True when it stored. */
  async setIfAbsent(key: string, value: V, options?: TtlOptions): Promise<boolean> {
    const text = this.#encode(key, value);
    const px = this.#ttlArg(key, options);
    const redisKey = this.#values + key;
    if (px === undefined) return (await this.#redis.set(redisKey, text, 'NX')) === 'OK';
    if (!this.#noting()) return (await this.#redis.set(redisKey, text, 'PX', px, 'NX')) === 'OK';
    return (await this.#scripts.agentstateSetExpiring(redisKey, this.#expiries, text, px, key, 'NX')) === 1;
  }

  /** Adds `by` (default 1) atomically; a new counter starts at `by` with `ttlMs`, an existing one keeps its expiry. */
  async increment(key: string, by = 1, options?: TtlOptions): Promise<number> {
    this.#check(key);
    checkStep(by, key);
    const px = this.#ttlArg(key, options);
    try {
      const redisKey = this.#values + key;
      const member = this.#noting() ? key : '';
      return Number(await this.#scripts.agentstateIncrement(redisKey, this.#expiries, by, px ?? '', member));
    } catch (error) {
      const message = (error as Error).message ?? '';
      if (message.includes('AGENTSTATE_NOT_A_NUMBER')) {
        throw new InvalidInputError(`cannot increment '${key}': its value is not a number`, { key });
      }
      if (message.includes('AGENTSTATE_NOT_FINITE')) {
        throw new InvalidInputError(`cannot increment '${key}': the result is not a finite number`, { key });
      }
      throw error;
    }
  }

  /** Live keys (optionally only those starting with `prefix`), found with SCAN. */
  async keys(prefix = ''): Promise<string[]> {
    this.#assertOpen();
    checkKey(prefix, 'prefix');
    const start = this.#values.length;
    return (await this.#scan(this.#values + prefix)).map((redisKey) => redisKey.slice(start));
  }

  /** One page of live keys, SCAN by SCAN from the Redis cursor; see `TtlStoreLike.scanKeys`. */
  async scanKeys(options: ScanKeysOptions): Promise<ScanKeysPage> {
    this.#assertOpen();
    const prefix = options.prefix ?? '';
    checkKey(prefix, 'prefix');
    const limit = scanLimit(options.limit);
    const match = `${escapeGlob(this.#values + prefix)}*`;
    const start = this.#values.length;
    const seen = new Set<string>();
    let cursor = options.cursor ?? '0';
    if (!/^\d+$/.test(cursor)) {
      throw new InvalidInputError('cursor must be the cursor of a previous page', {
        field: 'cursor',
        value: cursor,
      });
    }
    do {
      const [next, batch] = await this.#redis.scan(
        cursor,
        'MATCH',
        match,
        'COUNT',
        Math.min(limit, SCAN_COUNT),
      );
      for (const key of batch) seen.add(key.slice(start));
      cursor = next;
    } while (cursor !== '0' && seen.size < limit);
    return cursor === '0' ? { keys: [...seen] } : { keys: [...seen], cursor };
  }

  /** Live `[key, value]` pairs (optionally only keys starting with `prefix`). */
  async entries(prefix = ''): Promise<Array<[string, V]>> {
    const keys = await this.keys(prefix);
    const out: Array<[string, V]> = [];
    for (let i = 0; i < keys.length; i += BATCH) {
      const chunk = keys.slice(i, i + BATCH);
      const texts = await this.#redis.mget(chunk.map((key) => this.#values + key));
      texts.forEach((text, j) => {
        // A key that expired between SCAN and MGET is simply not live any more.
        if (text !== null) out.push([chunk[j]!, this.#decode(chunk[j]!, text)]);
      });
    }
    return out;
  }

  /** Number of live keys (a SCAN; O(keys under the prefix)). */
  get size(): Promise<number> {
    return this.keys().then((keys) => keys.length);
  }

  /** Removes every value under the prefix (locks and cooldowns stay). */
  async clear(): Promise<void> {
    this.#assertOpen();
    const keys = await this.#scan(this.#values);
    for (let i = 0; i < keys.length; i += BATCH) await this.#redis.unlink(...keys.slice(i, i + BATCH));
    await this.#redis.unlink(this.#expiries);
  }

  /**
   * Calls `onExpire` with each key that expires from now on, found by reading the expiry index every
   * `intervalMs` (default 1000) up to `batchSize` entries at a time; a key deleted or made persistent
   * before its time is not announced. Every process may watch: each watcher announces each expiry once.
   * Returns the function that stops watching.
   */
  watchExpiries(onExpire: (key: string) => void, options: ExpiryWatchOptions = {}): () => Promise<void> {
    this.#assertOpen();
    this.#watchersHere += 1;
    const stop = watchIndexedExpiries(
      {
        due: (from, count) =>
          this.#scripts.agentstateDueExpiries(this.#expiries, this.#watchFlag, from, count, WATCH_FLAG_MS),
        remainingMs: async (keys) => {
          const pipeline = this.#redis.pipeline();
          for (const key of keys) pipeline.pttl(this.#values + key);
          const replies = (await pipeline.exec()) ?? [];
          return keys.map((_, i) => {
            const [error, ms] = replies[i] ?? [new Error('no reply')];
            if (error) throw error;
            return Number(ms);
          });
        },
      },
      onExpire,
      options,
    );
    let stopped = false;
    return async () => {
      if (!stopped) this.#watchersHere -= 1;
      stopped = true;
      await stop();
    };
  }

  /** Redis expires keys itself; nothing to sweep. Returns 0 (kept for API symmetry with `TtlStore`). */
  sweep(): number {
    return 0;
  }

  /** Takes the named lock (`SET NX PX`), waiting up to `waitMs`; null when not acquired in time. */
  async acquireLock(name: string, options: LockOptions): Promise<TtlLock | null> {
    this.#assertOpen();
    return acquireLockWith(this.#lockBackend, name, options);
  }

  /** True when the caller may proceed (and the cooldown starts), false while one runs. */
  async cooldown(name: string, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    checkKey(name, 'cooldown name');
    checkTtl(ttlMs, name);
    return (await this.#redis.set(this.#cooldowns + name, '1', 'PX', Math.ceil(ttlMs), 'NX')) === 'OK';
  }

  /** Marks the store closed (later calls, lock handles' too, throw CLOSED); quits a client it created. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) await this.#redis.quit();
  }

  /** Same as `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals -------------------------------------------------------------------------------------

  // Built once: every lock handle holds it, and it only closes over the store. A handle used after the
  // store closed gets CLOSED, as every other call does (not the client's connection error).
  readonly #lockBackend: LockBackend = {
    tryAcquire: async (name, token, ttlMs) => {
      this.#assertOpen();
      const reply = await this.#redis
        .set(this.#locks + name, token, 'PX', Math.ceil(ttlMs), 'NX')
        .catch(fail);
      return reply === 'OK';
    },
    release: async (name, token) => {
      this.#assertOpen();
      return (await this.#scripts.agentstateReleaseLock(this.#locks + name, token).catch(fail)) === 1;
    },
    extend: async (name, token, ttlMs) => {
      this.#assertOpen();
      const extended = this.#scripts.agentstateExtendLock(this.#locks + name, token, Math.ceil(ttlMs));
      return (await extended.catch(fail)) === 1;
    },
  };

  // Whether writes note expiries now: while this store watches, or the flag said some process does (asked
  // again every WATCH_CHECK_MS, in the background: a write never waits for the answer).
  #noting(): boolean {
    if (this.#watchersHere > 0) return true;
    const now = Date.now();
    if (now - this.#watchCheckedAt >= WATCH_CHECK_MS) {
      this.#watchCheckedAt = now;
      this.#redis.exists(this.#watchFlag).then(
        (count) => {
          this.#watchedElsewhere = count === 1;
        },
        () => {},
      );
    }
    return this.#watchedElsewhere;
  }

  async #scan(prefix: string): Promise<string[]> {
    const match = `${escapeGlob(prefix)}*`;
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      for (const key of batch) seen.add(key); // SCAN may return a key more than once
      cursor = next;
    } while (cursor !== '0');
    return [...seen];
  }

  #check(key: string): void {
    this.#assertOpen();
    checkKey(key);
  }

  /** PX milliseconds (Redis wants an integer; rounded up so a key never lives shorter than asked). */
  #ttlArg(key: string, options: TtlOptions | undefined): number | undefined {
    checkTtlOptions(options, key);
    if (options?.ttlMs === undefined) return undefined;
    checkTtl(options.ttlMs, key);
    return Math.ceil(options.ttlMs);
  }

  #encode(key: string, value: V): string {
    this.#check(key);
    try {
      return this.#codec.stringify(value);
    } catch (error) {
      if (error instanceof AgentStateError) {
        throw new UnsupportedValueError(`cannot store the value of '${key}': ${error.message}`, {
          ...error.details,
          key,
        });
      }
      throw error;
    }
  }

  #decode(key: string, text: string): V {
    try {
      return this.#codec.parse(text) as V;
    } catch (error) {
      // The stored text is left in place (never dropped); the caller learns which key is unreadable.
      const message = `the value of '${key}' in Redis cannot be read: ${(error as Error).message}`;
      if (error instanceof UnknownTypeError) throw new UnknownTypeError(message, { ...error.details, key });
      if (error instanceof AgentStateError) {
        throw new CorruptStateError(message, { ...error.details, key }, { cause: error });
      }
      throw error;
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('this RedisTtlStore is closed');
  }
}

/** Escapes Redis glob metacharacters so a prefix matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

const fail = (error: unknown): never => {
  throw redisFailure(error);
};

// Every data call of the store reports a Redis that is away as UNAVAILABLE (and any other client failure
// as INTERNAL) in one place, rather than a try/catch in each method; lock handles do the same through the
// lock backend above.
for (const name of [
  'set',
  'get',
  'has',
  'delete',
  'ttl',
  'expire',
  'persist',
  'setIfAbsent',
  'increment',
  'keys',
  'entries',
  'clear',
  'cooldown',
  'scanKeys',
] as const) {
  const proto = RedisTtlStore.prototype as unknown as Record<
    string,
    (...args: unknown[]) => Promise<unknown>
  >;
  const call = proto[name]!;
  proto[name] = function (this: RedisTtlStore, ...args: unknown[]) {
    return call.apply(this, args).catch(fail);
  };
}
