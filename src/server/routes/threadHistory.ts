/**
 * `/v1/dashboard/threads/:namespace/:id/...`: a thread's stored revision history (the records
 * `ThreadStateRepository` writes with every save) for the dashboard's Threads page: a page of revisions
 * newest first, one revision's record and state, and which keys changed between two revisions with their
 * values at both. Past states are rebuilt from the values later saves replaced, which the repository keeps
 * as long as retention keeps the revision: an older one is answered as not retained (code
 * `REVISION_NOT_RETAINED`), never with a guess. Read scope; every answer is bounded. The listing is in
 * ./threadRevisions.ts, the diff in ./threadDiff.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { DocumentStore } from '../../drivers/index.ts';
import { NotFoundError } from '../../errors.ts';
import { ThreadStateRepository } from '../../state/index.ts';
import type { ServerMetrics } from '../metrics.ts';
import { typedRoutes } from '../schemaTypes.ts';
import { registerThreadDiffRoute } from './threadDiff.ts';
import { MAX_REBUILD_SAVES, pastState } from './threadPastStates.ts';
import {
  threadParams as params,
  registerThreadRevisionListRoute,
  revisionNumber,
  threadNotFound,
} from './threadRevisions.ts';

const READ = { access: { scope: 'read' as const } };

/** Registers the thread history routes over `documents`. */
export function registerThreadHistoryRoutes(
  app: FastifyInstance,
  documents: DocumentStore,
  metrics: ServerMetrics,
): void {
  const typed = typedRoutes(app);
  // The head's revision, or 404 for a thread that was never saved (or was deleted).
  const head = async (namespace: string, id: string) => {
    const threads = new ThreadStateRepository(documents, { namespace });
    const record = await metrics.time('documents', 'get', () => threads.load(id));
    if (!record) throw threadNotFound(namespace, id);
    return { threads, record };
  };

  registerThreadRevisionListRoute(typed, head, metrics);

  typed.get(
    '/v1/dashboard/threads/:namespace/:id/revisions/:revision',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: "One saved revision's record and its state (codec's tagged form)",
        description:
          '`changed` and `appended` say which keys that save wrote. `value` is the state at that save, rebuilt ' +
          'from the values later saves replaced; null when they are no longer kept, with `retained: false` and ' +
          '`notRetained` saying why (code REVISION_NOT_RETAINED) and the oldest save still shown.',
        params: {
          ...params,
          required: [...params.required, 'revision'],
          properties: { ...params.properties, revision: revisionNumber },
        },
      },
    },
    async (request) => {
      const { namespace, id, revision } = request.params;
      const { threads, record } = await head(namespace, id);
      const saved = await metrics.time('documents', 'get', () => threads.revision(id, revision));
      if (!saved) {
        throw new NotFoundError(`thread '${id}' has no stored revision ${revision}`, {
          namespace,
          id,
          revision,
        });
      }
      const current = revision === record.documentRevision;
      if (current) return { ...saved, current, retained: true, value: record.state };
      const states = await metrics.time('documents', 'get', () =>
        threads.statesAt(id, [revision], { maxSaves: MAX_REBUILD_SAVES }),
      );
      const state = states?.[0];
      if (state === undefined) throw threadNotFound(namespace, id);
      if (!state.retained)
        return { ...saved, current, retained: false, value: null, notRetained: pastState(state) };
      const value = { revision: state.revision, extensions: state.extensions };
      return { ...saved, current, retained: true, value };
    },
  );

  registerThreadDiffRoute(typed, head, metrics);
}
