/** `/health`, `/metrics` and `/openapi.json`. */
import type { FastifyInstance } from 'fastify';
import type { PerformanceMonitor } from '../../persistence/index.ts';
import type { RolloutStore } from '../../rollouts/index.ts';
import { RETRY_AFTER_SECONDS, toErrorResponse } from '../httpErrors.ts';
import type { ServerMetrics } from '../metrics.ts';

/**
 * Registers the system routes; with a persistence monitor, its metrics join /metrics; the rollout store's
 * `ready()` answers /health/ready.
 */
export function registerSystemRoutes(
  app: FastifyInstance,
  metrics: ServerMetrics,
  monitor?: PerformanceMonitor,
  rollouts?: RolloutStore,
): void {
  const startedAt = Date.now();
  app.get(
    '/health',
    {
      config: { access: { public: true } },
      schema: {
        tags: ['system'],
        summary: 'Liveness check',
        response: {
          200: {
            type: 'object',
            properties: { status: { type: 'string' }, uptimeMs: { type: 'number' } },
          },
        },
      },
    },
    async () => ({ status: 'ok', uptimeMs: Date.now() - startedAt }),
  );
  // Live: the process answers (restart it if not). Ready: it can serve, its database answers and the
  // schema is in place (send it traffic only then). `/health` stays the liveness answer it always was.
  app.get(
    '/health/live',
    {
      config: { access: { public: true } },
      schema: { tags: ['system'], summary: 'Liveness: the process answers' },
    },
    async () => ({ status: 'ok', uptimeMs: Date.now() - startedAt }),
  );
  app.get(
    '/health/ready',
    {
      config: { access: { public: true } },
      schema: {
        tags: ['system'],
        summary: 'Readiness: the database answers and its schema is applied (503 with Retry-After if not)',
      },
    },
    async (_request, reply) => {
      try {
        await rollouts?.ready?.();
      } catch (error) {
        const { status, body } = toErrorResponse(error, false);
        return reply
          .status(status >= 500 ? 503 : status)
          .header('retry-after', RETRY_AFTER_SECONDS)
          .send({ status: 'unavailable', ...body });
      }
      return { status: 'ready', uptimeMs: Date.now() - startedAt };
    },
  );

  app.get(
    '/metrics',
    { config: { access: { scope: 'read' } }, schema: { tags: ['system'], summary: 'Prometheus metrics' } },
    async (_request, reply) => {
      let body = await metrics.registry.metrics();
      if (monitor) body += `\n${await monitor.registry.metrics()}`;
      return reply.header('content-type', metrics.registry.contentType).send(body);
    },
  );

  if (monitor) {
    app.get(
      '/v1/persistence/report',
      {
        config: { access: { scope: 'read' } },
        schema: { tags: ['system'], summary: 'Persistence performance report with recommendations' },
      },
      async () => monitor.report(),
    );
  }

  app.get('/openapi.json', { config: { access: { public: true } }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
}
