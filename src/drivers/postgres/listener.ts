import type { Pool, PoolClient } from 'pg';
import type { BackgroundErrorHandler } from '../../shared/backgroundErrors.ts';
import { idFromKey } from '../../shared/idKey.ts';
import { ChannelListener as Listener } from '../../shared/postgres/listener.ts';
import type { ChangeEvent } from '../types.ts';

/** How long a writer waits for its own notification before giving up waiting (never fails the write). */
const OWN_EVENT_TIMEOUT_MS = 1000;

interface Payload {
  t?: unknown;
  n?: unknown;
  k?: unknown;
  r?: unknown;
  o?: unknown;
  s?: unknown;
}

/** SQL run on the listening connection: after LISTEN (before `start` resolves) and before UNLISTEN. */
export interface ListenerHooks {
  /** Runs once LISTEN is active; `start()` resolves only after it. */
  afterListen(client: PoolClient): Promise<void>;
  /** Runs before the connection stops listening. */
  beforeUnlisten(client: PoolClient): Promise<void>;
  /** Runs when LISTEN is active again after the connection dropped: notifications may have been lost. */
  onReconnect?(): void;
  /** Receives a dropped connection and each failed reconnect (default: a process warning). */
  onError?: BackgroundErrorHandler;
}

/**
 * The document store's change feed over the package's LISTEN connection (`shared/postgres/listener.ts`):
 * decodes the store's notifications into change events, and lets a writer wait for its own event. Opened
 * lazily (first `watch`); notifications sent while the connection is down are lost, so a watcher that must
 * not miss anything re-reads the documents it cares about after `watch` resolves, and again when
 * `onReconnect` reports that the connection came back.
 */
export class ChannelListener {
  readonly #origin: string;
  readonly #onEvent: (event: ChangeEvent) => void;
  readonly #listener: Listener;
  // seq -> resolve of a writer waiting for its own event to reach this store's watchers.
  readonly #waiters = new Map<number, { resolve: () => void; timer: NodeJS.Timeout }>();

  constructor(
    pool: Pool,
    channel: string,
    origin: string,
    onEvent: (event: ChangeEvent) => void,
    hooks: ListenerHooks,
  ) {
    this.#origin = origin;
    this.#onEvent = onEvent;
    this.#listener = new Listener(
      pool,
      channel,
      (payload) => this.#receive(payload),
      (reconnected) => {
        if (reconnected) hooks.onReconnect?.();
      },
      {
        afterListen: hooks.afterListen,
        beforeUnlisten: hooks.beforeUnlisten,
        // Writers waiting for their own events would wait for nothing now.
        onLost: () => this.#settleAll(),
        source: 'postgres document store listener',
        ...(hooks.onError && { onError: hooks.onError }),
      },
    );
  }

  /** Whether LISTEN is active right now. */
  get listening(): boolean {
    return this.#listener.listening;
  }

  /** Starts listening (idempotent); resolves once LISTEN is active, rejects if the first connect fails. */
  start(): Promise<void> {
    return this.#listener.start();
  }

  /**
   * Registers interest in this store's own notification `seq` before the write is sent (the notification
   * can arrive before the write's reply). Undefined when not listening: there is nothing to wait for.
   */
  expect(seq: number): Promise<void> | undefined {
    if (!this.#listener.listening) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#settle(seq), OWN_EVENT_TIMEOUT_MS);
      timer.unref();
      this.#waiters.set(seq, { resolve, timer });
    });
  }

  /** Drops a registration whose write did not happen (conflict, error). */
  forget(seq: number): void {
    this.#settle(seq);
  }

  /** Stops listening and returns the connection to the pool. */
  async close(): Promise<void> {
    await this.#listener.close();
    this.#settleAll();
  }

  #receive(text: string): void {
    let payload: Payload;
    try {
      payload = JSON.parse(text) as Payload;
    } catch {
      return; // not ours: someone else NOTIFYing on the channel
    }
    const { t, n, k, r } = payload;
    if ((t !== 'put' && t !== 'delete' && t !== 'expire') || typeof n !== 'string' || typeof k !== 'string') {
      return;
    }
    const id = idFromKey(Buffer.from(k, 'hex'));
    this.#onEvent({ type: t, namespace: n, id, revision: typeof r === 'number' ? r : 0 });
    if (payload.o === this.#origin && typeof payload.s === 'number') this.#settle(payload.s);
  }

  #settle(seq: number): void {
    const waiter = this.#waiters.get(seq);
    if (!waiter) return;
    this.#waiters.delete(seq);
    clearTimeout(waiter.timer);
    waiter.resolve();
  }

  #settleAll(): void {
    for (const seq of [...this.#waiters.keys()]) this.#settle(seq);
  }
}
