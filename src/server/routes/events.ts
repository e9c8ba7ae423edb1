/**
 * `GET /v1/events`: server-sent events of changes, for the dashboard and any other watcher. Read scope;
 * `?kinds=rollout,span` narrows the stream. Sources:
 * - writes through this server's HTTP routes (rollouts, attempts, spans, resources, workers, sessions),
 *   announced once the response was sent, through the relay (PostgreSQL NOTIFY when the server runs on
 *   PostgreSQL, so every process's clients see them);
 * - the document store's own change feed (`watch('*')`), which already spans processes on PostgreSQL
 *   (LISTEN/NOTIFY) and SQLite (its change log).
 * Events carry ids, never values: a client reads what it shows with its own token.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DocumentStore, Subscription } from '../../drivers/index.ts';
import { AgentStateError, InvalidInputError } from '../../errors.ts';
import { CHANGE_KINDS, type ChangeEventMessage, type ChangeKind, EventHub } from '../events/hub.ts';
import { type EventRelay, localRelay } from '../events/relay.ts';

const KEEP_ALIVE_MS = 15_000;
/** What a client waits before reconnecting after a drop (the SSE `retry` field), ms. */
const RETRY_MS = 1000;

/** Kind of the thing a write route changes, from its route pattern; undefined for routes that change none. */
export function changeKindOf(method: string, url: string): ChangeKind | undefined {
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (url.startsWith('/v1/sessions')) return 'session';
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
  for (const name of ['rollout_id', 'sessionId', 'resources_id', 'worker_id']) {
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
  /** Limits per client (see EventHub). */
  hub?: EventHub | undefined;
}

/** Registers `/v1/events` and the hook that announces writes. */
export function registerEventRoutes(app: FastifyInstance, options: EventRouteOptions = {}): void {
  const hub = options.hub ?? new EventHub();
  const relay = options.relay ?? localRelay();
  let keepAlive: NodeJS.Timeout | undefined;

  // The document feed runs only while some client wants document events: on PostgreSQL a watched schema
  // makes every write NOTIFY (see drivers/postgres.ts), which nobody should pay for while no page is open.
  let documentClients = 0;
  let documentFeed: Promise<Subscription | undefined> | undefined;
  const watchDocuments = async (): Promise<void> => {
    const documents = options.documents;
    if (!documents) return;
    documentClients += 1;
    documentFeed ??= documents
      .watch('*', (change) =>
        hub.publish({
          kind: 'document',
          action: change.type,
          namespace: change.namespace,
          id: change.id,
          at: Date.now(),
        }),
      )
      .catch((error: unknown) => {
        app.log.warn({ err: error }, 'document change feed unavailable; /v1/events sends no document events');
        return undefined;
      });
    await documentFeed;
  };
  const unwatchDocuments = (): void => {
    if (!options.documents) return;
    documentClients -= 1;
    if (documentClients > 0) return;
    const feed = documentFeed;
    documentFeed = undefined;
    void feed?.then((subscription) => subscription?.close()).catch(() => {});
  };

  app.addHook('onReady', async () => {
    await relay.start((event) => hub.publish(event));
    keepAlive = setInterval(() => hub.keepAlive(), KEEP_ALIVE_MS);
    keepAlive.unref();
  });
  app.addHook('preClose', async () => {
    // First: the open streams are hijacked, so the server's close would otherwise wait for them.
    hub.closeAll();
    if (keepAlive) clearInterval(keepAlive);
    const feed = documentFeed;
    documentFeed = undefined;
    await feed?.then((subscription) => subscription?.close()).catch(() => {});
    await relay.close();
  });

  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode >= 400) return;
    const url = request.routeOptions.url;
    if (url === undefined) return;
    const kind = changeKindOf(request.method, url);
    if (kind === undefined) return;
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
          'Server-sent events of changes (rollout, attempt, span, resource, worker, session, document)',
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
      const wantsDocuments = kinds.has('document');
      let closed = false;
      raw.on('close', () => {
        closed = true;
        hub.remove(client);
        if (wantsDocuments) unwatchDocuments();
      });
      // Subscribed before the stream opens, so a change made right after the client connected is seen.
      if (wantsDocuments) await watchDocuments();
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
