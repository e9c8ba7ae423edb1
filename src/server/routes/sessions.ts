/**
 * `/v1/sessions/...`: conversation sessions (SessionManager) over HTTP. Every change is saved to the
 * manager's DocumentStore before the response is sent (saves are serialized, one at a time), so an
 * acknowledged change survives a restart; the server loads the saved sessions when it starts.
 *
 * The manager lives in the server process: with several servers, route a session's requests to one of
 * them (sessions are not shared between processes the way rollouts and documents are).
 */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import type { SessionManager, SessionStateModule, SessionStatus } from '../../modules/index.ts';
import { MAX_ID_LENGTH, nameSchema } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';

const idParams = {
  type: 'object',
  required: ['sessionId'],
  properties: { sessionId: nameSchema(MAX_ID_LENGTH) },
} as const;
const STATUSES = ['active', 'paused', 'ended', 'expired'];
/** Sessions per page of `GET /v1/sessions` when no `limit` is given, and the most one page may hold. */
const SESSION_PAGE_DEFAULT = 100;
const SESSION_PAGE_MAX = 1000;

function view(session: SessionStateModule) {
  return {
    ...session.summary(),
    participants: [...session.participants],
    statusReason: session.statusReason,
    context: Object.fromEntries(session.context),
  };
}

/** Registers the session routes. */
export function registerSessionRoutes(
  app: FastifyInstance,
  manager: SessionManager,
  metrics: ServerMetrics,
): void {
  let saving: Promise<unknown> = Promise.resolve();
  // Saves run one after another; each change waits for a save that started after it.
  const save = () => {
    saving = saving.then(
      () => metrics.time('sessions', 'saveAll', () => manager.saveAll()),
      () => metrics.time('sessions', 'saveAll', () => manager.saveAll()),
    );
    return saving;
  };
  const find = (sessionId: string): SessionStateModule => {
    const session = manager.getSession(sessionId);
    if (!session) throw new NotFoundError(`no session '${sessionId}'`, { sessionId });
    return session;
  };
  const params = (request: { params: unknown }) => (request.params as { sessionId: string }).sessionId;

  app.post(
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
      const body = request.body as { sessionId: string; participants?: string[]; expiresInMs?: number };
      const session = manager.createSession(body.sessionId, {
        ...(body.participants ? { participants: body.participants } : {}),
        ...(body.expiresInMs ? { expiresInMs: body.expiresInMs } : {}),
      });
      await save();
      return reply.status(201).send(view(session));
    },
  );

  app.get(
    '/v1/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: `List sessions in id order, one page at a time (default ${SESSION_PAGE_DEFAULT}, at most ${SESSION_PAGE_MAX}), optionally by status, participant or id prefix`,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: STATUSES },
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
      const query = request.query as {
        status?: SessionStatus;
        participant?: string;
        prefix?: string;
        limit?: number;
        cursor?: string;
      };
      const limit = query.limit ?? SESSION_PAGE_DEFAULT;
      const { prefix, cursor, participant, status } = query;
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

  app.get(
    '/v1/sessions/:sessionId',
    { schema: { tags: ['sessions'], summary: 'Read a session', params: idParams } },
    async (request) => view(find(params(request))),
  );

  app.delete(
    '/v1/sessions/:sessionId',
    { schema: { tags: ['sessions'], summary: 'Remove a session', params: idParams } },
    async (request, reply) => {
      const sessionId = params(request);
      if (!manager.removeSession(sessionId))
        throw new NotFoundError(`no session '${sessionId}'`, { sessionId });
      await save();
      return reply.status(204).send();
    },
  );

  app.post(
    '/v1/sessions/:sessionId/messages',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Add a message (refused once the session ended or expired)',
        params: idParams,
        body: {
          type: 'object',
          required: ['message'],
          additionalProperties: false,
          properties: {
            message: { type: 'object', additionalProperties: true },
            senderId: { type: 'string' },
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body as { message: Record<string, unknown>; senderId?: string };
      const message = find(params(request)).addMessage(body.message, body.senderId);
      await save();
      return reply.status(201).send(message);
    },
  );

  app.get(
    '/v1/sessions/:sessionId/messages',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Recent messages, optionally from one sender',
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1 }, senderId: { type: 'string' } },
        },
      },
    },
    async (request) => {
      const query = request.query as { limit?: number; senderId?: string };
      return { messages: find(params(request)).getMessages(query) };
    },
  );

  app.post(
    '/v1/sessions/:sessionId/participants',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Add a participant',
        params: idParams,
        body: {
          type: 'object',
          required: ['participantId'],
          additionalProperties: false,
          properties: { participantId: { type: 'string', minLength: 1 } },
        },
      },
    },
    async (request) => {
      const session = find(params(request));
      const added = session.addParticipant((request.body as { participantId: string }).participantId);
      if (added) await save();
      return { added, participants: [...session.participants] };
    },
  );

  app.put(
    '/v1/sessions/:sessionId/context/:key',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Set one context value',
        params: {
          type: 'object',
          required: ['sessionId', 'key'],
          properties: { ...idParams.properties, key: nameSchema(MAX_ID_LENGTH) },
        },
        body: { type: 'object', required: ['value'], additionalProperties: false, properties: { value: {} } },
      },
    },
    async (request) => {
      const { key } = request.params as { key: string };
      const session = find(params(request));
      session.updateContext(key, (request.body as { value: unknown }).value);
      await save();
      return view(session);
    },
  );

  app.post(
    '/v1/sessions/:sessionId/:action',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Pause, resume or end a session',
        params: {
          type: 'object',
          required: ['sessionId', 'action'],
          properties: {
            ...idParams.properties,
            action: { type: 'string', enum: ['pause', 'resume', 'end'] },
          },
        },
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { reason: { type: 'string' } },
        },
      },
    },
    async (request) => {
      const { action } = request.params as { action: 'pause' | 'resume' | 'end' };
      const reason = (request.body as { reason?: string } | null)?.reason;
      const session = find(params(request));
      if (action === 'pause') session.pause(reason);
      else if (action === 'resume') session.resume();
      else session.end(reason);
      await save();
      return view(session);
    },
  );
}
