/**
 * How change events reach the hub. `localRelay`: events of this process only (memory or SQLite stores,
 * one server). `PostgresEventRelay`: every server process on one PostgreSQL schema publishes its events with
 * NOTIFY and hears everyone's (its own included) through one LISTEN connection, so a dashboard connected to
 * any process sees the changes made through all of them.
 */
import pg from 'pg';
import { channelFor } from '../../drivers/postgres/identifiers.ts';
import { ChannelListener } from '../../rollouts/postgres/listener.ts';
import { CHANGE_KINDS, type ChangeEventMessage, type ChangeKind } from './hub.ts';

/** Carries change events from where they happen to every server's hub. */
export interface EventRelay {
  /** Announces an event (to this process's hub, and to the others' where the relay reaches them). */
  publish(event: ChangeEventMessage): void;
  /** Starts delivering events to `deliver`. */
  start(deliver: (event: ChangeEventMessage) => void): Promise<void>;
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
const KINDS = new Set<string>(CHANGE_KINDS);

/** Parses a notification back into an event; anything malformed is ignored (the channel is shared). */
function parseEvent(payload: string): ChangeEventMessage | undefined {
  try {
    const value = JSON.parse(payload) as Partial<ChangeEventMessage>;
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
  } catch {
    return undefined;
  }
}

/** Change events across the server processes of one PostgreSQL schema, through LISTEN/NOTIFY. */
export class PostgresEventRelay implements EventRelay {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #channel: string;
  #listener: ChannelListener | undefined;

  /**
   * A relay for the servers of `schema` (default `agentstate`), on `pool` (yours, never ended here) or on
   * a two-connection pool of its own to `connectionString` (one LISTEN, one for NOTIFY).
   */
  constructor(options: { pool?: pg.Pool; connectionString?: string; schema?: string }) {
    this.#ownsPool = options.pool === undefined;
    this.#pool = options.pool ?? new pg.Pool({ connectionString: options.connectionString, max: 2 });
    if (this.#ownsPool) this.#pool.on('error', () => {});
    this.#channel = channelFor(options.schema ?? 'agentstate', 'agentstate_events_');
  }

  publish(event: ChangeEventMessage): void {
    let payload = JSON.stringify(event);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      payload = JSON.stringify({ kind: event.kind, action: event.action, at: event.at });
    }
    // Fire and forget: a lost event only delays a dashboard's refresh, and a failing database is reported
    // by the store calls themselves.
    this.#pool.query('SELECT pg_notify($1, $2)', [this.#channel, payload]).catch(() => {});
  }

  async start(deliver: (event: ChangeEventMessage) => void): Promise<void> {
    this.#listener = new ChannelListener(
      this.#pool,
      this.#channel,
      (payload) => {
        const event = parseEvent(payload);
        if (event) deliver(event);
      },
      () => {},
    );
    await this.#listener.start();
  }

  async close(): Promise<void> {
    await this.#listener?.close();
    if (this.#ownsPool) await this.#pool.end();
  }
}
