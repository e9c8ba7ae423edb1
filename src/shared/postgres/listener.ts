/**
 * The package's one PostgreSQL LISTEN connection, with reconnects: the document driver's change feed, the
 * rollout store's finished-rollout feed and the server's change-event relay each hold one. Writers send
 * `pg_notify(channel, payload)` inside their transaction, so PostgreSQL delivers the payload exactly when
 * (and only if) that transaction commits, to every process listening.
 *
 * Opened by the first `start()`, held out of the pool until `close()`, reopened with jittered back-off when
 * it drops. LISTEN/NOTIFY is a live feed, not a log: notifications sent while the connection is down are
 * lost, so `onListening(true)` tells the owner after a reconnect to re-read what it cares about.
 */
import type { Notification, Pool, PoolClient } from 'pg';
import { ClosedError } from '../../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../backgroundErrors.ts';
import { Backoff } from '../backoff.ts';
import { settled } from '../settled.ts';
import { quoteIdentifier } from './identifiers.ts';

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

/** Optional parts of a `ChannelListener`: SQL on the listening connection, and where errors go. */
export interface ChannelListenerOptions {
  /** Runs on the connection once LISTEN is active; `start()` resolves only after it. */
  afterListen?(client: PoolClient): Promise<void>;
  /** Runs on the connection before it stops listening at `close()`. */
  beforeUnlisten?(client: PoolClient): Promise<void>;
  /** Runs when the connection drops, before the reconnect is scheduled. */
  onLost?(): void;
  /** Receives a dropped connection and each failed reconnect (default: a process warning). */
  onError?: BackgroundErrorHandler;
  /** Names the owner in those reports, e.g. `postgres listener` (the default). */
  source?: string;
}

/** LISTEN on one channel, with reconnects; each notification's payload goes to `onPayload`. */
export class ChannelListener {
  readonly #pool: Pool;
  readonly #channel: string;
  readonly #onPayload: (payload: string) => void;
  readonly #onListening: (reconnected: boolean) => void;
  readonly #options: ChannelListenerOptions;
  readonly #backoff = new Backoff(RECONNECT_MIN_MS, RECONNECT_MAX_MS);
  #client: PoolClient | undefined;
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #detach: () => void = () => {};
  #closed = false;
  // Set once LISTEN was active: a later successful connect is a reconnect, with a gap before it.
  #listenedBefore = false;

  /**
   * A listener on `channel` (not connected until `start()`). `onListening` runs each time LISTEN becomes
   * active, with `reconnected` true when an earlier connection was lost (notifications may be missing).
   */
  constructor(
    pool: Pool,
    channel: string,
    onPayload: (payload: string) => void,
    onListening: (reconnected: boolean) => void,
    options: ChannelListenerOptions = {},
  ) {
    this.#pool = pool;
    this.#channel = channel;
    this.#onPayload = onPayload;
    this.#onListening = onListening;
    this.#options = options;
  }

  /** Whether LISTEN is active right now. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** Starts listening (idempotent); resolves once LISTEN is active, rejects if this connect fails. */
  start(): Promise<void> {
    if (this.#closed)
      return Promise.reject(new ClosedError('the listener is closed', { channel: this.#channel }));
    if (this.#client !== undefined) return Promise.resolve();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Stops listening (after `beforeUnlisten`) and returns the connection to the pool. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    // A connect in progress either fails (its error went to the caller of start(); nothing to close) or
    // ends with #client set, closed below.
    await settled(this.#connecting);
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    this.#detach();
    try {
      await this.#options.beforeUnlisten?.(client);
      await client.query(`UNLISTEN ${quoteIdentifier(this.#channel)}`);
      client.release();
    } catch (error) {
      // The connection is broken or its LISTEN state unknown: destroyed, not returned.
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
    const onNotification = (message: Notification) => {
      if (message.channel === this.#channel && message.payload) this.#onPayload(message.payload);
    };
    client.on('error', onError);
    client.on('end', onEnd);
    client.on('notification', onNotification);
    this.#detach = () => {
      client.off('end', onEnd);
      client.off('notification', onNotification);
      // The error handler stays: a destroyed socket may still report an error after release, and an
      // `error` event nobody listens to would end the process.
    };
    try {
      await client.query(`LISTEN ${quoteIdentifier(this.#channel)}`);
      await this.#options.afterListen?.(client);
    } catch (error) {
      this.#detach();
      client.release(error as Error);
      throw error;
    }
    this.#client = client;
    this.#backoff.reset();
    const reconnected = this.#listenedBefore;
    this.#listenedBefore = true;
    this.#onListening(reconnected);
  }

  #lost(client: PoolClient, error?: Error): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#detach();
    client.release(error ?? true);
    this.#options.onLost?.();
    if (this.#closed) return;
    this.#report(error ?? new Error('the LISTEN connection ended'), 'connection lost');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.start().catch((error: unknown) => {
        if (this.#closed) return;
        this.#report(error, 'reconnect failed');
        this.#scheduleReconnect();
      });
    }, this.#backoff.next());
    this.#retryTimer.unref();
  }

  #report(error: unknown, what: string): void {
    reportBackgroundError(this.#options.onError, error, {
      source: this.#options.source ?? 'postgres listener',
      details: { channel: this.#channel, what },
    });
  }
}
