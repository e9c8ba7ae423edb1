/**
 * One connection that LISTENs on one channel, with reconnects. The rollout store holds one for finished
 * rollouts, the server's change-event relay one for its events. Rollout writers send
 * `pg_notify(channel, 'ro-a,ro-b')` inside the transaction that finishes them, so PostgreSQL delivers the
 * ids exactly when (and only if) that transaction commits, to every process listening.
 *
 * Opened lazily by the first `waitForRollouts`, held out of the pool until the store closes, reopened with
 * backoff when it drops. LISTEN/NOTIFY is a live feed, not a log: notifications sent while the connection is
 * down are lost, so after every (re)connect `onListening` runs and the store re-reads the rollouts it waits for.
 */
import type { Notification, Pool, PoolClient } from 'pg';
import { quoteIdentifier } from './identifiers.ts';

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

/** LISTEN on one channel, with reconnects; each notification's payload goes to `onPayload`. */
export class ChannelListener {
  readonly #pool: Pool;
  readonly #channel: string;
  readonly #onPayload: (payload: string) => void;
  readonly #onListening: () => void;
  #client: PoolClient | undefined;
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs = RECONNECT_MIN_MS;
  #closed = false;

  constructor(pool: Pool, channel: string, onPayload: (payload: string) => void, onListening: () => void) {
    this.#pool = pool;
    this.#channel = channel;
    this.#onPayload = onPayload;
    this.#onListening = onListening;
  }

  /** Resolves once LISTEN is active (connects when needed); rejects when the connection fails. */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the listener is closed'));
    if (this.#client !== undefined) return Promise.resolve();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    const client = await this.#pool.connect();
    const onNotification = (message: Notification) => {
      if (message.channel !== this.#channel || !message.payload) return;
      this.#onPayload(message.payload);
    };
    const onError = () => {
      client.off('notification', onNotification);
      client.off('error', onError);
      if (this.#client === client) this.#client = undefined;
      // Destroy, not return: the connection is broken or its LISTEN state is unknown.
      client.release(true);
      this.#scheduleReconnect();
    };
    client.on('notification', onNotification);
    client.on('error', onError);
    try {
      await client.query(`LISTEN ${quoteIdentifier(this.#channel)}`);
    } catch (error) {
      client.off('notification', onNotification);
      client.off('error', onError);
      client.release(true);
      throw error;
    }
    if (this.#closed) {
      client.release(true);
      return;
    }
    this.#client = client;
    this.#retryMs = RECONNECT_MIN_MS;
    this.#onListening();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.start().catch(() => this.#scheduleReconnect());
    }, this.#retryMs);
    this.#retryTimer.unref();
    this.#retryMs = Math.min(this.#retryMs * 2, RECONNECT_MAX_MS);
  }

  /** Stops listening and gives the connection back (destroyed). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    await this.#connecting?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) client.release(true);
  }
}
