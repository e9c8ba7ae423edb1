/**
 * `/v1/dashboard/threads/:namespace/:id/...`: a thread's stored revision history (the records
 * `ThreadStateRepository` writes with every save) for the dashboard's Threads page: a page of revisions
 * newest first, one revision's record, and which keys changed between two revisions. The store keeps only
 * the current values (a save deletes the ones it replaces), so a past revision answers its record (when, which
 * keys it wrote or appended to) and the state only when it is the current one. Read scope; every answer
 * is bounded.
 */
import type { FastifyInstance } from 'fastify';
import { codec } from '../../codec/index.ts';
import type { DocumentStore } from '../../drivers/index.ts';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { ThreadStateRepository } from '../../state/index.ts';
import type { ServerMetrics } from '../metrics.ts';
import { typedRoutes } from '../schemaTypes.ts';
import {
  threadParams as params,
  registerThreadRevisionListRoute,
  revisionNumber,
} from './threadRevisions.ts';

/** Most revisions apart two compared revisions may be (each one's record is read). */
export const MAX_DIFF_SPAN = 500;

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
    if (!record) throw new NotFoundError(`no thread '${id}' in namespace '${namespace}'`, { namespace, id });
    return { threads, record };
  };

  registerThreadRevisionListRoute(typed, head, metrics);

  typed.get(
    '/v1/dashboard/threads/:namespace/:id/revisions/:revision',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: "One saved revision's record; its state (codec's tagged form) when it is the current one",
        description:
          'The store keeps only the current values, so `value` is null for a past revision; `changed` and ' +
          '`appended` say which keys that save wrote.',
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
      return { ...saved, current, value: current ? codec.encode(record.state) : null };
    },
  );

  typed.get(
    '/v1/dashboard/threads/:namespace/:id/diff',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: `Keys changed between two saved revisions (at most ${MAX_DIFF_SPAN} apart), and in which saves`,
        description:
          'For each key written or appended to by a save after `from` up to `to`: the saves that rewrote it and ' +
          'those that appended to it. `complete` is false when retention removed records of that range. ' +
          "When `to` is the current revision, `values` holds those keys' current values (tagged form).",
        params,
        querystring: {
          type: 'object',
          required: ['from', 'to'],
          additionalProperties: false,
          properties: { from: revisionNumber, to: revisionNumber },
        },
      },
    },
    async (request) => {
      const { namespace, id } = request.params;
      const query = request.query;
      const from = Math.min(query.from, query.to);
      const to = Math.max(query.from, query.to);
      if (to - from > MAX_DIFF_SPAN) {
        throw new InvalidInputError(`compare revisions at most ${MAX_DIFF_SPAN} apart`, {
          field: 'querystring.to',
          from,
          to,
        });
      }
      const { threads, record } = await head(namespace, id);
      const revisions =
        to === from
          ? []
          : await metrics.time('documents', 'get', () => threads.historyBefore(id, to + 1, to - from));
      const keys = new Map<string, { key: string; rewrittenIn: number[]; appendedIn: number[] }>();
      const entry = (key: string) => {
        const found = keys.get(key) ?? { key, rewrittenIn: [], appendedIn: [] };
        keys.set(key, found);
        return found;
      };
      for (const revision of [...revisions].reverse()) {
        for (const key of revision.changed) entry(key).rewrittenIn.push(revision.documentRevision);
        for (const key of revision.appended) entry(key).appendedIn.push(revision.documentRevision);
      }
      const changed = [...keys.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const answer: Record<string, unknown> = {
        from,
        to,
        complete: revisions.length === to - from,
        keys: changed,
      };
      if (to === record.documentRevision) {
        const extensions = record.state.extensions as Record<string, unknown>;
        answer.values = Object.fromEntries(
          changed
            .filter((k) => Object.hasOwn(extensions, k.key))
            .map((k) => [k.key, codec.encode(extensions[k.key])]),
        );
      }
      return answer;
    },
  );
}
