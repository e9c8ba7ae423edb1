import { assertDepth } from '../codec/index.ts';
import { ClosedError, InvalidInputError } from '../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../shared/backgroundErrors.ts';
import { MAX_TTL_MS } from '../shared/maxTtl.ts';
import { CachedClock } from './clock.ts';
import { type DeleteReason, Listeners, type TtlStoreEvents, type TtlStoreListener } from './events.ts';
import { ExpiryQueue } from './expiryQueue.ts';
import { acquireLockWith, type LockBackend } from './locks.ts';
import { hashKey, SlotIndex } from './slotIndex.ts';
import type {
  LockOptions,
  ScanKeysOptions,
  ScanKeysPage,
  TtlLock,
  TtlOptions,
  TtlStoreLike,
} from './types.ts';
import { checkKey, checkStep, checkTtl, checkTtlOptions, scanLimit } from './validate.ts';

/** Options of `new TtlStore()`. */
export interface TtlStoreOptions {
  /**
   * Clock in epoch ms, read on every operation that needs the time (exact; for tests). Default: a cached
   * `Date.now()` that is refreshed at least every 64 reads and after every await (see clock.ts).
   */
  now?: () => number;
  /**
   * Most keys held at once. Writing a new key into a full store first removes keys that are due; if it is
   * still full, it evicts the key that expires soonest; if no key has an expiry, the oldest-created key.
   * Default: unbounded.
   */
  maxEntries?: number;
  /** How often the background sweep runs, in ms (default 1000; 0 disables the timer). */
  sweepIntervalMs?: number;
  /**
   * Receives a failure of the background sweep, such as a `delete`/`expire` listener that threw
   * (default: a process warning). Without it such an error would be thrown from a timer and end the process.
   */
  onError?: BackgroundErrorHandler;
}

const INITIAL_CAPACITY = 1024;
// Sets pay for a little of the sweep: each one removes up to this many due items, so a tight synchronous
// loop (where the timer never fires) still frees what expired, and memory stays flat.
const SWEEP_PER_WRITE = 2;

/**
 * In-memory key-value store with per-key expiry, for short-lived signals shared inside one process:
 * cooldowns, beacons, temporary locks (seed: Aura `StateStore`).
 *
 * Layout: a `Map` from key to value, which is all a read touches, and a `SlotIndex` (an open-addressing
 * table over typed arrays) from key to a slot number, whose expiry sits in a `Float64Array`. No object,
 * closure or timer per entry, so a write allocates nothing once the arrays have grown, and the garbage
 * collector traces the Map and one array instead of millions of small objects. Trade-offs, measured in
 * bench/ttl.ts:
 * - A hit is one Map lookup, like a plain Map: keeping values in per-slot arrays (lru-cache's layout)
 *   costs a second, dependent memory access per read, about 30% of a hit on 1M keys.
 * - A write hashes the key once more (the slot index) than a plain Map; the index costs 20-22 bytes per
 *   key (key, hash, table cell), where a second Map would cost 28-37 plus the keys a sweep needs.
 * - Unlike lru-cache there is no recency list, so a get writes nothing (faster gets, and `maxEntries`
 *   evicts by expiry, not by recency: this is a signal store, not a cache).
 *
 * Expiry: every read checks the expiry (lazy expiry; seed semantics), and an `ExpiryQueue` (min-heap)
 * holds a lower bound of each expiry, so the sweep pops only keys that are due: its cost follows the keys
 * that expire, not the keys stored (the seed scanned every key each minute). The sweep timer is
 * `unref()`'d, and writes also sweep a little, so memory stays flat even when the timer cannot run.
 *
 * Values are stored as given, not cloned; `entries()` and events hand out fresh arrays and payloads.
 * The seed guards each call with a re-entrant lock for its worker threads; here every call runs to the
 * end on the one JavaScript thread, so it is atomic without one. Across processes, use `RedisTtlStore`.
 */
