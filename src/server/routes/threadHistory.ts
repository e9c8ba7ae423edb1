/**
 * `/v1/dashboard/threads/:namespace/:id/...`: a thread's stored revision history (the records
 * `ThreadStateRepository` writes with every save) for the dashboard's Threads page: a page of revisions
 * newest first, one revision's record and state, and which keys changed between two revisions with their
 * values at both. Past states are rebuilt from the values later saves replaced, which the repository keeps
 * as long as retention keeps the revision: an older one is answered as not retained (code
 * `REVISION_NOT_RETAINED`), never with a guess. Read scope; every answer is bounded.
 */
import type { FastifyInstance } from 'fastify';
import type { DocumentStore } from '../../drivers/index.ts';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { type ThreadStateAt, ThreadStateRepository } from '../../state/index.ts';
import { MAX_ID_LENGTH, MAX_NAMESPACE_LENGTH, nameSchema } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';

/** Revisions one page lists at most. */
export const MAX_REVISIONS_PAGE = 100;
/** Most revisions apart two compared revisions may be (each one's record is read). */
export const MAX_DIFF_SPAN = 500;
/** Most saves below the head one answer undoes to rebuild a past state (beyond: not retained). */
export const MAX_REBUILD_SAVES = 2000;

/**
 * A past state as the routes answer it: its values (a persisted state's values are the codec's tagged form
 * already, as `StateStore.exportPersisted` wrote them), or why it is not kept.
 */
function pastState(state: ThreadStateAt, keys?: readonly string[]): Record<string, unknown> {
  if (!state.retained) {
    return {
      revision: state.documentRevision,
      retained: false,
      code: 'REVISION_NOT_RETAINED',
      message:
        `the values of save ${state.documentRevision} are no longer kept (retention, compaction, or more than ` +
        `${MAX_REBUILD_SAVES} saves ago); the oldest save shown with its values is ${state.oldestRetained}`,
      oldestRetained: state.oldestRetained,
    };
  }
  const shown = keys ?? Object.keys(state.extensions);
  const values: Record<string, unknown> = {};
  for (const key of shown) {
    if (Object.hasOwn(state.extensions, key)) {
      Object.defineProperty(values, key, { value: state.extensions[key], enumerable: true });
    }
  }
  return { revision: state.documentRevision, retained: true, values };
}

const READ = { access: { scope: 'read' as const } };
const params = {
  type: 'object',
  required: ['namespace', 'id'],
  properties: { namespace: nameSchema(MAX_NAMESPACE_LENGTH), id: nameSchema(MAX_ID_LENGTH) },
};
const revisionNumber = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER };

const gone = (namespace: string, id: string) =>
  new NotFoundError(`no thread '${id}' in namespace '${namespace}'`, { namespace, id });

/** Registers the thread history routes over `documents`. */
export function registerThreadHistoryRoutes(
  app: FastifyInstance,
  documents: DocumentStore,
  metrics: ServerMetrics,
): void {
  // The head's revision, or 404 for a thread that was never saved (or was deleted).
  const head = async (namespace: string, id: string) => {
    const threads = new ThreadStateRepository(documents, { namespace });
    const record = await metrics.time('documents', 'get', () => threads.load(id));
    if (!record) throw gone(namespace, id);
    return { threads, record };
  };

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
        params,
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
      const { namespace, id } = request.params as { namespace: string; id: string };
      const { before, limit = 50 } = request.query as { before?: number; limit?: number };
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

  app.get(
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
      const { namespace, id, revision } = request.params as {
        namespace: string;
        id: string;
        revision: number;
      };
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
      if (state === undefined) throw gone(namespace, id);
      if (!state.retained)
        return { ...saved, current, retained: false, value: null, notRetained: pastState(state) };
      const value = { revision: state.revision, extensions: state.extensions };
      return { ...saved, current, retained: true, value };
    },
  );

  app.get(
    '/v1/dashboard/threads/:namespace/:id/diff',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: `Keys changed between two saved revisions (at most ${MAX_DIFF_SPAN} apart), and in which saves`,
        description:
          'For each key written or appended to by a save after `from` up to `to`: the saves that rewrote it and ' +
          'those that appended to it. `complete` is false when retention removed records of that range. ' +
          "`before` and `after` hold those keys' values at `from` and at `to` (tagged form; a key absent at that " +
          "save is left out), or `retained: false` with code REVISION_NOT_RETAINED when that save's values are " +
          'no longer kept.',
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
      const { namespace, id } = request.params as { namespace: string; id: string };
      const query = request.query as { from: number; to: number };
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
      if (to > record.documentRevision) {
        throw new NotFoundError(
          `thread '${id}' has no save ${to} (the newest is ${record.documentRevision})`,
          {
            namespace,
            id,
            revision: to,
          },
        );
      }
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
      const states = await metrics.time('documents', 'get', () =>
        threads.statesAt(id, [from, to], { maxSaves: MAX_REBUILD_SAVES }),
      );
      if (states === undefined) throw gone(namespace, id);
      const names = changed.map((k) => k.key);
      answer.before = pastState(states[0]!, names);
      answer.after = pastState(states[1]!, names);
      return answer;
    },
  );
}
