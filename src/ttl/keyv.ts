import { EventEmitter } from 'node:events';
import { RedisTtlStore } from './redisStore.ts';
import type { TtlStoreLike } from './types.ts';

/** Options of `KeyvTtlAdapter`. */
export interface KeyvTtlAdapterOptions {
  /**
   * Reported to Keyv as `opts.dialect`. Keyv 5 only wires `keyv.iterator()` for adapters whose dialect is
   * in its built-in list ('redis', 'sqlite', ...); `keyvTtlAdapter` sets 'redis' for a `RedisTtlStore`.
   */
  dialect?: string;
  /** Reported as `opts.url` (Keyv reads it to decide on iteration). */
  url?: string;
}

/**
 * A Keyv storage adapter over any `TtlStoreLike` (the memory `TtlStore` or `RedisTtlStore`):
 * `new Keyv({ store: new KeyvTtlAdapter(store) })`. Keyv serialises values to strings and passes its TTL
 * in ms, which becomes the store's `ttlMs`; Keyv's namespace becomes a key prefix, and `clear()` removes
 * only that namespace. Several adapters may share one store (one per Keyv namespace).
 */
export class KeyvTtlAdapter extends EventEmitter {
  /** The wrapped store. */
  readonly store: TtlStoreLike<unknown>;
  /** Options Keyv inspects (`dialect`, `url`); Keyv may add its own fields. */
  opts: { dialect: string; url: string; [option: string]: unknown };
  /** Set by Keyv to its namespace; keys arrive already prefixed with `<namespace>:`. */
  namespace?: string | undefined;

  constructor(store: TtlStoreLike<unknown>, options: KeyvTtlAdapterOptions = {}) {
    super();
    this.store = store;
    this.opts = { dialect: options.dialect ?? 'agentstate', url: options.url ?? 'agentstate://memory' };
  }

  /** Keyv's get: the stored (serialised) data or undefined. */
  async get<T>(key: string): Promise<T | undefined> {
    return (await this.store.get(key)) as T | undefined;
  }

  /** Keyv's getMany. */
  async getMany<T>(keys: string[]): Promise<Array<T | undefined>> {
    return Promise.all(keys.map((key) => this.get<T>(key)));
  }

  /** Keyv's set; `ttl` in ms (undefined or 0: no expiry). */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    await this.store.set(key, value, typeof ttl === 'number' && ttl > 0 ? { ttlMs: ttl } : undefined);
    return true;
  }

  /** Keyv's delete. */
  async delete(key: string): Promise<boolean> {
    return this.store.delete(key);
  }

  /** Keyv's deleteMany: true when at least one key was deleted. */
  async deleteMany(keys: string[]): Promise<boolean> {
    const results = await Promise.all(keys.map((key) => this.store.delete(key)));
    return results.some(Boolean);
  }

  /** Keyv's has. */
  async has(key: string): Promise<boolean> {
    return this.store.has(key);
  }

  /** Keyv's clear: the current namespace only, or everything when there is none. */
  async clear(): Promise<void> {
    if (!this.namespace) {
      await this.store.clear();
      return;
    }
    const keys = await this.store.keys(`${this.namespace}:`);
    await Promise.all(keys.map((key) => this.store.delete(key)));
  }

  /** Keyv's iterator: `[key, data]` pairs of a namespace. */
  async *iterator(namespace?: string): AsyncGenerator<[string, unknown], void> {
    const entries = await this.store.entries(namespace ? `${namespace}:` : undefined);
    for (const entry of entries) yield entry;
  }

  /** Keyv's disconnect: closes the store. */
  async disconnect(): Promise<void> {
    await this.store.close();
  }
}

/**
 * A Keyv adapter for `store`, with the dialect set so that Keyv enables `iterator()` where it can: a
 * `RedisTtlStore` reports 'redis'. (Keyv has no dialect for a custom in-memory store, so `keyv.iterator()`
 * is not wired for the memory `TtlStore`; the adapter's own `iterator()` still works.)
 */
export function keyvTtlAdapter(store: TtlStoreLike<unknown>): KeyvTtlAdapter {
  return new KeyvTtlAdapter(
    store,
    store instanceof RedisTtlStore ? { dialect: 'redis', url: 'redis://agentstate' } : {},
  );
}
