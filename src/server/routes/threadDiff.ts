/**
 * `GET /v1/dashboard/threads/:namespace/:id/diff`: which keys changed between two saved revisions of a
 * thread, in which saves, and their values at both (./threadPastStates.ts).
 */
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { TypedApp } from '../schemaTypes.ts';
import { MAX_REBUILD_SAVES, pastState } from './threadPastStates.ts';
import {
  threadParams as params,
  revisionNumber,
  type ThreadHead,
  threadNotFound,
} from './threadRevisions.ts';

/** Most revisions apart two compared revisions may be (each one's record is read). */
export const MAX_DIFF_SPAN = 500;

const READ = { access: { scope: 'read' as const } };

/** Registers the diff route; `head` finds the thread. */
export function registerThreadDiffRoute(app: TypedApp, head: ThreadHead, metrics: ServerMetrics): void {
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
      if (states === undefined) throw threadNotFound(namespace, id);
      const names = changed.map((k) => k.key);
      answer.before = pastState(states[0]!, names);
      answer.after = pastState(states[1]!, names);
      return answer;
    },
  );
}
