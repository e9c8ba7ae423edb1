/**
 * `/v1/ttl/...`: short-lived signals, locks and cooldowns over HTTP (a TtlStore: memory for one server,
 * Redis for many).
 *
 * Locks: `POST /v1/ttl/locks/:name` returns an owner token; release and extend must present it. The
 * server keeps the lock handles it issued in memory until they expire, so release/extend must reach the
 * server process that granted the lock (with Redis behind several servers, use sticky routing for locks).
 */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import type { TtlLock, TtlStoreLike } from '../../ttl/index.ts';
import { MAX_TTL_KEY_LENGTH, nameSchema } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';

const keyParams = {
  type: 'object',
  required: ['key'],
  properties: { key: nameSchema(MAX_TTL_KEY_LENGTH) },
} as const;
const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: nameSchema(MAX_TTL_KEY_LENGTH) },
} as const;
const ttlMsSchema = { type: 'integer', minimum: 1 } as const;
/** Keys one page of `GET /v1/ttl/keys` holds at most, and when the request names no `limit`. */
const MAX_TTL_KEYS_PAGE = 10_000;
const DEFAULT_TTL_KEYS_PAGE = 1_000;

interface HeldLock {
  lock: TtlLock;
  expiresAt: number;
  /** Who took it: the token's name, or `anonymous` on a server without tokens. */
  owner: string;
}

/** Registers the TTL routes. */
export function registerTtlRoutes(app: FastifyInstance, ttl: TtlStoreLike, metrics: ServerMetrics): void {
  const time = <T>(operation: string, call: () => T | Promise<T>) =>
    metrics.time('ttl', operation, async () => call());
  const held = new Map<string, HeldLock>();
  const lockKey = (name: string, token: string) => `${name}\u0000${token}`;
  const heldLock = (name: string, token: string): TtlLock | undefined => {
    const key = lockKey(name, token);
    const entry = held.get(key);
    if (entry && entry.expiresAt <= Date.now()) held.delete(key);
    return entry && entry.expiresAt > Date.now() ? entry.lock : undefined;
  };
  // Handles of locks nobody released are dropped once they have expired; the sweep runs only when the
  // map has grown, so a lookup stays O(1).
  let sweepAt = 1024;
  const remember = (name: string, lock: TtlLock, ttlMs: number, owner: string) => {
    held.set(lockKey(name, lock.token), { lock, expiresAt: Date.now() + ttlMs, owner });
    if (held.size < sweepAt) return;
    const now = Date.now();
    for (const [key, entry] of held) if (entry.expiresAt <= now) held.delete(key);
    sweepAt = Math.max(1024, held.size * 2);
  };

  app.get(
    '/v1/ttl/keys/:key',
    { schema: { tags: ['ttl'], summary: 'Read a value and its remaining time to live', params: keyParams } },
    async (request) => {
      const { key } = request.params as { key: string };
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
      const { key } = request.params as { key: string };
      const body = request.body as { value: unknown; ttlMs?: number; ifAbsent?: boolean };
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
      const { key } = request.params as { key: string };
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
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            prefix: { type: 'string' },
            cursor: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_TTL_KEYS_PAGE },
          },
        },
      },
    },
    async (request) => {
      const { prefix, cursor, limit } = request.query as { prefix?: string; cursor?: string; limit?: number };
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
      const { key } = request.params as { key: string };
      const body = (request.body ?? {}) as { by?: number; ttlMs?: number };
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
        body: {
          type: 'object',
          required: ['ttlMs'],
          additionalProperties: false,
          properties: { ttlMs: ttlMsSchema },
        },
      },
    },
    async (request) => {
      const { key } = request.params as { key: string };
      const { ttlMs } = request.body as { ttlMs: number };
      return { updated: await time('expire', () => ttl.expire(key, ttlMs)) };
    },
  );

  app.get(
    '/v1/ttl/locks',
    {
      schema: {
        tags: ['ttl'],
        summary: 'Locks this server process granted that are still held: name, owner, remaining ms',
        description: 'Owners are token names; the owner tokens themselves are never listed.',
      },
    },
    async () => {
      const now = Date.now();
      const locks = [];
      for (const entry of held.values()) {
        if (entry.expiresAt <= now) continue;
        locks.push({ name: entry.lock.name, owner: entry.owner, ttlMs: entry.expiresAt - now });
      }
      locks.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { locks: locks.slice(0, 1000), total: locks.length };
    },
  );

  app.post(
    '/v1/ttl/locks/:name',
    {
      schema: {
        tags: ['ttl'],
        summary:
          'Take a named lock for ttlMs, waiting up to waitMs; acquired=false when someone else holds it',
        params: nameParams,
        body: {
          type: 'object',
          required: ['ttlMs'],
          additionalProperties: false,
          properties: { ttlMs: ttlMsSchema, waitMs: { type: 'integer', minimum: 0, maximum: 60_000 } },
        },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const { ttlMs, waitMs } = request.body as { ttlMs: number; waitMs?: number };
      const lock = await time('acquireLock', () =>
        ttl.acquireLock(name, { ttlMs, ...(waitMs ? { waitMs } : {}) }),
      );
      // Not acquired is an answer, not an error: the library returns null the same way.
      if (!lock) return { acquired: false, name };
      remember(name, lock, ttlMs, request.agentstatePrincipal?.name ?? 'anonymous');
      return { acquired: true, name, token: lock.token, ttlMs };
    },
  );

  const tokenBody = (extra: Record<string, unknown> = {}, required: string[] = []) => ({
    type: 'object',
    required: ['token', ...required],
    additionalProperties: false,
    properties: { token: { type: 'string', minLength: 1 }, ...extra },
  });

  app.post(
    '/v1/ttl/locks/:name/release',
    {
      schema: { tags: ['ttl'], summary: 'Release a lock you hold', params: nameParams, body: tokenBody() },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const { token } = request.body as { token: string };
      const lock = heldLock(name, token);
      if (!lock) return { released: false };
      held.delete(lockKey(name, token));
      return { released: await time('releaseLock', () => lock.release()) };
    },
  );

  app.post(
    '/v1/ttl/locks/:name/extend',
    {
      schema: {
        tags: ['ttl'],
        summary: 'Extend a lock you hold to ttlMs from now',
        params: nameParams,
        body: tokenBody({ ttlMs: ttlMsSchema }, ['ttlMs']),
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const { token, ttlMs } = request.body as { token: string; ttlMs: number };
      const lock = heldLock(name, token);
      if (!lock) return { extended: false };
      const extended = await time('extendLock', () => lock.extend(ttlMs));
      if (extended) remember(name, lock, ttlMs, held.get(lockKey(name, token))?.owner ?? 'anonymous');
      return { extended };
    },
  );

  app.post(
    '/v1/ttl/cooldowns/:name',
    {
      schema: {
        tags: ['ttl'],
        summary: 'Start a cooldown: allowed=true when none was running (and one starts now)',
        params: nameParams,
        body: {
          type: 'object',
          required: ['ttlMs'],
          additionalProperties: false,
          properties: { ttlMs: ttlMsSchema },
        },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const { ttlMs } = request.body as { ttlMs: number };
      return { allowed: await time('cooldown', () => ttl.cooldown(name, ttlMs)) };
    },
  );
}
