/** `/v1/ttl/keys/...`: values with a time to live, counters and their expiry. */
import { NotFoundError } from '../../errors.ts';
import type { TtlStoreLike } from '../../ttl/index.ts';
import { prefixPageQuery } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { TypedApp } from '../schemaTypes.ts';
import { keyParams, ttlMsBody, ttlMsSchema } from './ttlSchemas.ts';

/** Keys one page of `GET /v1/ttl/keys` holds at most, and when the request names no `limit`. */
const MAX_TTL_KEYS_PAGE = 10_000;
const DEFAULT_TTL_KEYS_PAGE = 1_000;

/** Registers the key routes. */
export function registerTtlKeyRoutes(app: TypedApp, ttl: TtlStoreLike, metrics: ServerMetrics): void {
  const time = <T>(operation: string, call: () => T | Promise<T>) =>
    metrics.time('ttl', operation, async () => call());

  app.get(
    '/v1/ttl/keys/:key',
    { schema: { tags: ['ttl'], summary: 'Read a value and its remaining time to live', params: keyParams } },
    async (request) => {
      const { key } = request.params;
      const missing = Symbol('missing');
      const value = await time('get', () => ttl.get(key, missing));
      if (value === missing) throw new NotFoundError(`no live key '${key}'`, { key });
      const ttlMs = await time('ttl', () => ttl.ttl(key));
      return { key, value, ttlMs: ttlMs ?? null };
    },
  );

  app.put(
    '/v1/ttl/keys/:key',
    {
      schema: {
        tags: ['ttl'],
        summary: 'Store a value (optionally only when absent) with an optional time to live',
        params: keyParams,
        body: {
          type: 'object',
          required: ['value'],
          additionalProperties: false,
          properties: { value: {}, ttlMs: ttlMsSchema, ifAbsent: { type: 'boolean' } },
        },
      },
    },
    async (request) => {
      const { key } = request.params;
      const body = request.body;
      const options = body.ttlMs === undefined ? {} : { ttlMs: body.ttlMs };
      if (body.ifAbsent)
        return { stored: await time('setIfAbsent', () => ttl.setIfAbsent(key, body.value, options)) };
      await time('set', () => ttl.set(key, body.value, options));
      return { stored: true };
    },
  );

  app.delete(
    '/v1/ttl/keys/:key',
    { schema: { tags: ['ttl'], summary: 'Remove a key', params: keyParams } },
    async (request, reply) => {
      const { key } = request.params;
      if (!(await time('delete', () => ttl.delete(key))))
        throw new NotFoundError(`no live key '${key}'`, { key });
      return reply.status(204).send();
    },
  );

  app.get(
    '/v1/ttl/keys',
    {
      schema: {
        tags: ['ttl'],
        summary: `One page of live keys, optionally by prefix (at most ${MAX_TTL_KEYS_PAGE} a page, ${DEFAULT_TTL_KEYS_PAGE} by default; follow \`cursor\` until it is absent)`,
        querystring: prefixPageQuery(MAX_TTL_KEYS_PAGE),
      },
    },
    async (request) => {
      const { prefix, cursor, limit } = request.query;
      // A page, never every key at once: on Redis "every key" is a full SCAN held in one answer.
      const page = await time('keys', () =>
        ttl.scanKeys({
          limit: limit ?? DEFAULT_TTL_KEYS_PAGE,
          ...(prefix === undefined ? {} : { prefix }),
          ...(cursor === undefined ? {} : { cursor }),
        }),
      );
      return page.cursor === undefined ? { keys: page.keys } : { keys: page.keys, cursor: page.cursor };
    },
  );

  app.post(
    '/v1/ttl/keys/:key/increment',
    {
      schema: {
        tags: ['ttl'],
        summary: 'Add to a counter (a new counter starts at `by` with `ttlMs`)',
        params: keyParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { by: { type: 'number' }, ttlMs: ttlMsSchema },
        },
      },
    },
    async (request) => {
      const { key } = request.params;
      const body = request.body ?? {};
      const value = await time('increment', () =>
        ttl.increment(key, body.by ?? 1, body.ttlMs === undefined ? {} : { ttlMs: body.ttlMs }),
      );
      return { value };
    },
  );

  app.post(
    '/v1/ttl/keys/:key/expire',
    {
      schema: {
        tags: ['ttl'],
        summary: 'Set a new time to live on an existing key',
        params: keyParams,
        body: ttlMsBody,
      },
    },
    async (request) => {
      const { key } = request.params;
      const { ttlMs } = request.body;
      return { updated: await time('expire', () => ttl.expire(key, ttlMs)) };
    },
  );
}
