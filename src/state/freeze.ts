// Objects this module has deep-frozen. `Object.isFrozen` alone is not enough to stop the walk: a caller may
// hand in a shallowly frozen object whose children are still mutable.
const deeplyFrozen = new WeakSet<object>();

/**
 * Deep-freezes a state value so a snapshot can share it instead of copying it: a later commit cannot
 * change what an earlier snapshot sees, and an `apply` that mutates its input fails loudly instead of
 * corrupting history. Already-frozen subtrees are skipped, so appending to a frozen list costs one walk of
 * the new array, not of every item again. Typed arrays cannot be frozen by JavaScript and are left as they
 * are; Map and Set objects are frozen but their entries can still be changed with `set`/`add`, so treat
 * them as read-only.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || deeplyFrozen.has(value)) return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  deeplyFrozen.add(value);
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (const item of value) deepFreeze(item);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      deepFreeze(k);
      deepFreeze(v);
    }
  } else if (value instanceof Set) {
    for (const item of value) deepFreeze(item);
  } else {
    for (const name of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[name]);
  }
  return value;
}
