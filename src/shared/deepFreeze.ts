// Objects this module has deep-frozen, split by whether anything inside can still change. `Object.isFrozen`
// alone is not enough to stop the walk: a caller may hand in a shallowly frozen object whose children are
// still mutable.
const immutable = new WeakSet<object>();
const frozenButMutable = new WeakSet<object>();
// Objects on the current walk, so a cycle (allowed in non-persistent keys) ends instead of recursing forever.
const walking = new WeakSet<object>();

/**
 * Deep-freezes a state value so a snapshot can share it instead of copying it: a later commit cannot
 * change what an earlier snapshot sees, and an `apply` that mutates its input fails loudly instead of
 * corrupting history. Already-frozen subtrees are skipped, so appending to a frozen list costs one walk of
 * the new array, not of every item again.
 *
 * Returns whether the value is now entirely immutable. JavaScript cannot freeze the contents of typed
 * arrays, the entries of a Map or Set, or the time of a Date (`setTime`), so a value holding any of those
 * returns false: it is frozen as far as possible, but callers must treat it as read-only by convention,
 * and the store does not cache its encoded form.
 */
export function deepFreeze(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (immutable.has(value)) return true;
  if (frozenButMutable.has(value)) return false;
  if (walking.has(value)) return true;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return false;
  Object.freeze(value);
  let whole = !(value instanceof Date || value instanceof Map || value instanceof Set);
  // Registered as "on the walk" only once an object child is met: most state objects are leaves
  // (strings and numbers only), and each WeakSet operation costs about as much as freezing them.
  let marked = false;
  const child = (item: unknown): void => {
    if (typeof item !== 'object' || item === null) return;
    if (!marked) {
      walking.add(value);
      marked = true;
    }
    if (!deepFreeze(item)) whole = false;
  };
  if (Array.isArray(value)) {
    for (const item of value) child(item);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      child(k);
      child(v);
    }
  } else if (value instanceof Set) {
    for (const item of value) child(item);
  } else {
    for (const name of Object.keys(value)) child((value as Record<string, unknown>)[name]);
  }
  if (marked) walking.delete(value);
  (whole ? immutable : frozenButMutable).add(value);
  return whole;
}

/** Whether `value` is a primitive or was deep-frozen with nothing mutable inside. */
export function isImmutable(value: unknown): boolean {
  return typeof value !== 'object' || value === null || immutable.has(value);
}

/**
 * `prefix` (an immutable list, as `deepFreeze` left it) followed by `added`, as one new deep-frozen list,
 * walking only the added items: the prefix's items are known immutable, so appending to a long frozen
 * list costs O(added items).
 */
export function frozenConcat<T>(prefix: readonly T[], added: readonly T[]): readonly T[] {
  if (!immutable.has(prefix)) {
    const list = prefix.concat(added);
    deepFreeze(list);
    return list;
  }
  let whole = true;
  for (const item of added) if (!deepFreeze(item)) whole = false;
  const list = Object.freeze(prefix.concat(added));
  (whole ? immutable : frozenButMutable).add(list);
  return list;
}
