/**
 * `/v1/ttl/...`: short-lived signals, locks and cooldowns over HTTP (a TtlStore: memory for one server,
 * Redis for many). Keys are in ./ttlKeys.ts, locks in ./ttlLocks.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { TtlStoreLike } from '../../ttl/index.ts';
import type { ServerMetrics } from '../metrics.ts';
import { typedRoutes } from '../schemaTypes.ts';
import { registerTtlKeyRoutes } from './ttlKeys.ts';
import { registerTtlLockRoutes } from './ttlLocks.ts';
import { nameParams, ttlMsBody } from './ttlSchemas.ts';

/** Registers the TTL routes. */
export function registerTtlRoutes(app: FastifyInstance, ttl: TtlStoreLike, metrics: ServerMetrics): void {
  const typed = typedRoutes(app);
  registerTtlKeyRoutes(typed, ttl, metrics);
  registerTtlLockRoutes(typed, ttl, metrics);

  typed.post(
    '/v1/ttl/cooldowns/:name',
    {
      schema: {
        tags: ['ttl'],
        summary: 'Start a cooldown: allowed=true when none was running (and one starts now)',
        params: nameParams,
        body: ttlMsBody,
      },
    },
    async (request) => {
      const { name } = request.params;
      const { ttlMs } = request.body;
      return { allowed: await metrics.time('ttl', 'cooldown', async () => ttl.cooldown(name, ttlMs)) };
    },
  );
}
