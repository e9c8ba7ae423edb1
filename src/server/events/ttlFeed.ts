/**
 * TTL changes for `/v1/events`: a TTL store that announces its changes (the in-memory `TtlStore`'s
 * `on('set' | 'delete' | 'expire')`) becomes `ttl` events carrying the key; a store that announces only
 * its expiries (`RedisTtlStore.watchExpiries`, whose writes are announced by the routes instead) becomes
 * `ttl` expire events. TTL keys can change thousands of times a second (counters, rate limits), so events
 * are gathered for FLUSH_MS in a bounded batch (a key changed many times is sent once) before they reach
 * the clients.
 */
import type { BackgroundErrorHandler } from '../../shared/backgroundErrors.ts';
import { EventBatch } from './batch.ts';
import type { ChangeEventMessage } from './hub.ts';

/** How often gathered TTL events are sent, ms (pages redraw at most every 400 ms). */
const FLUSH_MS = 100;

/** The change events a TTL store may offer (the in-memory store's `on`). */
interface TtlEventSource {
  on(event: 'set' | 'delete' | 'expire', listener: (change: { key: string }) => void): () => void;
}

/** The expiries a TTL store may announce (the Redis store's `watchExpiries`). */
interface TtlExpirySource {
  watchExpiries(
    onExpire: (key: string) => void,
    options?: { onError?: BackgroundErrorHandler },
  ): () => Promise<void>;
}

/** Whether `store` announces its changes. */
export function offersTtlEvents(store: unknown): store is TtlEventSource {
  return typeof (store as { on?: unknown } | null)?.on === 'function';
}

/** Whether `store` announces its expiries only (its writes are announced by the routes). */
export function offersTtlExpiries(store: unknown): store is TtlExpirySource {
  return typeof (store as { watchExpiries?: unknown } | null)?.watchExpiries === 'function';
}

// Gathers events for FLUSH_MS before sending them; `close` drops what is pending.
function batched(publish: (event: ChangeEventMessage) => void) {
  const batch = new EventBatch();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    for (const event of batch.take()) publish(event);
  };
  return {
    add(action: 'set' | 'delete' | 'expire', key: string) {
      batch.add({ kind: 'ttl', action, id: key, at: Date.now() });
      timer ??= setTimeout(flush, FLUSH_MS).unref();
    },
    close() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      batch.take();
    },
  };
}

/** Subscribes to the store's changes, sending them batched to `publish`; resolves with the close function. */
export async function openTtlFeed(
  store: TtlEventSource,
  publish: (event: ChangeEventMessage) => void,
): Promise<() => Promise<void>> {
  const events = batched(publish);
  const listen = (action: 'set' | 'delete' | 'expire') =>
    store.on(action, (change) => events.add(action, change.key));
  const unsubscribe = [listen('set'), listen('delete'), listen('expire')];
  return async () => {
    for (const off of unsubscribe) off();
    events.close();
  };
}

/** Watches the store's expiries, sending them batched to `publish`; resolves with the close function. */
export async function openTtlExpiryFeed(
  store: TtlExpirySource,
  publish: (event: ChangeEventMessage) => void,
  onError: BackgroundErrorHandler,
): Promise<() => Promise<void>> {
  const events = batched(publish);
  const stop = store.watchExpiries((key) => events.add('expire', key), { onError });
  return async () => {
    await stop();
    events.close();
  };
}
