import { defineStateKey, type StateKey, type StateKeyDefinition } from './key.ts';

/** Options shared by the helper keys: everything of `StateKeyDefinition` except `apply`. */
export type HelperKeyOptions<V> = Omit<StateKeyDefinition<V, never>, 'apply' | 'initial' | 'migrate'> & {
  /** Turns a value persisted at an older version into the current shape. */
  migrate?: (oldValue: unknown, fromVersion: number) => V;
};

/** A key whose update replaces the value. Exclusive by default: two parallel writers would race. */
export function lastValue<T>(options: HelperKeyOptions<T> & { initial: () => T }): StateKey<T, T> {
  return defineStateKey<T, T>({ ...options, apply: (_value, update) => update });
}

/** A number that updates add to. Commutative by default: additions give the same sum in any order. */
export function counter(options: HelperKeyOptions<number> & { initial?: number }): StateKey<number, number> {
  const start = options.initial ?? 0;
  return defineStateKey<number, number>({
    merge: 'commutative',
    ...options,
    initial: () => start,
    apply: (value, update) => value + update,
  });
}

/**
 * A list that each update appends one item to. Commutative by default: parallel appends are all kept,
 * in batch order. Appending copies the list (values are immutable so snapshots stay unchanged).
 */
export function appendList<T>(
  options: HelperKeyOptions<readonly T[]> & { initial?: () => readonly T[] },
): StateKey<readonly T[], T> {
  return defineStateKey<readonly T[], T>({
    merge: 'commutative',
    ...options,
    initial: options.initial ?? (() => []),
    apply: (value, update) => [...value, update],
  });
}

/**
 * A record that updates shallow-merge into (fields of the update win). Exclusive by default because two
 * parallel writers of the same field would silently overwrite each other; choose `merge: 'commutative'`
 * when parallel writers use distinct fields. Keys like `__proto__` are copied as plain own keys.
 */
export function mergeRecord<T>(
  options: HelperKeyOptions<Readonly<Record<string, T>>> & { initial?: () => Readonly<Record<string, T>> },
): StateKey<Readonly<Record<string, T>>, Readonly<Record<string, T>>> {
  return defineStateKey<Readonly<Record<string, T>>, Readonly<Record<string, T>>>({
    ...options,
    initial: options.initial ?? (() => ({})),
    // Object spread defines own data properties, so an own `__proto__` field never reaches a prototype.
    apply: (value, update) => ({ ...value, ...update }),
  });
}
