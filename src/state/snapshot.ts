import { isInstalled, unknownKey } from './errors.ts';
import type { AnyStateKey, StateKey } from './key.ts';
import { StateMap } from './stateMap.ts';

/**
 * An immutable view of a store at one revision. It shares the store's value map until the next commit,
 * which copies the map before writing (copy-on-write), and values are deep-frozen, so taking a snapshot
 * is O(1) and later commits never change what it returns.
 */
export class Snapshot {
  /** Revision of the store when the snapshot was taken. */
  readonly revision: number;
  readonly #values: ReadonlyMap<string, unknown>;
  readonly #keys: ReadonlyMap<string, AnyStateKey>;

  /** Made by `StateStore.snapshot()`; the maps given must never be written again. */
  constructor(
    revision: number,
    values: ReadonlyMap<string, unknown>,
    keys: ReadonlyMap<string, AnyStateKey>,
  ) {
    this.revision = revision;
    this.#values = values;
    this.#keys = keys;
  }

  /** The value of `key` at this revision. Throws `UnknownKeyError` when the key was not installed then. */
  get<V, U>(key: StateKey<V, U>): V {
    if (!isInstalled(this.#keys, key)) throw unknownKey(key, this.#keys);
    return this.#values.get(key.key) as V;
  }

  /** Whether `key` was installed at this revision. */
  has<V, U>(key: StateKey<V, U>): boolean {
    return isInstalled(this.#keys, key);
  }

  /** Names of the installed keys. */
  keys(): string[] {
    return [...this.#keys.keys()];
  }

  /** A mutable copy of the values, for code that wants to build on them. */
  toStateMap(): StateMap {
    return new StateMap(this.#values);
  }
}
