/**
 * How change events reach the hub. `localRelay`: events of this process only (memory or SQLite stores,
 * one server). `PostgresEventRelay`: every server process on one PostgreSQL schema publishes its events with
 * NOTIFY and hears everyone's (its own included) through one LISTEN connection, so a dashboard connected to
 * any process sees the changes made through all of them.
 */
import type { Pool } from 'pg';
import { type BackgroundErrorHandler, reportBackgroundError } from '../../shared/backgroundErrors.ts';
import { loadPackage } from '../../shared/optionalPackage.ts';
import { channelFor } from '../../shared/postgres/identifiers.ts';
import { ChannelListener } from '../../shared/postgres/listener.ts';
import { statementTimeoutMs } from '../../shared/postgres/statementTimeout.ts';
import { EventBatch } from './batch.ts';
import { CHANGE_KINDS, type ChangeEventMessage, type ChangeKind } from './hub.ts';

/** Carries change events from where they happen to every server's hub. */
export interface EventRelay {
  /** Announces an event (to this process's hub, and to the others' where the relay reaches them). */
  publish(event: ChangeEventMessage): void;
  /**
   * Starts delivering events to `deliver`; `onError` (the server's log) receives the relay's background
   * errors unless the relay was given its own.
   */
  start(deliver: (event: ChangeEventMessage) => void, onError?: BackgroundErrorHandler): Promise<void>;
  /** Stops delivering and releases connections. */
  close(): Promise<void>;
}

/** A relay inside one process. */
export function localRelay(): EventRelay {
  let deliver: ((event: ChangeEventMessage) => void) | undefined;
  return {
    publish: (event) => deliver?.(event),
    start: async (fn) => {
      deliver = fn;
    },
    close: async () => {
      deliver = undefined;
    },
  };
}

// NOTIFY payloads must stay below 8000 bytes; an event is a few ids, so a longer one is cut to its kind.
const MAX_PAYLOAD_BYTES = 7900;
/**
 * Events are sent in batches at most this often. Every NOTIFY takes PostgreSQL's database-wide notify lock
 * at commit, so one per write request would tax a busy ingest; dashboards redraw at most every 400 ms, so
 * 100 ms of batching costs them nothing.
 */
const FLUSH_MS = 100;
/** Longest wait for a connection of the relay's own pool, ms. */
const CONNECT_TIMEOUT_MS = 10_000;
const KINDS = new Set<string>(CHANGE_KINDS);

/** Parses a notification (a JSON array of events) back into events; malformed ones are ignored. */
function parseEvents(payload: string): ChangeEventMessage[] {
  let values: unknown;
  try {
    values = JSON.parse(payload);
  } catch {
    return [];
  }
  if (!Array.isArray(values)) return [];
  return values.flatMap((value) => {
    const event = parseEvent(value as Partial<ChangeEventMessage> | null);
    return event ? [event] : [];
  });
}

function parseEvent(value: Partial<ChangeEventMessage> | null): ChangeEventMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (typeof value.kind !== 'string' || !KINDS.has(value.kind) || typeof value.action !== 'string') {
    return undefined;
  }
  const event: ChangeEventMessage = {
    kind: value.kind as ChangeKind,
    action: value.action,
    at: typeof value.at === 'number' ? value.at : Date.now(),
  };
  if (typeof value.id === 'string') event.id = value.id;
  if (typeof value.namespace === 'string') event.namespace = value.namespace;
  return event;
}

/** Change events across the server processes of one PostgreSQL schema, through LISTEN/NOTIFY. */
export class PostgresEventRelay implements EventRelay {
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #channel: string;
  #listener: ChannelListener | undefined;
  /** Events waiting for the next flush, by what they name (a repeat of the same change is sent once). */
  readonly #batch = new EventBatch();
  #flushTimer: NodeJS.Timeout | undefined;
  /** The flush whose NOTIFYs are being sent; the next one waits for it (see #flush). */
  #inFlight: Promise<void> | undefined;
  /** Where background errors go: the constructor's `onError`, else the one `start` was given. */
  #onError: BackgroundErrorHandler | undefined;
  readonly #ownOnError: boolean;
  /** Set after a NOTIFY failed, until one succeeds: an outage is reported once, not once per flush. */
  #sendFailing = false;

