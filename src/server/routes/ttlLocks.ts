/**
 * `/v1/ttl/locks/...`: named locks.
 *
 * `POST /v1/ttl/locks/:name` returns an owner token; release and extend must present it. The server keeps
 * the lock handles it issued in memory until they expire, so release/extend must reach the server process
 * that granted the lock (with Redis behind several servers, use sticky routing for locks).
 */
import type { TtlLock, TtlStoreLike } from '../../ttl/index.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { TypedApp } from '../schemaTypes.ts';
import { nameParams, ttlMsSchema } from './ttlSchemas.ts';

interface HeldLock {
  lock: TtlLock;
  expiresAt: number;
  /** Who took it: the token's name, or `anonymous` on a server without tokens. */
  owner: string;
}

const tokenSchema = { type: 'string', minLength: 1 } as const;

/** Registers the lock routes. */
export function registerTtlLockRoutes(app: TypedApp, ttl: TtlStoreLike, metrics: ServerMetrics): void {
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
      const { name } = request.params;
      const { ttlMs, waitMs } = request.body;
      const lock = await time('acquireLock', () =>
        ttl.acquireLock(name, { ttlMs, ...(waitMs ? { waitMs } : {}) }),
      );
      // Not acquired is an answer, not an error: the library returns null the same way.
      if (!lock) return { acquired: false, name };
      remember(name, lock, ttlMs, request.agentstatePrincipal?.name ?? 'anonymous');
      return { acquired: true, name, token: lock.token, ttlMs };
    },
  );

  app.post(
    '/v1/ttl/locks/:name/release',
    {
      schema: {
        tags: ['ttl'],
        summary: 'Release a lock you hold',
        params: nameParams,
        body: {
          type: 'object',
          required: ['token'],
          additionalProperties: false,
          properties: { token: tokenSchema },
        },
      },
    },
    async (request) => {
      const { name } = request.params;
      const { token } = request.body;
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
        body: {
          type: 'object',
          required: ['token', 'ttlMs'],
          additionalProperties: false,
          properties: { token: tokenSchema, ttlMs: ttlMsSchema },
        },
      },
    },
    async (request) => {
      const { name } = request.params;
      const { token, ttlMs } = request.body;
      const lock = heldLock(name, token);
      if (!lock) return { extended: false };
      const extended = await time('extendLock', () => lock.extend(ttlMs));
      if (extended) remember(name, lock, ttlMs, held.get(lockKey(name, token))?.owner ?? 'anonymous');
      return { extended };
    },
  );
}
