/** `/v1/sessions/:sessionId/...`: a session's messages, participants, context and pause/resume/end. */
import { MAX_ID_LENGTH, nameSchema } from '../limits.ts';
import type { TypedApp } from '../schemaTypes.ts';
import { idParams, type SessionRouteContext, view } from './sessionContext.ts';

/** Registers the routes that change or read what a session holds. */
export function registerSessionActivityRoutes(app: TypedApp, { save, find }: SessionRouteContext): void {
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
      const { message, senderId } = request.body;
      const added = find(request.params.sessionId).addMessage(message, senderId);
      await save();
      return reply.status(201).send(added);
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
    async (request) => ({ messages: find(request.params.sessionId).getMessages(request.query) }),
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
      const session = find(request.params.sessionId);
      const added = session.addParticipant(request.body.participantId);
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
        body: {
          type: 'object',
          required: ['value'],
          additionalProperties: false,
          properties: { value: {} },
        },
      },
    },
    async (request) => {
      const session = find(request.params.sessionId);
      session.updateContext(request.params.key, request.body.value);
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
      const { action, sessionId } = request.params;
      const reason = request.body?.reason;
      const session = find(sessionId);
      if (action === 'pause') session.pause(reason);
      else if (action === 'resume') session.resume();
      else session.end(reason);
      await save();
      return view(session);
    },
  );
}
