/**
 * Gives a document returned by `put` a `value` that is decoded from the stored form on first read.
 *
 * `put` returns the value as stored (a fresh object that shares nothing with the caller's), but most
 * callers only need the revision: decoding a large document just to drop it doubled the cost of a save.
 * The property is an enumerable, memoized getter, so spreading, `JSON.stringify` and `structuredClone`
 * see it like a plain field and every read returns the same object.
 */
export function defineLazyValue<D extends object, V>(document: D, decode: () => V): D & { value: V } {
  let decoded: { value: V } | undefined;
  return Object.defineProperty(document, 'value', {
    enumerable: true,
    configurable: true,
    get() {
      decoded ??= { value: decode() };
      return decoded.value;
    },
  }) as D & { value: V };
}
