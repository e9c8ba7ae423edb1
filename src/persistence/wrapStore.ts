/**
 * `wrapStore`: the one pass-through the wrappers of this layer (`CachedStore`, `trackAccess`, the
 * monitor's `instrument`) are built on. A wrapper states only the calls it changes; every other member
 * of the wrapped store is forwarded, so the extras a driver or another wrapper adds (`versions`,
 * `getVersion`, `accessInfo`, `stats`...) stay reachable through any stack of wrappers instead of being
 * dropped by a hand-written copy of the `DocumentStore` interface.
 */
import type { DocumentStore } from '../drivers/index.ts';

/** What `wrapStore` returns: the overrides, and every other member of the wrapped store. */
export type WrappedStore<S extends DocumentStore, O extends object> = Omit<S, keyof O> & O;

/**
 * A store that answers with `overrides` and forwards every other member to `inner`: methods are bound
 * to `inner` (own ones and those of its class), other properties are read from `inner` when accessed.
 * Calls the wrapper overrides cost nothing extra; forwarded ones are one bound call.
 */
export function wrapStore<S extends DocumentStore, O extends object>(
  inner: S,
  overrides: O,
): WrappedStore<S, O> {
  const wrapped: Record<string, unknown> = {};
  const forward = (key: string, descriptor: PropertyDescriptor) => {
    if (typeof descriptor.value === 'function') {
      wrapped[key] = (descriptor.value as (...args: unknown[]) => unknown).bind(inner);
    } else {
      // Read when accessed: a property of the wrapped store may change (or be a getter).
      Object.defineProperty(wrapped, key, {
        get: () => (inner as unknown as Record<string, unknown>)[key],
        enumerable: true,
        configurable: true,
      });
    }
  };
  for (
    let level: object | null = inner;
    level !== null && level !== Object.prototype;
    level = Object.getPrototypeOf(level) as object | null
  ) {
    for (const key of Object.getOwnPropertyNames(level)) {
      if (key === 'constructor' || Object.hasOwn(wrapped, key) || Object.hasOwn(overrides, key)) continue;
      forward(key, Object.getOwnPropertyDescriptor(level, key)!);
    }
  }
  return Object.assign(wrapped, overrides) as WrappedStore<S, O>;
}
