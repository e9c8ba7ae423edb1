/**
 * The five rollout-store listings as SQL: each one's table, filter and keyset order, described once for
 * every SQL backend (the count query and the keyset pages of a listing both read it). A backend gives its
 * filter dialect and the column that orders spans of one sequence id by insertion.
 */
import type { ResourcesFilter, RolloutFilter, SpanFilter, WorkerFilter } from '../engine/repository.ts';
import type { Page } from '../query.ts';
import type {
  AttemptSortField,
  ResourcesSortField,
  RolloutSortField,
  SpanSortField,
  WorkerSortField,
} from '../types.ts';
import {
  ATTEMPT_COLUMNS,
  RESOURCES_COLUMNS,
  ROLLOUT_COLUMNS,
  SPAN_COLUMNS,
  sortColumn,
  WORKER_COLUMNS,
} from './columns.ts';
import {
  attemptWhere,
  type FilterDialect,
  resourcesWhere,
  rolloutWhere,
  spanWhere,
  workerWhere,
} from './filters.ts';
import { keysetOrder, type SqlListing } from './keyset.ts';

/** The listings of one SQL backend. */
export interface SqlListings {
  /** Rollouts (ties: insertion order). */
  rollouts(filter: RolloutFilter, page: Page<RolloutSortField>): SqlListing;
  /** Attempts of one rollout (ties: sequence id). */
  attempts(rolloutId: string, page: Page<AttemptSortField>): SqlListing;
  /** Spans of one rollout, or of one attempt (ties: sequence id, then insertion order). */
  spans(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
  ): SqlListing;
  /** Resources snapshots (ties: insertion order). */
  resources(filter: ResourcesFilter, page: Page<ResourcesSortField>): SqlListing;
  /** Workers (ties: worker id). */
  workers(filter: WorkerFilter, page: Page<WorkerSortField>): SqlListing;
}

/** The listings for a backend's filter dialect and its span insertion-order column (`seq`, `rowid`). */
export function sqlListings(filters: FilterDialect, spanInsertionColumn: string): SqlListings {
  return {
    rollouts: (filter, page) => ({
      table: 'agl_rollouts',
      filter: rolloutWhere(filter, filters),
      order: keysetOrder(sortColumn(ROLLOUT_COLUMNS, page.sortBy), ['seq'], page),
    }),
    attempts: (rolloutId, page) => ({
      table: 'agl_attempts',
      filter: attemptWhere(rolloutId, filters),
      order: keysetOrder(sortColumn(ATTEMPT_COLUMNS, page.sortBy), ['sequence_id'], page),
    }),
    spans: (rolloutId, attemptId, filter, page) => ({
      table: 'agl_spans',
      filter: spanWhere(rolloutId, attemptId, filter, filters),
      order: keysetOrder(sortColumn(SPAN_COLUMNS, page.sortBy), ['sequence_id', spanInsertionColumn], page),
    }),
    resources: (filter, page) => ({
      table: 'agl_resources',
      filter: resourcesWhere(filter, filters),
      order: keysetOrder(sortColumn(RESOURCES_COLUMNS, page.sortBy), ['seq'], page),
    }),
    workers: (filter, page) => ({
      table: 'agl_workers',
      filter: workerWhere(filter, filters),
      order: keysetOrder(sortColumn(WORKER_COLUMNS, page.sortBy), ['worker_id'], page),
    }),
  };
}
