/**
 * `GET /v1/dashboard/threads/:namespace/:id/revisions`: a page of a thread's saved revisions, newest
 * first, and what the thread history routes (./threadHistory.ts, ./threadDiff.ts) share: the schemas,
 * the head lookup's type, the not-found answer.
 */
import { NotFoundError } from '../../errors.ts';
import type { ThreadRecord, ThreadStateRepository } from '../../state/index.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { TypedApp } from '../schemaTypes.ts';
import { idParams } from './documentSchemas.ts';

/** Revisions one page lists at most. */
export const MAX_REVISIONS_PAGE = 100;

const READ = { access: { scope: 'read' as const } };

/** Path parameters naming a thread: a thread is saved as a document, so its namespace and id. */
export const threadParams = idParams;

/** A saved revision's number. */
export const revisionNumber = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;

/** The answer for a thread that was never saved (or was deleted). */
export const threadNotFound = (namespace: string, id: string): NotFoundError =>
  new NotFoundError(`no thread '${id}' in namespace '${namespace}'`, { namespace, id });

/** The thread's repository and head record, or a NotFoundError for a thread that was never saved. */
export type ThreadHead = (
  namespace: string,
  id: string,
) => Promise<{ threads: ThreadStateRepository; record: ThreadRecord }>;

/** Registers the revision listing; `head` finds the thread. */
export function registerThreadRevisionListRoute(
  app: TypedApp,
  head: ThreadHead,
  metrics: ServerMetrics,
): void {
  app.get(
    '/v1/dashboard/threads/:namespace/:id/revisions',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: `A thread's saved revisions, newest first, at most ${MAX_REVISIONS_PAGE} a page`,
        description:
          'Each: documentRevision, state revision, savedAt, keys written whole (changed) and keys appended to. ' +
          'Pass `cursor` as `before` for the next (older) page.',
        params: threadParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            before: revisionNumber,
            limit: { type: 'integer', minimum: 1, maximum: MAX_REVISIONS_PAGE },
          },
        },
      },
    },
    async (request) => {
      const { namespace, id } = request.params;
      const { before, limit = 50 } = request.query;
      const { threads, record } = await head(namespace, id);
      const start = Math.min(before ?? Number.POSITIVE_INFINITY, record.documentRevision + 1);
      const revisions = await metrics.time('documents', 'get', () => threads.historyBefore(id, start, limit));
      const oldest = revisions.at(-1)?.documentRevision;
      return {
        head: record.documentRevision,
        revisions,
        ...(revisions.length === limit && oldest !== undefined && oldest > 1 ? { cursor: oldest } : {}),
      };
    },
  );
}