  /**
   * A relay for the servers of `schema` (default `agentstate`), on `pool` (yours, never ended here) or on
   * a two-connection pool of its own to `connectionString` (one LISTEN, one for NOTIFY), whose statements
   * are cancelled after `statementTimeoutMs` (default 60000, as the stores' pools). `onError` receives
   * background errors: a lost connection, failed NOTIFYs, LISTEN reconnects (default: the server's log,
   * given by `start`, or a process warning before that).
   */
  constructor(options: {
    pool?: Pool;
    connectionString?: string;
    schema?: string;
    statementTimeoutMs?: number;
    onError?: BackgroundErrorHandler;
  }) {
    this.#onError = options.onError;
    this.#ownOnError = options.onError !== undefined;
    this.#ownsPool = options.pool === undefined;
    this.#pool =
      options.pool ??
      new (loadPackage<typeof import('pg')>('pg', 'PostgresEventRelay').Pool)({
        connectionString: options.connectionString,
        max: 2,
        // A database that does not answer must not make NOTIFYs wait without end for a connection or a lock.
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        statement_timeout: statementTimeoutMs(options.statementTimeoutMs),
      });
    // An idle connection of our own pool that the server closed: pg-pool drops it and opens another on the
    // next query; without a listener the 'error' event would end the process.
    if (this.#ownsPool) this.#pool.on('error', (error) => this.#report(error, 'idle connection lost'));
    this.#channel = channelFor(options.schema ?? 'agentstate', 'agentstate_events_');
  }

  publish(event: ChangeEventMessage): void {
    this.#batch.add(event);
    this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS).unref();
  }

  #flush(): void {
    this.#flushTimer = undefined;
    // One flush at a time: while the database is slow, events gather in the (bounded) batch instead of
    // NOTIFY calls piling up in the pool's queue; the flush in progress schedules the next when it ends.
    if (this.#inFlight !== undefined) return;
    const events = this.#batch.take();
    const payloads: string[] = [];
    let current: string[] = [];
    let bytes = 2;
    for (const event of events) {
      let text = JSON.stringify(event);
      if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES / 2) {
        text = JSON.stringify({ kind: event.kind, action: event.action, at: event.at });
      }
      const size = Buffer.byteLength(text) + 1;
      if (bytes + size > MAX_PAYLOAD_BYTES && current.length > 0) {
        payloads.push(`[${current.join(',')}]`);
        current = [];
        bytes = 2;
      }
      current.push(text);
      bytes += size;
    }
    if (current.length > 0) payloads.push(`[${current.join(',')}]`);
    this.#inFlight = this.#send(payloads).finally(() => {
      this.#inFlight = undefined;
      if (this.#batch.size > 0) this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS).unref();
    });
  }

  async #send(payloads: readonly string[]): Promise<void> {
    for (const payload of payloads) {
      // A lost event only delays a dashboard's refresh: reported once per outage, never retried.
      try {
        await this.#pool.query('SELECT pg_notify($1, $2)', [this.#channel, payload]);
        this.#sendFailing = false;
      } catch (error) {
        if (!this.#sendFailing) this.#report(error, 'NOTIFY failed');
        this.#sendFailing = true;
      }
    }
  }

  async start(deliver: (event: ChangeEventMessage) => void, onError?: BackgroundErrorHandler): Promise<void> {
    if (!this.#ownOnError) this.#onError = onError;
    this.#listener = new ChannelListener(
      this.#pool,
      this.#channel,
      (payload) => {
        for (const event of parseEvents(payload)) deliver(event);
      },
      () => {},
      {
        source: 'event relay listener',
        onError: (error, context) => this.#report(error, context.details?.what),
      },
    );
    await this.#listener.start();
  }

  #report(error: unknown, what: unknown): void {
    reportBackgroundError(this.#onError, error, {
      source: 'event relay',
      details: { channel: this.#channel, what },
    });
  }

  async close(): Promise<void> {
    await this.#inFlight;
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flush();
    }
    await this.#inFlight;
    await this.#listener?.close();
    if (this.#ownsPool) await this.#pool.end();
  }
}
