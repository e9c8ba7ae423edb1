/**
 * `/v1/state/:namespace/:id`: documents with revisions over HTTP. Compare-and-set through `If-Match`
 * (the revision, as the `ETag` a GET returned) or `expectedRevision` in the body; `If-None-Match: *`
 * creates only. A stale revision answers 409 `REVISION_CONFLICT` and writes nothing.
 */
import type { FastifyInstance } from 'fastify';
import type { DocumentStore, PutOptions, StoredDocument } from '../../drivers/index.ts';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { prefixPageQuery } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';
import { assertPlainJsonDocument } from '../plainJson.ts';
import { typedRoutes } from '../schemaTypes.ts';
import { documentSchema, errorSchema, idParams } from './documentSchemas.ts';

/** Reads a revision from `If-Match: "3"` (quotes and a weak prefix allowed). */
function ifMatchRevision(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:W\/)?"?(\d+)"?$/.exec(header.trim());
  if (!match)
    throw new InvalidInputError('If-Match must be a document revision such as "3"', {
      field: 'headers.if-match',
    });
  return Number(match[1]);
}

const etag = (doc: StoredDocument): string => `"${doc.revision}"`;

/** Registers the document routes. */
export function registerStateRoutes(
  app: FastifyInstance,
  store: DocumentStore,
  metrics: ServerMetrics,
): void {
  const typed = typedRoutes(app);
  const time = <T>(operation: string, call: () => Promise<T>) => metrics.time('documents', operation, call);

  typed.get(
    '/v1/state/:namespace/:id',
    {
      schema: {
        tags: ['state'],
        summary: 'Read a document',
        params: idParams,
        response: { 200: documentSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const { namespace, id } = request.params;
      const doc = await time('get', () => store.get(namespace, id));
      if (!doc) throw new NotFoundError(`no document '${id}' in namespace '${namespace}'`, { namespace, id });
      assertPlainJsonDocument(doc);
      reply.header('etag', etag(doc));
      return doc;
    },
  );

  typed.put(
    '/v1/state/:namespace/:id',
    {
      schema: {
        tags: ['state'],
        summary: 'Write a document (compare-and-set with If-Match or expectedRevision)',
        params: idParams,
        headers: {
          type: 'object',
          properties: { 'if-match': { type: 'string' }, 'if-none-match': { type: 'string' } },
        },
        body: {
          type: 'object',
          required: ['value'],
          additionalProperties: false,
          properties: {
            value: {},
            expectedRevision: { type: 'integer', minimum: 0 },
            ttlMs: { type: 'integer', minimum: 1 },
            metadata: { type: 'object', additionalProperties: true },
          },
        },
        response: { 200: documentSchema, 201: documentSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { namespace, id } = request.params;
      const body = request.body;
      const headers = request.headers;
      const options: PutOptions = {};
      const expected =
        ifMatchRevision(headers['if-match']) ??
        (headers['if-none-match'] === '*' ? 0 : body.expectedRevision);
      if (expected !== undefined) options.expectedRevision = expected;
      if (body.ttlMs !== undefined) options.ttlMs = body.ttlMs;
      if (body.metadata !== undefined) options.metadata = body.metadata;
      const doc = await time('put', () => store.put(namespace, id, body.value, options));
      reply.header('etag', etag(doc)).status(doc.revision === 1 ? 201 : 200);
      return doc;
    },
  );

  typed.delete(
    '/v1/state/:namespace/:id',
    {
      schema: {
        tags: ['state'],
        summary: 'Delete a document (optionally only at a revision)',
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { expectedRevision: { type: 'integer', minimum: 1 } },
        },
      },
    },
    async (request, reply) => {
      const { namespace, id } = request.params;
      const expected = ifMatchRevision(request.headers['if-match']) ?? request.query.expectedRevision;
      const deleted = await time('delete', () =>
        store.delete(namespace, id, expected === undefined ? {} : { expectedRevision: expected }),
      );
      if (!deleted)
        throw new NotFoundError(`no document '${id}' in namespace '${namespace}'`, { namespace, id });
      return reply.status(204).send();
    },
  );

  typed.get(
    '/v1/state/:namespace',
    {
      schema: {
        tags: ['state'],
        summary: 'List documents of a namespace by id, one page at a time',
        params: { type: 'object', required: ['namespace'], properties: idParams.properties },
        querystring: prefixPageQuery(1000),
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: documentSchema }, cursor: { type: 'string' } },
          },
        },
      },
    },
    async (request) => {
      const { namespace } = request.params;
      const page = await time('list', () => store.list(namespace, request.query));
      for (const doc of page.items) assertPlainJsonDocument(doc);
      return page;
    },
  );
}
