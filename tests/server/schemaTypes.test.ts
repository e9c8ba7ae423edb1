// Route handlers take their request types from their own JSON schemas (src/server/schemaTypes.ts).
// The type assertions are checked by `npx tsc --noEmit` (part of `npm test`); the requests check that ajv
// still validates and coerces what those types promise.
import Fastify from 'fastify';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { errorHandler } from '../../src/server/httpErrors.ts';
import { typedRoutes } from '../../src/server/schemaTypes.ts';
import { registerValidation } from '../../src/server/validation.ts';

const apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  while (apps.length > 0) await apps.pop()!.close();
});

const keyParams = {
  type: 'object',
  required: ['key'],
  properties: { key: { type: 'string', minLength: 1 } },
} as const;

async function app() {
  const server = Fastify();
  apps.push(server);
  registerValidation(server);
  server.setErrorHandler(errorHandler);
  typedRoutes(server).post(
    '/things/:key',
    {
      schema: {
        params: keyParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1 }, mode: { type: 'string', enum: ['a', 'b'] } },
        },
        body: {
          type: ['object', 'null'],
          required: ['value'],
          additionalProperties: false,
          properties: {
            value: {},
            ttlMs: { type: 'integer' },
            tags: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
    async (request) => {
      expectTypeOf(request.params.key).toEqualTypeOf<string>();
      expectTypeOf(request.query.limit).toEqualTypeOf<number | undefined>();
      expectTypeOf(request.query.mode).toEqualTypeOf<'a' | 'b' | undefined>();
      expectTypeOf(request.body).toEqualTypeOf<{
        value: unknown;
        ttlMs?: number;
        tags?: string[];
      } | null>();
      // @ts-expect-error a field the body schema does not name is not on its type
      request.body?.expectedRevision;
      return { key: request.params.key, limit: request.query.limit ?? null, body: request.body };
    },
  );
  return server;
}

describe('routes typed from their schemas', () => {
  it('answers with what ajv validated and coerced, as the types say', async () => {
    const server = await app();
    const ok = await server.inject({
      method: 'POST',
      url: '/things/k1?limit=5',
      payload: { value: { a: 1 }, ttlMs: 10 },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ key: 'k1', limit: 5, body: { value: { a: 1 }, ttlMs: 10 } });
  });

  it('refuses what the schema refuses, with the coded 400', async () => {
    const server = await app();
    const bad = await server.inject({ method: 'POST', url: '/things/k1?limit=0', payload: { value: 1 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('INVALID_INPUT');
    const unknownField = await server.inject({
      method: 'POST',
      url: '/things/k1',
      payload: { value: 1, expectedRevison: 2 },
    });
    expect(unknownField.statusCode).toBe(400);
  });
});
