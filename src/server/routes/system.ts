/** `/health`, `/metrics` and `/openapi.json`. */
import type { FastifyInstance } from 'fastify';
import type { PerformanceMonitor } from '../../persistence/index.ts';
import type { ServerMetrics } from '../metrics.ts';

/** Registers the system routes; with a persistence monitor, its metrics join /metrics. */
export function registerSystemRoutes(
  app: FastifyInstance,
  metrics: ServerMetrics,
  monitor?: PerformanceMonitor,
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
