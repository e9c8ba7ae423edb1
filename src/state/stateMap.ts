import type { StateKey } from './key.ts';

/**
 * A type-safe container of state values, addressed by state key objects (the seed's type-erased
 * `StateMap`). Values are stored under the key's name, so two key objects with the same name address the
 * same slot; the `StateStore` is what checks that only installed keys are used.
 */
export class StateMap {
  readonly #values: Map<string, unknown>;

  /** An empty map, or a copy of the entries given. */
  constructor(entries?: Iterable<readonly [string, unknown]>) {
    this.#values = new Map(entries);
  }

  /** The value of `key`, or undefined when absent. */
  get<V, U>(key: StateKey<V, U>): V | undefined {
    return this.#values.get(key.key) as V | undefined;
  }

  /** Sets the value of `key`. */
  set<V, U>(key: StateKey<V, U>, value: V): this {
    this.#values.set(key.key, value);
    return this;
  }

  /** Whether `key` has a value. */
  has<V, U>(key: StateKey<V, U>): boolean {
    return this.#values.has(key.key);
  }

  /** Removes `key`; returns whether it had a value. */
  delete<V, U>(key: StateKey<V, U>): boolean {
    return this.#values.delete(key.key);
  }

  /** The value of `key`, inserting `key.initial()` first when absent. */
  getOrInsertDefault<V, U>(key: StateKey<V, U>): V {
    if (this.#values.has(key.key)) return this.#values.get(key.key) as V;
    const value = key.initial();
    this.#values.set(key.key, value);
    return value;
  }

  /** Number of values. */
  get size(): number {
    return this.#values.size;
  }

  /** Names of the keys that have values. */
  keys(): IterableIterator<string> {
    return this.#values.keys();
  }

  /** `[name, value]` pairs. */
  entries(): IterableIterator<[string, unknown]> {
    return this.#values.entries();
  }
}
