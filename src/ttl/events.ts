/** Why a key left the store (`delete` event). */
export type DeleteReason = 'delete' | 'evict' | 'clear';

/** Payloads of the memory store's events. Values are the stored values; nothing internal is exposed. */
export interface TtlStoreEvents<V> {
  /** A value was written. `expiresAt` is epoch ms, or undefined when it never expires. */
  set: { key: string; value: V; expiresAt: number | undefined };
  /** A key was removed by `delete`, by `maxEntries` eviction, or by `clear`. */
  delete: { key: string; value: V; reason: DeleteReason };
  /** A key reached its expiry and was removed (on access or by the sweep). */
  expire: { key: string; value: V; expiredAt: number };
}

/** A listener of one event. */
export type TtlStoreListener<V, E extends keyof TtlStoreEvents<V>> = (event: TtlStoreEvents<V>[E]) => void;

/**
 * Listener lists per event. The store asks `has(event)` (a field read) before building a payload, so a
 * store nobody listens to pays nothing per operation.
 */
export class Listeners<V> {
  #lists: { [E in keyof TtlStoreEvents<V>]: Array<TtlStoreListener<V, E>> } = {
    set: [],
    delete: [],
    expire: [],
  };
  /** Whether anyone listens to `set`, `delete`, `expire`: plain booleans for the hot path. */
  onSet = false;
  onDelete = false;
  onExpire = false;

  /** Subscribes; returns the unsubscribe function. */
  add<E extends keyof TtlStoreEvents<V>>(event: E, listener: TtlStoreListener<V, E>): () => void {
    const list = this.#lists[event] as Array<TtlStoreListener<V, E>>;
    list.push(listener);
    this.#refresh();
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
      this.#refresh();
    };
  }

  /** Calls each listener of `event` in subscription order (a copy, so listeners may unsubscribe). */
  emit<E extends keyof TtlStoreEvents<V>>(event: E, payload: TtlStoreEvents<V>[E]): void {
    for (const listener of [...(this.#lists[event] as Array<TtlStoreListener<V, E>>)]) listener(payload);
  }

  /** Drops every listener. */
  clear(): void {
    this.#lists = { set: [], delete: [], expire: [] };
    this.#refresh();
  }

  #refresh(): void {
    this.onSet = this.#lists.set.length > 0;
    this.onDelete = this.#lists.delete.length > 0;
    this.onExpire = this.#lists.expire.length > 0;
  }
}
