/** `/health`, `/metrics` and `/openapi.json`. */
import type { FastifyInstance } from 'fastify';
import type { ServerMetrics } from '../metrics.ts';

/** Registers the system routes. */
export function registerSystemRoutes(app: FastifyInstance, metrics: ServerMetrics): void {
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
      const body = await metrics.registry.metrics();
      return reply.header('content-type', metrics.registry.contentType).send(body);
    },
  );

  app.get('/openapi.json', { config: { access: { public: true } }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
}
