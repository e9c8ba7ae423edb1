/**
 * `/v1/dashboard/documents/...` and `/v1/dashboard/threads/:namespace/:id`: documents and saved threads
 * with their values in the codec's tagged form, so a viewer can show a Map as a Map and a Date as a Date.
 * Read scope; every answer is bounded.
 */
import { codec } from '../../codec/index.ts';
import type { DocumentStore } from '../../drivers/index.ts';
import { NotFoundError } from '../../errors.ts';
import { ThreadStateRepository } from '../../state/index.ts';
import { prefixPageQuery } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { TypedApp } from '../schemaTypes.ts';
import { idParams } from './documentSchemas.ts';

const READ = { access: { scope: 'read' as const } };

/** Registers the tagged document and thread reads over `documents`. */
export function registerDashboardDocumentRoutes(
  app: TypedApp,
  documents: DocumentStore,
  metrics: ServerMetrics,
): void {
  app.get(
    '/v1/dashboard/documents/:namespace',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: "List a namespace's documents by id prefix, values in the codec's tagged form",
        params: {
          type: 'object',
          required: ['namespace'],
          properties: { namespace: idParams.properties.namespace },
        },
        querystring: prefixPageQuery(1000),
      },
    },
    async (request) => {
      const { namespace } = request.params;
      // Tagged values: a Map, a Set or a BigInt survives JSON, where the plain list route cannot show them.
      const page = await metrics.time('documents', 'list', () => documents.list(namespace, request.query));
      return { ...page, items: page.items.map((doc) => ({ ...doc, value: codec.encode(doc.value) })) };
    },
  );

  app.get(
    '/v1/dashboard/documents/:namespace/:id',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: "Read a document with its value in the codec's tagged form ($t names the type)",
        params: idParams,
      },
    },
    async (request) => {
      const { namespace, id } = request.params;
      const doc = await metrics.time('documents', 'get', () => documents.get(namespace, id));
      if (!doc) throw new NotFoundError(`no document '${id}' in namespace '${namespace}'`, { namespace, id });
      return { ...doc, value: codec.encode(doc.value) };
    },
  );

  app.get(
    '/v1/dashboard/threads/:namespace/:id',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: 'Read a thread saved by ThreadStateRepository, its delta records put back together',
        params: idParams,
      },
    },
    async (request) => {
      const { namespace, id } = request.params;
      // A thread is a head record plus value documents (delta saves): the repository reassembles it.
      const record = await metrics.time('documents', 'get', () =>
        new ThreadStateRepository(documents, { namespace }).load(id),
      );
      if (!record)
        throw new NotFoundError(`no thread '${id}' in namespace '${namespace}'`, { namespace, id });
      // A persisted state's values are in the codec's tagged form already (`exportPersisted` encodes
      // them): answered as stored, not encoded again (which would show a Date as an object `{ $t, v }`).
      return { id, revision: record.documentRevision, updatedAt: record.updatedAt, value: record.state };
    },
  );
}
