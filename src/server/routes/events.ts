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
import type { TtlStoreLike } from '../../ttl/index.ts';
import { logBackgroundErrors } from '../backgroundLog.ts';
import { type ChangeEventMessage, type ChangeKind, EventHub } from '../events/hub.ts';
import { type EventRelay, localRelay } from '../events/relay.ts';
import { SharedFeed } from '../events/sharedFeed.ts';
import { offersTtlEvents, offersTtlExpiries, openTtlExpiryFeed, openTtlFeed } from '../events/ttlFeed.ts';
import { changeKindOf, idOf } from './eventAnnouncements.ts';
import { registerEventStreamRoute } from './eventStream.ts';

export { changeKindOf } from './eventAnnouncements.ts';

const KEEP_ALIVE_MS = 15_000;

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

  const announce = (request: FastifyRequest, status: number): void => {
    if (status >= 400) return;
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
  };
  // A callback hook, not an async one: no promise and no extra turn per request.
  app.addHook('onResponse', (request, reply, done) => {
    announce(request, reply.statusCode);
    done();
  });

  registerEventStreamRoute(app, hub, feeds);
}
