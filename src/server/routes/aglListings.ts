/**
 * The reference's listings (rollouts, attempts, workers, resources, spans): a query or search body in the
 * store's camelCase after the reference's paging checks, answered by `listingAnswer` (streamed page by
 * page when large).
 */
import type { Readable } from 'node:stream';
import type {
  AttemptQuery,
  PaginatedResult,
  ResourcesQuery,
  RolloutQuery,
  SpanQuery,
  WorkerQuery,
} from '../../rollouts/index.ts';
import { listingAnswer } from '../agl/pageStream.ts';
import { checkPaging, type ListedType } from '../agl/referenceChecks.ts';
import {
  attemptToWire,
  camelCase,
  resourcesUpdateToWire,
  rolloutToWire,
  spanToWire,
  type Wire,
  workerToWire,
} from '../agl/wire.ts';
import type { AglContext } from './aglContext.ts';

/** Where a listing's fields came from, for the paths error details name. */
export type Location = 'body' | 'query';

/**
 * Paging fields of a query or search body of a listing of `type`, in the store's camelCase, after the
 * reference's own paging checks.
 */
export function page(
  w: Wire,
  type: ListedType,
  location: Location,
): { limit?: number; offset?: number; sortBy?: never; sortOrder?: 'asc' | 'desc' } {
  checkPaging(w, type, location);
  const out: Record<string, unknown> = {};
  if (typeof w.limit === 'number') out.limit = w.limit;
  if (typeof w.offset === 'number') out.offset = w.offset;
  if (typeof w.sort_by === 'string') out.sortBy = camelCase(w.sort_by);
  if (w.sort_order === 'asc' || w.sort_order === 'desc') out.sortOrder = w.sort_order;
  return out;
}

/** Copies `from[snake]` to `to[camel]` for each listed key present and not null. */
function pick(from: Wire, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (from[key] !== undefined && from[key] !== null) out[camelCase(key)] = from[key];
  }
  return out;
}

/** Store query of a rollout listing. */
export const rolloutQuery = (w: Wire, location: Location) => ({
  ...page(w, 'Rollout', location),
  ...pick(w, ['status_in', 'rollout_id_in', 'rollout_id_contains', 'filter_logic']),
});
/** Store query of a span listing. */
export const spanQuery = (w: Wire, location: Location) => ({
  ...page(w, 'Span-Output', location),
  ...pick(w, [
    'attempt_id',
    'trace_id',
    'trace_id_contains',
    'span_id',
    'span_id_contains',
    'parent_id',
    'parent_id_contains',
    'name',
    'name_contains',
    'filter_logic',
  ]),
});
/** Store query of a worker listing. */
export const workerQuery = (w: Wire, location: Location) => ({
  ...page(w, 'Worker', location),
  ...pick(w, ['status_in', 'worker_id_contains', 'filter_logic']),
});
/** Store query of a resources listing. */
export const resourcesQuery = (w: Wire) => ({
  ...page(w, 'ResourcesUpdate', 'query'),
  ...pick(w, ['resources_id', 'resources_id_contains']),
});

/** The five listings of `store`, each answering a store query with a page in wire form. */
export function aglListings({ store, time }: AglContext) {
  // `read(limit)` is the one-query read (with `limit` in place of the query's own when given), `iterate()`
  // the read in pages when the store has one; store reads are timed as `operation`.
  const listing = <T>(
    operation: string,
    q: { limit?: number; offset?: number },
    read: (limit?: number) => Promise<PaginatedResult<T>>,
    iterate: (() => AsyncIterable<T[]>) | undefined,
    map: (item: T) => Wire,
  ): Promise<Wire | Readable> =>
    listingAnswer(
      {
        limit: q.limit ?? -1,
        offset: q.offset ?? 0,
        query: read,
        iterate,
        time: (call) => time(operation, call),
      },
      map,
    );
  const withLimit = <Q>(q: Q, limit: number | undefined): Q => (limit === undefined ? q : { ...q, limit });

  return {
    rollouts: (q: RolloutQuery) =>
      listing(
        'queryRollouts',
        q,
        (limit) => store.queryRollouts(withLimit(q, limit)),
        store.iterateRollouts && (() => store.iterateRollouts!(q)),
        rolloutToWire,
      ),
    attempts: (rolloutId: string, q: AttemptQuery) =>
      listing(
        'queryAttempts',
        q,
        (limit) => store.queryAttempts(rolloutId, withLimit(q, limit)),
        store.iterateAttempts && (() => store.iterateAttempts!(rolloutId, q)),
        attemptToWire,
      ),
    workers: (q: WorkerQuery) =>
      listing(
        'queryWorkers',
        q,
        (limit) => store.queryWorkers(withLimit(q, limit)),
        store.iterateWorkers && (() => store.iterateWorkers!(q)),
        workerToWire,
      ),
    resources: (q: ResourcesQuery) =>
      listing(
        'queryResources',
        q,
        (limit) => store.queryResources(withLimit(q, limit)),
        store.iterateResources && (() => store.iterateResources!(q)),
        resourcesUpdateToWire,
      ),
    spans: (rolloutId: string, q: SpanQuery) =>
      listing(
        'querySpans',
        q,
        (limit) => store.querySpans(rolloutId, withLimit(q, limit)),
        store.iterateSpans && (() => store.iterateSpans!(rolloutId, q)),
        spanToWire,
      ),
  };
}

/** The listings of a store, as `aglListings` builds them. */
export type AglListings = ReturnType<typeof aglListings>;
