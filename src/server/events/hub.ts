/**
 * The server's change events (`/v1/events`): one hub per server that fans each event out to the
 * connected dashboards. Each client gets what it asked for (a set of kinds) and is bounded: when its socket
 * cannot keep up and more than `maxBufferedBytes` wait unsent, the client is dropped (it reconnects and
 * re-reads), never buffered without limit.
 */

/** What changed: Agent Lightning rollouts, attempts and spans, resources, workers, sessions, documents, TTL keys and locks. */
export type ChangeKind =
  | 'rollout'
  | 'attempt'
  | 'span'
  | 'resource'
  | 'worker'
  | 'session'
  | 'document'
  | 'ttl';

/** Every kind, in the order the dashboard documents them. */
export const CHANGE_KINDS: readonly ChangeKind[] = [
  'rollout',
  'attempt',
  'span',
  'resource',
  'worker',
  'session',
  'document',
  'ttl',
];

/** One change event as sent to the clients (ids only: a client reads the data it shows). */
export interface ChangeEventMessage {
  /** What kind of thing changed. */
  kind: ChangeKind;
  /** How it changed: the HTTP route that changed it (`POST /v1/agl/rollouts`) or a document change type. */
  action: string;
  /** Id of the changed thing where one is known (rollout, session or document id, TTL key or lock name). */
  id?: string;
  /** Namespace of a changed document. */
  namespace?: string;
  /** When the server saw the change, epoch ms. */
  at: number;
}

/** One connected client as the hub sees it. */
export interface EventClient {
  /** The kinds it wants. */
  readonly kinds: ReadonlySet<ChangeKind>;
  /** Name of the token it connected with (undefined on a server without tokens). */
  readonly principal?: string | undefined;
  /** Bytes written but not yet sent to the socket. */
  bufferedBytes(): number;
  /** Writes one framed event. */
  write(frame: string): void;
  /** Ends the connection (the client was too slow, or the server is closing). */
  drop(): void;
}

/** Limits of the hub. */
export interface EventHubOptions {
  /** Clients at once; the next one is refused (default 64). */
  maxClients?: number;
  /**
   * Clients at once per token (default 16), so one token (one leaked read token, one page opened in many
   * tabs) cannot take every stream of the server. Applies when tokens are configured.
   */
  maxClientsPerPrincipal?: number;
  /** Unsent bytes a client may have before it is dropped (default 256 KiB). */
  maxBufferedBytes?: number;
}

/** Fans change events out to connected clients, each bounded. */
export class EventHub {
  readonly #clients = new Set<EventClient>();
  readonly #maxClients: number;
  readonly #maxClientsPerPrincipal: number;
  readonly #perPrincipal = new Map<string, number>();
  readonly #maxBufferedBytes: number;
  #dropped = 0;

  /** A hub with the given limits. */
  constructor(options: EventHubOptions = {}) {
    this.#maxClients = options.maxClients ?? 64;
    this.#maxClientsPerPrincipal = options.maxClientsPerPrincipal ?? 16;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024;
  }

  /** Clients connected now. */
  get size(): number {
    return this.#clients.size;
  }

  /** Clients dropped so far because they could not keep up. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Adds a client; false when the hub, or the client's share of it, is full. */
  add(client: EventClient): boolean {
    if (this.#clients.size >= this.#maxClients) return false;
    const principal = client.principal;
    if (principal !== undefined) {
      const open = this.#perPrincipal.get(principal) ?? 0;
      if (open >= this.#maxClientsPerPrincipal) return false;
      this.#perPrincipal.set(principal, open + 1);
    }
    this.#clients.add(client);
    return true;
  }

  /** Removes a client (its connection closed). */
  remove(client: EventClient): void {
    if (!this.#clients.delete(client)) return;
    this.#released(client);
  }

  #released(client: EventClient): void {
    const principal = client.principal;
    if (principal === undefined) return;
    const open = (this.#perPrincipal.get(principal) ?? 1) - 1;
    if (open > 0) this.#perPrincipal.set(principal, open);
    else this.#perPrincipal.delete(principal);
  }

  /** Sends an event to every client that wants its kind. */
  publish(event: ChangeEventMessage): void {
    if (this.#clients.size === 0) return;
    const frame = `event: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`;
    for (const client of this.#clients) {
      if (!client.kinds.has(event.kind)) continue;
      // The kernel buffer is full and the user-space one has passed the limit: this client reads slower
      // than changes happen. Dropping it keeps the server's memory bounded; the dashboard reconnects and
      // re-reads what it shows, so nothing is lost for the user.
      if (client.bufferedBytes() > this.#maxBufferedBytes) {
        this.#clients.delete(client);
        this.#released(client);
        this.#dropped += 1;
        client.drop();
        continue;
      }
      client.write(frame);
    }
  }

  /**
   * Ends every client's connection and forgets it. The streams were taken over from Fastify
   * (`reply.hijack()`), so closing the server neither ends them nor waits less for them: without this,
   * `close()` would wait on each open stream until its browser went away.
   */
  closeAll(): void {
    const clients = [...this.#clients];
    this.#clients.clear();
    this.#perPrincipal.clear();
    for (const client of clients) client.drop();
  }

  /** Sends a comment line to every client (keeps proxies from closing idle streams). */
  keepAlive(): void {
    for (const client of this.#clients) {
      if (client.bufferedBytes() <= this.#maxBufferedBytes) client.write(': keep-alive\n\n');
    }
  }
}
