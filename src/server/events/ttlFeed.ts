/**
 * TTL changes for `/v1/events`: a TTL store that announces its changes (the in-memory `TtlStore`'s
 * `on('set' | 'delete' | 'expire')`) becomes `ttl` events carrying the key. TTL keys can change thousands
 * of times a second (counters, rate limits), so events are gathered for FLUSH_MS in a bounded batch (a key
 * changed many times is sent once) before they reach the clients.
 */
import { EventBatch } from './batch.ts';
import type { ChangeEventMessage } from './hub.ts';

/** How often gathered TTL events are sent, ms (pages redraw at most every 400 ms). */
const FLUSH_MS = 100;

/** The change events a TTL store may offer (the in-memory store's `on`). */
interface TtlEventSource {
  on(event: 'set' | 'delete' | 'expire', listener: (change: { key: string }) => void): () => void;
}

/** Whether `store` announces its changes. */
export function offersTtlEvents(store: unknown): store is TtlEventSource {
  return typeof (store as { on?: unknown } | null)?.on === 'function';
}

/** Subscribes to the store's changes, sending them batched to `publish`; resolves with the close function. */
export async function openTtlFeed(
  store: TtlEventSource,
  publish: (event: ChangeEventMessage) => void,
): Promise<() => Promise<void>> {
  const batch = new EventBatch();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    for (const event of batch.take()) publish(event);
  };
  const listen = (action: 'set' | 'delete' | 'expire') =>
    store.on(action, (change) => {
      batch.add({ kind: 'ttl', action, id: change.key, at: Date.now() });
      timer ??= setTimeout(flush, FLUSH_MS).unref();
    });
  const unsubscribe = [listen('set'), listen('delete'), listen('expire')];
  return async () => {
    for (const off of unsubscribe) off();
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    batch.take();
  };
}