export class TtlStore<V = unknown> implements TtlStoreLike<V> {
  // Values as given. A Map miss and a stored `undefined` look alike; #undefinedValues counts the keys
  // holding `undefined`, so while it is 0 (nearly always) a miss is decided by one lookup, and a hit
  // pays no sentinel test.
  #values = new Map<string, unknown>();
  #undefinedValues = 0;
  #index: SlotIndex;
  // Expiry of each slot in whole ms after #base; 0 means no expiry (and, for a free slot, nothing).
  #expiries: Float64Array;
  readonly #base: number;
  #queue = new ExpiryQueue();
  readonly #clock: CachedClock;
  readonly #userNow: (() => number) | undefined;
  readonly #maxEntries: number;
  readonly #listeners = new Listeners<V>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  // Gets that may skip the expiry check: set when a checked get found the queue's head (a lower bound of
  // every expiry) after the cached time, as many as the clock will still reuse that time (taken from the
  // clock, so quiet gets and clock reads together stay within its bound). Any push to the queue (which can
  // only lower the head) and the end of the synchronous run reset it to 0.
  #quietReads = 0;
  #locks: TtlStore<string> | undefined;
  #cooldowns: TtlStore<true> | undefined;

  constructor(options: TtlStoreOptions = {}) {
    const { now, maxEntries = Number.POSITIVE_INFINITY, sweepIntervalMs = 1000, onError } = options;
    if (now !== undefined && typeof now !== 'function') {
      throw new InvalidInputError('TtlStore option now must be a function returning epoch ms', {});
    }
    if (!(maxEntries >= 1)) {
      throw new InvalidInputError(`TtlStore option maxEntries must be >= 1, got ${String(maxEntries)}`, {
        maxEntries: String(maxEntries),
      });
    }
    if (typeof sweepIntervalMs !== 'number' || !(sweepIntervalMs >= 0) || !Number.isFinite(sweepIntervalMs)) {
      throw new InvalidInputError(
        `TtlStore option sweepIntervalMs must be a finite number >= 0, got ${String(sweepIntervalMs)}`,
        { sweepIntervalMs: String(sweepIntervalMs) },
      );
    }
    this.#userNow = now;
    this.#clock = new CachedClock(now, () => {
      this.#quietReads = 0;
    });
    this.#maxEntries = Math.floor(maxEntries);
    this.#index = new SlotIndex(Math.min(INITIAL_CAPACITY, this.#maxEntries), this.#maxEntries);
    this.#expiries = new Float64Array(this.#index.capacity);
    // One ms before now, so every expiry set from now on is at least 1 (0 is "no expiry").
    this.#base = this.#clock.read() - 1;
    if (sweepIntervalMs > 0) {
      this.#timer = setInterval(() => {
        try {
          this.sweep();
        } catch (error) {
          reportBackgroundError(onError, error, { source: 'TtlStore sweep' });
        }
      }, sweepIntervalMs);
      // The sweep only frees memory; it must never be the reason a process stays alive.
      this.#timer.unref();
    }
  }

  /** Stores `value`; without `ttlMs` the key never expires (an earlier expiry is removed). */
  set(key: string, value: V, options?: TtlOptions): void {
    if (typeof key !== 'string') checkKey(key);
    // Values stay references here, but a value nested deeper than MAX_DEPTH fails when it is serialized
    // (a server answer, a snapshot, a Redis store): refused up front, naming the path.
    if (typeof value === 'object' && value !== null) assertDepth(value, key);
    let expiry = 0;
    let now = 0;
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) checkTtlOptions(options, key);
      const ttlMs = options.ttlMs;
      if (ttlMs !== undefined) {
        if (typeof ttlMs !== 'number' || !(ttlMs > 0 && ttlMs <= MAX_TTL_MS)) checkTtl(ttlMs, key);
        now = this.#clock.read() - this.#base;
        expiry = toExpiry(now + ttlMs);
      }
    }
    // One hash for the lookup and, when the key is new, its insertion.
    const hash = hashKey(key);
    let slot = this.#index.find(key, hash);
    if (slot >= 0 && this.#expiries[slot] !== 0) slot = this.#unlessExpired(slot, key, hash, now);
    if (slot < 0) slot = this.#insert(key, value, hash);
    else {
      if (this.#undefinedValues > 0 && this.#values.get(key) === undefined) this.#undefinedValues--;
      if (value === undefined) this.#undefinedValues++;
      this.#values.set(key, value);
    }
    this.#schedule(slot, expiry);
    if (now !== 0 && this.#queue.peekTime() <= now) this.#sweepDue(now, SWEEP_PER_WRITE);
    if (this.#listeners.onSet) {
      this.#listeners.emit('set', { key, value, expiresAt: expiry === 0 ? undefined : expiry + this.#base });
    }
  }

  /** The value, or `fallback` (default undefined) when the key is missing or expired. */
  get<F = undefined>(key: string, fallback?: F): V | F {
    const value = this.#values.get(key);
    if (value === undefined) {
      // Non-string keys are never stored, so the check is only needed (and only paid) on a miss.
      if (typeof key !== 'string') checkKey(key);
      if (this.#undefinedValues === 0 || this.#index.find(key) < 0) return fallback as F;
    }
    // The hot path: nothing can have expired since the last check (see #quietReads). Kept small and
    // free of calls: the JIT inlines `get` into its callers, and a call site in an inlined loop body
    // (even one rarely taken, like the clock read of the checked path) measurably slows every hit.
    if (this.#quietReads > 0) {
      this.#quietReads--;
      return value as V;
    }
    return this.#checkedGet(key, value, fallback);
  }

  /** Whether the key holds an unexpired value. */
  has(key: string): boolean {
    return this.#liveSlot(key) !== undefined;
  }

  /** Removes the key; true when it was there (and unexpired). */
  delete(key: string): boolean {
    const slot = this.#liveSlot(key);
    if (slot === undefined) return false;
    this.#removeSlot(slot, 'delete');
    return true;
  }

  /** Remaining ms of life, or undefined when the key is missing or never expires. */
  ttl(key: string): number | undefined {
    const slot = this.#liveSlot(key);
    if (slot === undefined) return undefined;
    const expiry = this.#expiries[slot]!;
    return expiry === 0 ? undefined : expiry + this.#base - this.#clock.read();
  }

  /** Sets the key to expire `ttlMs` from now; false when the key is missing. */
  expire(key: string, ttlMs: number): boolean {
    checkKey(key);
    checkTtl(ttlMs, key);
    const slot = this.#liveSlot(key);
    if (slot === undefined) return false;
    this.#schedule(slot, toExpiry(this.#clock.read() - this.#base + ttlMs));
    return true;
  }

  /** Drops the key's expiry; true when it had one. */
  persist(key: string): boolean {
    const slot = this.#liveSlot(key);
    if (slot === undefined || this.#expiries[slot] === 0) return false;
    // The queue keeps its item; when it pops, the slot has no expiry and the item is dropped.
    this.#expiries[slot] = 0;
    return true;
  }

  /** Stores only when the key is missing or expired; true when it stored. */
  setIfAbsent(key: string, value: V, options?: TtlOptions): boolean {
    checkTtlOptions(options, String(key));
    if (options?.ttlMs !== undefined) checkTtl(options.ttlMs, String(key));
    if (this.#liveSlot(key) !== undefined) return false;
    this.set(key, value, options);
    return true;
  }

  /**
   * Adds `by` (default 1) to a numeric value and returns the result. A missing key starts at `by` and
   * gets `ttlMs` (a fixed-window counter); an existing key keeps its expiry. A non-number value or a
   * non-finite result is `INVALID_INPUT`.
   */
  increment(key: string, by = 1, options?: TtlOptions): number {
    checkKey(key);
    checkStep(by, key);
    checkTtlOptions(options, key);
    if (options?.ttlMs !== undefined) checkTtl(options.ttlMs, key);
    const slot = this.#liveSlot(key);
    if (slot === undefined) {
      this.set(key, by as V, options);
      return by;
    }
    const current = this.#values.get(key);
    if (typeof current !== 'number') {
      throw new InvalidInputError(`cannot increment '${key}': its value is not a number`, { key });
    }
    const next = current + by;
    if (!Number.isFinite(next)) {
      throw new InvalidInputError(`cannot increment '${key}': the result is not a finite number`, { key });
    }
    this.#values.set(key, next);
    if (this.#listeners.onSet) {
      const expiry = this.#expiries[slot]!;
      this.#listeners.emit('set', {
        key,
        value: next as V,
        expiresAt: expiry === 0 ? undefined : expiry + this.#base,
      });
    }
    return next;
  }

  /** Live keys, optionally only those starting with `prefix`; expired keys are purged first. */
  keys(prefix?: string): string[] {
    if (prefix !== undefined) checkKey(prefix, 'prefix');
    this.#purgeExpired();
    const out: string[] = [];
    for (const key of this.#values.keys()) if (prefix === undefined || key.startsWith(prefix)) out.push(key);
    return out;
  }

  /** One page of live keys in key order (the cursor is the last key sent); see `TtlStoreLike.scanKeys`. */
  scanKeys(options: ScanKeysOptions): ScanKeysPage {
    const { prefix, cursor } = options;
    const limit = scanLimit(options.limit);
    const after = this.keys(prefix).filter((key) => cursor === undefined || key > cursor);
    after.sort();
    const keys = after.slice(0, limit);
    return after.length > limit ? { keys, cursor: keys[keys.length - 1]! } : { keys };
  }

  /** Live `[key, value]` pairs (fresh arrays), optionally only keys starting with `prefix`. */
  entries(prefix?: string): Array<[string, V]> {
    if (prefix !== undefined) checkKey(prefix, 'prefix');
    this.#purgeExpired();
    const out: Array<[string, V]> = [];
    for (const [key, value] of this.#values) {
      if (prefix === undefined || key.startsWith(prefix)) out.push([key, value as V]);
    }
    return out;
  }

  /** Number of live keys (due keys are swept first, at a cost proportional to them). */
  get size(): number {
    this.#sweepDue(this.#clock.read() - this.#base, Number.POSITIVE_INFINITY);
    return this.#values.size;
  }

  /** Removes every value (emitting `delete` with reason `clear` to listeners). Locks and cooldowns stay. */
  clear(): void {
    if (this.#closed && this.#values.size === 0) return;
    if (this.#listeners.onDelete) {
      for (const [key, value] of this.entries())
        this.#listeners.emit('delete', { key, value, reason: 'clear' });
    }
    this.#values = new Map();
    this.#undefinedValues = 0;
    this.#index = new SlotIndex(Math.min(INITIAL_CAPACITY, this.#maxEntries), this.#maxEntries);
    this.#expiries = new Float64Array(this.#index.capacity);
    this.#queue.clear();
    this.#quietReads = 0;
  }

  /**
   * Removes every due key now and returns how many; the background timer calls this. Cost: O(d log n) for
   * d due keys among n, independent of the keys that are not due.
   */
  sweep(): number {
    let removed = this.#sweepDue(this.#exactNow(), Number.POSITIVE_INFINITY);
    if (this.#locks) removed += this.#locks.sweep();
    if (this.#cooldowns) removed += this.#cooldowns.sweep();
    return removed;
  }

  /** Subscribes to `set`, `delete` or `expire`; returns the unsubscribe function. */
  on<E extends keyof TtlStoreEvents<V>>(event: E, listener: TtlStoreListener<V, E>): () => void {
    if (event !== 'set' && event !== 'delete' && event !== 'expire') {
      throw new InvalidInputError(`unknown TtlStore event '${String(event)}': use set, delete or expire`, {
        event: String(event),
      });
    }
    return this.#listeners.add(event, listener);
  }

  /** Takes the named lock for `ttlMs`, waiting up to `waitMs` (real time); null when not acquired. */
  async acquireLock(name: string, options: LockOptions): Promise<TtlLock | null> {
    this.#assertOpen();
    return acquireLockWith(this.#lockBackend(), name, options);
  }

  /** True when the caller may proceed (and the cooldown of `ttlMs` starts), false while one runs. */
  cooldown(name: string, ttlMs: number): boolean {
    checkKey(name, 'cooldown name');
    checkTtl(ttlMs, name);
    this.#assertOpen();
    this.#cooldowns ??= this.#child<true>();
    return this.#cooldowns.setIfAbsent(name, true, { ttlMs });
  }

  /** Stops the sweep timer and drops all data; later writes throw `CLOSED`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    this.clear();
    this.#locks?.close();
    this.#cooldowns?.close();
  }

  /** `await using store = new TtlStore()` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  // --- internals -------------------------------------------------------------------------------------

  /** `get` of a present key when the expiry must be checked. */
  #checkedGet<F>(key: string, value: unknown, fallback: F | undefined): V | F {
    // The queue's head is a lower bound of every expiry in the store: while it lies in the future no key
    // can be expired, and the key's own expiry need not be looked up.
    const now = this.#clock.read() - this.#base;
    if (this.#queue.peekTime() > now) {
      this.#quietReads = this.#clock.takeReuses();
      return value as V;
    }
    const slot = this.#index.find(key);
    const expiry = this.#expiries[slot]!;
    if (expiry !== 0 && expiry <= now) {
      this.#expireSlot(slot, expiry);
      return fallback as F;
    }
    return value as V;
  }

  /**
   * For `set` over a held key with an expiry: `slot` while the key is unexpired at `now` (ms after #base;
   * 0 when not read yet). An expired key not yet swept is expired here rather than overwritten, so it gets
   * its `expire` event and the new value counts as newly created (maxEntries evicts the oldest-created).
   * Returns the key's slot after that: -1, unless an expire listener wrote the key again.
   */
  #unlessExpired(slot: number, key: string, hash: number, now: number): number {
    const expiry = this.#expiries[slot]!;
    if (expiry > (now !== 0 ? now : this.#clock.read() - this.#base)) return slot;
    this.#expireSlot(slot, expiry);
    return this.#index.find(key, hash);
  }

  /** The slot of an unexpired key, purging it when it has expired. */
  #liveSlot(key: string): number | undefined {
    if (typeof key !== 'string') checkKey(key);
    const slot = this.#index.find(key);
    if (slot < 0) return undefined;
    const expiry = this.#expiries[slot]!;
    if (expiry !== 0 && expiry <= this.#clock.read() - this.#base) {
      this.#expireSlot(slot, expiry);
      return undefined;
    }
    return slot;
  }

  /**
   * Records a slot's new expiry and keeps the queue's promise: every slot with an expiry has an item whose
   * time is <= that expiry. A later expiry keeps the existing (earlier) item; only a first or shorter
   * expiry pushes a new one.
   */
  #schedule(slot: number, expiry: number): void {
    const expiries = this.#expiries;
    const previous = expiries[slot]!;
    expiries[slot] = expiry;
    if (expiry !== 0 && (previous === 0 || expiry < previous)) {
      const queue = this.#queue;
      queue.push(expiry, slot, this.#maxEntries);
      this.#quietReads = 0;
      // Stale items (from shortened expiries and reused slots) are bounded: rebuild when they outnumber
      // the live keys. O(n) once per n pushes, so O(1) amortised.
      if (queue.length > 2 * this.#values.size + INITIAL_CAPACITY) this.#rebuildQueue();
    }
  }

  // The only way a key enters the store, so the only place that needs the closed check: reads and
  // overwrites on a closed (emptied) store find nothing and pay nothing.
  #insert(key: string, value: V, hash: number): number {
    if (this.#closed) throw new ClosedError(`this TtlStore is closed; cannot write '${key}'`, { key });
    if (this.#values.size >= this.#maxEntries) {
      this.#makeRoom(key, hash);
      // A listener run while making room may have written this very key; adding it again would index it
      // twice, so that entry goes (this write replaces it) and the key is added once, below.
      const written = this.#index.find(key, hash);
      if (written >= 0) this.#freeSlot(written, key);
    }
    const slot = this.#index.add(key, hash);
    // The index grows by doubling, clamped to maxEntries (lru-cache allocates `max` slots up front;
    // growing on demand keeps an unbounded or mostly empty store small); expiries follow it.
    if (this.#index.capacity > this.#expiries.length) {
      const expiries = new Float64Array(this.#index.capacity);
      expiries.set(this.#expiries);
      this.#expiries = expiries;
    }
    if (value === undefined) this.#undefinedValues++;
    this.#values.set(key, value);
    return slot;
  }

  /** Eviction rule of `maxEntries` (see TtlStoreOptions), before inserting `key`. */
  #makeRoom(key: string, hash: number): void {
    this.#sweepDue(this.#clock.read() - this.#base, Number.POSITIVE_INFINITY);
    // No eviction when the sweep freed room, or when an expire listener wrote `key` (the write replaces it).
    if (this.#values.size < this.#maxEntries || this.#index.find(key, hash) >= 0) return;
    const queue = this.#queue;
    while (queue.length > 0) {
      const time = queue.peekTime();
      const slot = queue.peekSlot();
      queue.pop();
      const expiry = this.#expiries[slot]!;
      if (expiry === 0) continue;
      // The earliest item with an exact time belongs to the key that expires soonest.
      if (expiry === time) {
        this.#removeSlot(slot, 'evict');
        return;
      }
      queue.push(expiry, slot, this.#maxEntries);
      this.#quietReads = 0;
    }
    // No key expires: evict the oldest-created one (a Map iterates in insertion order).
    const oldest = this.#values.keys().next();
    if (!oldest.done) this.#removeSlot(this.#index.find(oldest.value), 'evict');
  }

  /** Pops due items (at most `limit`) at `now` (ms after #base); returns how many keys expired. */
  #sweepDue(now: number, limit: number): number {
    const queue = this.#queue;
    // With an expire listener, one item at a time: the batch takes every due item off the queue first,
    // and a listener running in between would then read other due keys as live (the queue's head is no
    // longer a lower bound of their expiry), or, by throwing, leave them off the queue for good.
    if (limit === Number.POSITIVE_INFINITY && queue.peekTime() <= now && !this.#listeners.onExpire) {
      return this.#sweepAllDue(now);
    }
    let removed = 0;
    while (limit-- > 0 && queue.length > 0 && queue.peekTime() <= now) {
      const slot = queue.peekSlot();
      queue.pop();
      // Re-read per item: an expire listener may have written to the store.
      const expiry = this.#expiries[slot]!;
      if (expiry === 0) continue; // freed or persisted since
      if (expiry <= now) {
        this.#expireSlot(slot, expiry);
        removed++;
      } else {
        queue.push(expiry, slot, this.#maxEntries); // the expiry was extended: wait for the real one
        this.#quietReads = 0;
      }
    }
    return removed;
  }

  /**
   * A full sweep: takes every due item off the queue at once, then handles their slots in slot order.
   * Keys due at the same time leave a heap in no particular order, and deleting them from the Map in that
   * order jumps around memory; slots are handed out in insertion order, as the Map lays out its entries,
   * so sorted slots turn those jumps into a forward walk (measured: about twice as fast for 10k due keys
   * among 1M). Each slot is read once, here: expired, skipped (freed or persisted since its item was
   * pushed), or pushed again at its real, later expiry (the item was a lower bound). Only used when no
   * expire listener can run in the loop (see #sweepDue), so nothing calls back into the store here.
   */
  #sweepAllDue(now: number): number {
    const queue = this.#queue;
    const count = queue.popDue(now);
    const due = queue.dueSlots.subarray(0, count).sort();
    let removed = 0;
    for (let i = 0; i < count; i++) {
      const slot = due[i]!;
      // Read here, not when popped: a slot listed twice is free after the first.
      const expiry = this.#expiries[slot]!;
      if (expiry === 0) continue;
      if (expiry <= now) {
        this.#expireSlot(slot, expiry);
        removed++;
      } else {
        queue.push(expiry, slot, this.#maxEntries);
        this.#quietReads = 0;
      }
    }
    return removed;
  }

  /** The clock without the read cache (sweeps and snapshots), in ms after #base. */
  #exactNow(): number {
    return this.#clock.readExact() - this.#base;
  }

  #purgeExpired(): void {
    this.#sweepDue(this.#exactNow(), Number.POSITIVE_INFINITY);
  }

  #rebuildQueue(): void {
    const count = this.#values.size;
    const times = new Float64Array(count);
    const slots = new Uint32Array(count);
    let n = 0;
    for (const slot of this.#index.slots()) {
      const expiry = this.#expiries[slot]!;
      if (expiry === 0) continue;
      times[n] = expiry;
      slots[n++] = slot;
    }
    this.#queue.rebuild(times, slots, n);
    this.#quietReads = 0;
  }

  #expireSlot(slot: number, expiry: number): void {
    const key = this.#index.keys[slot]!;
    if (!this.#listeners.onExpire) {
      this.#freeSlot(slot, key);
      return;
    }
    const value = this.#valueOf(key);
    this.#freeSlot(slot, key);
    this.#listeners.emit('expire', { key, value, expiredAt: expiry + this.#base });
  }

  #removeSlot(slot: number, reason: DeleteReason): void {
    const key = this.#index.keys[slot]!;
    if (!this.#listeners.onDelete) {
      this.#freeSlot(slot, key);
      return;
    }
    const value = this.#valueOf(key);
    this.#freeSlot(slot, key);
    this.#listeners.emit('delete', { key, value, reason });
  }

  /** The stored value of a present key. */
  #valueOf(key: string): V {
    return this.#values.get(key) as V;
  }

  /** Removes the key of `slot` everywhere. */
  #freeSlot(slot: number, key: string): void {
    if (this.#undefinedValues > 0 && this.#values.get(key) === undefined) this.#undefinedValues--;
    this.#values.delete(key);
    this.#index.remove(slot);
    this.#expiries[slot] = 0;
  }

  #child<T>(): TtlStore<T> {
    return new TtlStore<T>({ ...(this.#userNow ? { now: this.#userNow } : {}), sweepIntervalMs: 0 });
  }

  #lockBackend(): LockBackend {
    this.#locks ??= this.#child<string>();
    const locks = this.#locks;
    return {
      tryAcquire: (name, token, ttlMs) => !this.#closed && locks.setIfAbsent(name, token, { ttlMs }),
      release: (name, token) => locks.get(name) === token && locks.delete(name),
      extend: (name, token, ttlMs) => locks.get(name) === token && locks.expire(name, ttlMs),
    };
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('this TtlStore is closed');
  }
}

/** A relative expiry as whole ms, rounded up (a key never expires early), and at least 1. */
function toExpiry(relativeMs: number): number {
  const expiry = Math.ceil(relativeMs);
  return Math.max(expiry, 1);
}
