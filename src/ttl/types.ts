/** A value, or a promise of it: the memory store answers synchronously, the Redis store asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

/** Options of a write that may set an expiry. */
export interface TtlOptions {
  /** Time to live in ms (finite, > 0). Omitted: the key never expires (an earlier expiry is removed). */
  ttlMs?: number;
}

/** Options of `acquireLock`. */
export interface LockOptions {
  /** How long the lock is held unless released or extended, in ms. */
  ttlMs: number;
  /** How long to keep trying (real time, ms) while someone else holds it. Default 0: one attempt. */
  waitMs?: number;
}

/** A held lock. Release and extend only act while this holder's token is the one stored. */
export interface TtlLock {
  /** The lock's name. */
  readonly name: string;
  /** Random owner token identifying this holder. */
  readonly token: string;
  /** Frees the lock if this holder still owns it; false when it had expired (and maybe been taken). */
  release(): Promise<boolean>;
  /** Resets the lock's expiry to `ttlMs` from now if this holder still owns it. */
  extend(ttlMs: number): Promise<boolean>;
  /** `await using lock = ...` releases it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * What the memory `TtlStore` and the `RedisTtlStore` have in common. Code that accepts either awaits
 * every result (`await store.get(k)` works on a plain value too).
 */
/** Options of `scanKeys`. */
export interface ScanKeysOptions {
  /** Only keys starting with this. */
  prefix?: string;
  /** The `cursor` of the previous page. */
  cursor?: string;
  /** Keys wanted in this page (>= 1). */
  limit: number;
}

/** One page of `scanKeys`. */
export interface ScanKeysPage {
  /** Live keys of this page. */
  keys: string[];
  /** Where the next page starts; absent after the last page. */
  cursor?: string;
}

export interface TtlStoreLike<V = unknown> {
  /** Stores a value; without `ttlMs` the key never expires. */
  set(key: string, value: V, options?: TtlOptions): MaybePromise<void>;
  /** The value, or `fallback` (default undefined) when missing or expired. */
  get<F = undefined>(key: string, fallback?: F): MaybePromise<V | F>;
  /** Whether the key holds an unexpired value. */
  has(key: string): MaybePromise<boolean>;
  /** Removes the key; true when it was there. */
  delete(key: string): MaybePromise<boolean>;
  /** Remaining ms of life, or undefined when the key is missing or never expires. */
  ttl(key: string): MaybePromise<number | undefined>;
  /** Sets a new expiry on an existing key; false when the key is missing. */
  expire(key: string, ttlMs: number): MaybePromise<boolean>;
  /** Drops the key's expiry; true when it had one. */
  persist(key: string): MaybePromise<boolean>;
  /** Stores only when the key is missing (or expired); true when it stored. */
  setIfAbsent(key: string, value: V, options?: TtlOptions): MaybePromise<boolean>;
  /** Adds `by` (default 1) to a numeric value; a new counter starts at `by` with `ttlMs`. */
  increment(key: string, by?: number, options?: TtlOptions): MaybePromise<number>;
  /** Live keys (optionally only those starting with `prefix`), a snapshot. */
  keys(prefix?: string): MaybePromise<string[]>;
  /**
   * One page of live keys starting with `prefix`, for callers that must not read every key at once: about
   * `limit` keys (Redis may add the rest of one SCAN batch) and the `cursor` to pass for the next page,
   * absent after the last. A key changed while paging may be missed or repeated, as with SCAN.
   */
  scanKeys(options: ScanKeysOptions): MaybePromise<ScanKeysPage>;
  /** Live `[key, value]` pairs (optionally only keys starting with `prefix`), a snapshot. */
  entries(prefix?: string): MaybePromise<Array<[string, V]>>;
  /** Number of live keys. */
  readonly size: MaybePromise<number>;
  /** Removes every value (locks and cooldowns are kept: they guard work in progress). */
  clear(): MaybePromise<void>;
  /** Takes a named lock for `ttlMs`, waiting up to `waitMs`; null when not acquired in time. */
  acquireLock(name: string, options: LockOptions): Promise<TtlLock | null>;
  /** True when the caller may proceed (and the cooldown starts), false while one runs. */
  cooldown(name: string, ttlMs: number): MaybePromise<boolean>;
  /** Stops background work and releases resources. */
  close(): MaybePromise<void>;
  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
