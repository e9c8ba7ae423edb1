import type { ChangeEvent, DocumentStore } from '../types.ts';

/**
 * Async-iterator form of `store.watch`: `for await (const event of watchChanges(store, 'agents', { signal }))`.
 * Events are buffered while the consumer is busy, so none are missed between iterations.
 */
export async function* watchChanges(
  store: DocumentStore,
  namespace: string,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<ChangeEvent> {
  const queue: ChangeEvent[] = [];
  let wake: (() => void) | undefined;
  const subscription = await store.watch(namespace, (event) => {
    queue.push(event);
    wake?.();
  });
  const onAbort = () => wake?.();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    while (!options.signal?.aborted) {
      const event = queue.shift();
      if (event) {
        yield event;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await subscription.close();
  }
}
