/**
 * `GET /v1/dashboard/namespaces`: the namespaces of the document store that hold documents, a page at a
 * time (`DocumentStore.listNamespaces`), for the Documents page's namespace picker. Read scope.
 */
import type { FastifyInstance } from 'fastify';
import type { DocumentStore } from '../../drivers/index.ts';
import type { ServerMetrics } from '../metrics.ts';
import { typedRoutes } from '../schemaTypes.ts';

/** Namespaces one page lists at most. */
export const MAX_NAMESPACES_PAGE = 1000;

/** Registers the namespace listing over `documents`. */
export function registerNamespaceRoutes(
  app: FastifyInstance,
  documents: DocumentStore,
  metrics: ServerMetrics,
): void {
  typedRoutes(app).get(
    '/v1/dashboard/namespaces',
    {
      config: { access: { scope: 'read' } },
      schema: {
        tags: ['dashboard'],
        summary: `Namespaces holding documents, in order, at most ${MAX_NAMESPACES_PAGE} a page (follow \`cursor\`)`,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_NAMESPACES_PAGE },
            cursor: { type: 'string', maxLength: 1024 },
          },
        },
      },
    },
    async (request) => {
      const { limit = 200, cursor } = request.query;
      return metrics.time('documents', 'listNamespaces', () =>
        documents.listNamespaces({ limit, ...(cursor === undefined ? {} : { cursor }) }),
      );
    },
  );
}
