/**
 * `GET /v1/events`: server-sent events of changes, for the dashboard and any other watcher. Read scope;
 * `?kinds=rollout,span` narrows the stream. Sources:
 * - writes through this server's HTTP routes (rollouts, attempts, spans, resources, workers, sessions),
 *   announced once the response was sent, through the relay (PostgreSQL NOTIFY when the server runs on
 *   PostgreSQL, so every process's clients see them);
 * - the document store's own change feed (`watch('*')`), which already spans processes on PostgreSQL
 *   (LISTEN/NOTIFY) and SQLite (its change log);
 * - the TTL store's own events when it offers them (set, delete, expire of a key), else the /v1/ttl writes
 *   and, from a store that watches its expiries (Redis), the expiries.
 * Events carry ids, never values: a client reads what it shows with its own token.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DocumentStore } from '../../drivers/index.ts';
import { AgentStateError, InvalidInputError } from '../../errors.ts';
import type { TtlStoreLike } from '../../ttl/index.ts';
import { logBackgroundErrors } from '../backgroundLog.ts';
import { CHANGE_KINDS, type ChangeEventMessage, type ChangeKind, EventHub } from '../events/hub.ts';
import { type EventRelay, localRelay } from '../events/relay.ts';
import { SharedFeed } from '../events/sharedFeed.ts';
import { offersTtlEvents, offersTtlExpiries, openTtlExpiryFeed, openTtlFeed } from '../events/ttlFeed.ts';

const KEEP_ALIVE_MS = 15_000;
/** What a client waits before reconnecting after a drop (the SSE `retry` field), ms. */
const RETRY_MS = 1000;

/** Kind of the thing a write route changes, from its route pattern; undefined for routes that change none. */
export function changeKindOf(method: string, url: string): ChangeKind | undefined {
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (url.startsWith('/v1/sessions')) return 'session';
  if (url.startsWith('/v1/ttl')) return 'ttl';
  if (url === '/v1/traces' || url.startsWith('/v1/agl/x/spans')) return 'span';
  if (!url.startsWith('/v1/agl/') || url.endsWith('/search') || url.startsWith('/v1/agl/waits')) {
    return undefined;
  }
  if (url.startsWith('/v1/agl/spans')) return 'span';
  if (url.includes('/attempts')) return 'attempt';
  if (url.startsWith('/v1/agl/resources')) return 'resource';
  if (url.startsWith('/v1/agl/workers')) return 'worker';
  return 'rollout';
}

function parseKinds(raw: string | undefined): Set<ChangeKind> {
  if (raw === undefined || raw === '') return new Set(CHANGE_KINDS);
  const kinds = new Set<ChangeKind>();
  for (const word of raw.split(',')) {
    const kind = word.trim() as ChangeKind;
    if (!CHANGE_KINDS.includes(kind)) {
      throw new InvalidInputError(`unknown event kind '${word}'; known: ${CHANGE_KINDS.join(', ')}`, {
        field: 'querystring.kinds',
        value: word,
      });
    }
    kinds.add(kind);
  }
  return kinds;
}

function idOf(request: FastifyRequest): string | undefined {
  const params = (request.params ?? {}) as Record<string, unknown>;
  for (const name of ['rollout_id', 'sessionId', 'resources_id', 'worker_id', 'key', 'name']) {
    if (typeof params[name] === 'string') return params[name];
  }
  // A created session is named in the body.
  const body = request.body as { sessionId?: unknown } | null | undefined;
  return typeof body?.sessionId === 'string' ? body.sessionId : undefined;
}

/** Options of `registerEventRoutes`. */
export interface EventRouteOptions {
  /** Document store whose change feed becomes `document` events. */
  documents?: DocumentStore | undefined;
  /** Carries events between processes (default: this process only). */
  relay?: EventRelay | undefined;
  /** TTL store whose own change events (if it offers them) become `ttl` events. */
  ttl?: TtlStoreLike | undefined;
  /** Limits per client (see EventHub). */
  hub?: EventHub | undefined;
}

