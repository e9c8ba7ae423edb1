/**
 * `/v1/sessions/...`: conversation sessions (SessionManager) over HTTP. Every change is saved to the
 * manager's DocumentStore before the response is sent (saves are serialized, one at a time), so an
 * acknowledged change survives a restart; the server loads the saved sessions when it starts. This file
 * holds the collection (create, list, read, remove); ./sessionActivity.ts what a session holds.
 *
 * The manager lives in the server process: with several servers, route a session's requests to one of
 * them (sessions are not shared between processes the way rollouts and documents are).
 */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import { SESSION_STATUSES, type SessionManager } from '../../modules/index.ts';
import { MAX_ID_LENGTH, nameSchema } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';
import { typedRoutes } from '../schemaTypes.ts';
import { registerSessionActivityRoutes } from './sessionActivity.ts';
import { idParams, sessionRouteContext, view } from './sessionContext.ts';

/** Sessions per page of `GET /v1/sessions` when no `limit` is given, and the most one page may hold. */
const SESSION_PAGE_DEFAULT = 100;
const SESSION_PAGE_MAX = 1000;

/** Registers the session routes. */
export function registerSessionRoutes(
  app: FastifyInstance,
  manager: SessionManager,
  metrics: ServerMetrics,
): void {
  const typed = typedRoutes(app);
  const context = sessionRouteContext(manager, metrics);
  const { save, find } = context;

  typed.post(
    '/v1/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Create a session',
        body: {
          type: 'object',
          required: ['sessionId'],
          additionalProperties: false,
          properties: {
            sessionId: nameSchema(MAX_ID_LENGTH),
            participants: { type: 'array', items: { type: 'string', minLength: 1 } },
            expiresInMs: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const session = manager.createSession(body.sessionId, {
        ...(body.participants ? { participants: body.participants } : {}),
        ...(body.expiresInMs ? { expiresInMs: body.expiresInMs } : {}),
      });
      await save();
      return reply.status(201).send(view(session));
    },
  );

  typed.get(
    '/v1/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: `List sessions in id order, one page at a time (default ${SESSION_PAGE_DEFAULT}, at most ${SESSION_PAGE_MAX}), optionally by status, participant or id prefix`,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: SESSION_STATUSES },
            participant: { type: 'string' },
            prefix: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: SESSION_PAGE_MAX },
            cursor: {
              type: 'string',
              description: 'The `cursor` of the previous page: the last session id it held',
            },
          },
        },
      },
    },
    async (request) => {
      const { prefix, cursor, participant, status, limit = SESSION_PAGE_DEFAULT } = request.query;
      // The sessions live in memory; the answer is what is bounded. Id order makes the cursor (the last id
      // sent) stable while sessions come and go.
      const matching = manager
        .listSessions()
        .filter(
          (s) =>
            (status === undefined || s.status === status) &&
            (participant === undefined || participant === '' || s.participants.includes(participant)) &&
            (prefix === undefined || s.sessionId.startsWith(prefix)) &&
            (cursor === undefined || s.sessionId > cursor),
        )
        .sort((a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
      const page = matching.slice(0, limit);
      const last = page.at(-1);
      return {
        sessions: page.map((s) => s.summary()),
        ...(matching.length > limit && last ? { cursor: last.sessionId } : {}),
        metrics: manager.metrics(),
      };
    },
  );

  typed.get(
    '/v1/sessions/:sessionId',
    { schema: { tags: ['sessions'], summary: 'Read a session', params: idParams } },
    async (request) => view(find(request.params.sessionId)),
  );

  typed.delete(
    '/v1/sessions/:sessionId',
    { schema: { tags: ['sessions'], summary: 'Remove a session', params: idParams } },
    async (request, reply) => {
      const { sessionId } = request.params;
      if (!manager.removeSession(sessionId))
        throw new NotFoundError(`no session '${sessionId}'`, { sessionId });
      await save();
      return reply.status(204).send();
    },
  );

  registerSessionActivityRoutes(typed, context);
}
