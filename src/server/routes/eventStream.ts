/**
 * `GET /v1/events`: one client's server-sent event stream, of the kinds it asked for (`?kinds=`), from the
 * hub that ./events.ts feeds.
 */
import type { FastifyInstance } from 'fastify';
import { InvalidInputError, RateLimitedError } from '../../errors.ts';
import { CHANGE_KINDS, type ChangeKind, type EventHub } from '../events/hub.ts';
import type { SharedFeed } from '../events/sharedFeed.ts';
import { typedRoutes } from '../schemaTypes.ts';

// Seconds a client refused by the stream caps is asked to wait before trying again.
const EVENT_STREAM_RETRY_SECONDS = 5;

/** What a client waits before reconnecting after a drop (the SSE `retry` field), ms. */
const RETRY_MS = 1000;

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

/**
 * Registers the stream route on `hub`; `feeds(kinds)` are the store feeds a client of those kinds holds
 * open while connected.
 */
export function registerEventStreamRoute(
  app: FastifyInstance,
  hub: EventHub,
  feeds: (kinds: ReadonlySet<ChangeKind>) => SharedFeed[],
): void {
  typedRoutes(app).get(
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
      const kinds = parseKinds(request.query.kinds);
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
        // A cap, like the one on long-poll waits: the server works and refuses for now (429, not 503, so a
        // client retries here after the pause instead of failing over to another server).
        throw new RateLimitedError(
          'too many event streams are open (on this server or for this token); try again later',
          { limit: 'eventStreams', clients: hub.size, retryAfterSeconds: EVENT_STREAM_RETRY_SECONDS },
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
