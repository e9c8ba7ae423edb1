/** File operations a store directory runs at once when it opens, applies a batch or lists. */
export const IO_PARALLELISM = 16;

/**
 * `Promise.all(items.map(fn))` with at most `limit` calls in flight: listing or opening a large directory
 * must not hold thousands of file descriptors open at once (EMFILE).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