/** Registers `/v1/events` and the hook that announces writes. */
export function registerEventRoutes(app: FastifyInstance, options: EventRouteOptions = {}): void {
  const hub = options.hub ?? new EventHub();
  const relay = options.relay ?? localRelay();
  let keepAlive: NodeJS.Timeout | undefined;

  // Each store's own change feed runs only while some client wants its kind (see SharedFeed).
  const documents = options.documents;
  const documentFeed = documents
    ? new SharedFeed(
        async () => {
          const subscription = await documents.watch('*', (change) =>
            hub.publish({
              kind: 'document',
              action: change.type,
              namespace: change.namespace,
              id: change.id,
              at: Date.now(),
            }),
          );
          return () => subscription.close();
        },
        (error, what) =>
          app.log.warn(
            { err: error },
            what === 'open'
              ? 'document change feed unavailable; /v1/events sends no document events'
              : 'document change feed failed to close',
          ),
      )
    : undefined;
  // A TTL store that announces its changes (the in-memory one) feeds `ttl` events itself, expiries
  // included; its keys live in this process, so its events go to this hub only. Other stores (Redis) get
  // `ttl` events from the writes through the /v1/ttl routes, relayed like every route's, and their
  // expiries from the store's expiry watch: every process watches for its own clients (each expiry
  // reaches each client once), so expiries go to this hub only too.
  const ttl = options.ttl;
  const ttlFeedFailed = (error: unknown, what: 'open' | 'close' = 'open') =>
    app.log.warn(
      { err: error },
      what === 'open' ? 'TTL change feed unavailable' : 'TTL change feed failed to close',
    );
  const announcesTtlWrites = offersTtlEvents(ttl);
  const ttlFeed = offersTtlEvents(ttl)
    ? new SharedFeed(() => openTtlFeed(ttl, (event) => hub.publish(event)), ttlFeedFailed)
    : offersTtlExpiries(ttl)
      ? new SharedFeed(
          () =>
            openTtlExpiryFeed(
              ttl,
              (event) => hub.publish(event),
              (error) => ttlFeedFailed(error),
            ),
          ttlFeedFailed,
        )
      : undefined;
  const feeds = (kinds: ReadonlySet<ChangeKind>): SharedFeed[] => [
    ...(documentFeed && kinds.has('document') ? [documentFeed] : []),
    ...(ttlFeed && kinds.has('ttl') ? [ttlFeed] : []),
  ];

  app.addHook('onReady', async () => {
    await relay.start((event) => hub.publish(event), logBackgroundErrors(app.log));
    keepAlive = setInterval(() => hub.keepAlive(), KEEP_ALIVE_MS);
    keepAlive.unref();
  });
  app.addHook('preClose', async () => {
    // First: the open streams are hijacked, so the server's close would otherwise wait for them.
    hub.closeAll();
    if (keepAlive) clearInterval(keepAlive);
    await Promise.all([documentFeed?.close(), ttlFeed?.close()]);
    await relay.close();
  });

  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode >= 400) return;
    const url = request.routeOptions.url;
    if (url === undefined) return;
    const kind = changeKindOf(request.method, url);
    if (kind === undefined) return;
    // Key writes are announced by the TTL store's own feed when it has one (lock handles live in the routes).
    if (kind === 'ttl' && announcesTtlWrites && !url.startsWith('/v1/ttl/locks')) return;
    const event: ChangeEventMessage = { kind, action: `${request.method} ${url}`, at: Date.now() };
    const id = idOf(request);
    if (id !== undefined) event.id = id;
    relay.publish(event);
  });

  app.get(
    '/v1/events',
    {
      config: { access: { scope: 'read' } },
      schema: {
        tags: ['events'],
        summary:
          'Server-sent events of changes (rollout, attempt, span, resource, worker, session, document, ttl)',
        description:
          'A text/event-stream: each event is named by its kind and its data is JSON ' +
          '{ kind, action, id?, namespace?, at }. Events carry ids only; read the data with the usual routes. ' +
          'A client that reads too slowly is disconnected and should reconnect.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            kinds: {
              type: 'string',
              description: `Comma-separated kinds to receive (default all): ${CHANGE_KINDS.join(', ')}`,
            },
          },
        },
      },
    },
    async (request, reply) => {
      const kinds = parseKinds((request.query as { kinds?: string }).kinds);
      const raw = reply.raw;
      const client = {
        kinds,
        principal: request.agentstatePrincipal?.name,
        bufferedBytes: () => raw.writableLength,
        write: (frame: string) => {
          raw.write(frame);
        },
        drop: () => {
          raw.destroy();
        },
      };
      if (!hub.add(client)) {
        throw new AgentStateError(
          'UNAVAILABLE',
          'too many event streams are open (on this server or for this token); try again later',
          { clients: hub.size },
        );
      }
      const wanted = feeds(kinds);
      let closed = false;
      raw.on('close', () => {
        closed = true;
        hub.remove(client);
        for (const feed of wanted) feed.release();
      });
      // Subscribed before the stream opens, so a change made right after the client connected is seen.
      await Promise.all(wanted.map((feed) => feed.acquire()));
      reply.hijack();
      if (closed) return;
      raw.writeHead(200, {
        // Headers the hooks set on the reply (CORS among them) are not sent by a hijacked reply by themselves.
        ...Object.fromEntries(Object.entries(reply.getHeaders()).filter(([, value]) => value !== undefined)),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        connection: 'keep-alive',
      });
      raw.write(`retry: ${RETRY_MS}\n: connected\n\n`);
    },
  );
}
