import type { Notification, Pool, PoolClient } from 'pg';
import { idFromKey } from '../../shared/idKey.ts';
import { quoteIdentifier } from '../../shared/postgres/identifiers.ts';
import type { ChangeEvent } from '../types.ts';

/** How long a writer waits for its own notification before giving up waiting (never fails the write). */
const OWN_EVENT_TIMEOUT_MS = 1000;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

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
}

/**
 * The one connection per store that LISTENs on the store's channel. It is opened lazily (first
 * `watch`), held out of the pool until the store closes, and reopened with backoff when it drops.
 * Notifications sent while it is down are lost: LISTEN/NOTIFY is a live feed, not a log, so a watcher
 * that must not miss anything re-reads the documents it cares about after `watch` resolves, and again
 * when `onReconnect` reports that the connection came back.
 */
export class ChannelListener {
  readonly #pool: Pool;
  readonly #channel: string;
  readonly #origin: string;
  readonly #onEvent: (event: ChangeEvent) => void;
  #client: PoolClient | undefined;
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs = RECONNECT_MIN_MS;
  #wanted = false;
  #detach: () => void = () => {};
  #closed = false;
  // Set once LISTEN was active: a later successful connect is a reconnect, with a gap before it.
  #listenedBefore = false;
  // seq -> resolve of a writer waiting for its own event to reach this store's watchers.
  readonly #waiters = new Map<number, { resolve: () => void; timer: NodeJS.Timeout }>();

  readonly #hooks: ListenerHooks;

  constructor(
    pool: Pool,
    channel: string,
    origin: string,
    onEvent: (event: ChangeEvent) => void,
    hooks: ListenerHooks,
  ) {
    this.#pool = pool;
    this.#channel = channel;
    this.#origin = origin;
    this.#onEvent = onEvent;
    this.#hooks = hooks;
  }

  /** Whether LISTEN is active right now. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** Starts listening (idempotent); resolves once LISTEN is active, rejects if the first connect fails. */
  start(): Promise<void> {
    this.#wanted = true;
    if (this.#client) return Promise.resolve();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /**
   * Registers interest in this store's own notification `seq` before the write is sent (the notification
   * can arrive before the write's reply). Undefined when not listening: there is nothing to wait for.
   */
  expect(seq: number): Promise<void> | undefined {
    if (!this.#client) return undefined;
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
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#connecting?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    this.#settleAll();
    if (!client) return;
    this.#detach();
    try {
      await this.#hooks.beforeUnlisten(client);
      await client.query(`UNLISTEN ${quoteIdentifier(this.#channel)}`);
      client.release();
    } catch (error) {
      client.release(error as Error);
    }
  }

  async #connect(): Promise<void> {
    const client = await this.#pool.connect();
    if (this.#closed) {
      client.release();
      return;
    }
    const onError = (error: Error) => this.#lost(client, error);
    const onEnd = () => this.#lost(client);
    const onNotification = (message: Notification) => this.#receive(message);
    client.on('error', onError);
    client.on('end', onEnd);
    client.on('notification', onNotification);
    this.#detach = () => {
      client.off('end', onEnd);
      client.off('notification', onNotification);
      // The error handler stays: a destroyed socket may still report an error after release.
    };
    try {
      await client.query(`LISTEN ${quoteIdentifier(this.#channel)}`);
      await this.#hooks.afterListen(client);
    } catch (error) {
      this.#detach();
      client.release(error as Error);
      throw error;
    }
    this.#client = client;
    this.#retryMs = RECONNECT_MIN_MS;
    if (this.#listenedBefore) this.#hooks.onReconnect?.();
    this.#listenedBefore = true;
  }

  #lost(client: PoolClient, error?: Error): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    // Writers waiting for their own events would wait for nothing now.
    this.#settleAll();
    this.#detach();
    client.release(error ?? true);
    if (!this.#closed && this.#wanted) this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.start().catch(() => {
        this.#retryMs = Math.min(this.#retryMs * 2, RECONNECT_MAX_MS);
        if (!this.#closed) this.#scheduleReconnect();
      });
    }, this.#retryMs);
    this.#retryTimer.unref();
  }

  #receive(message: Notification): void {
    if (message.channel !== this.#channel || message.payload === undefined) return;
    let payload: Payload;
    try {
      payload = JSON.parse(message.payload) as Payload;
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
