/**
 * The public-method shells every rollout store shares: checking and normalizing the arguments of a call
 * before its read or write runs. A bad argument throws a coded error naming the field, the same on every
 * backend.
 */

import { InvalidInputError } from '../../errors.ts';
import { integerOption } from '../../shared/integerOption.ts';
import { optionalObject, requireAllOf, requireId, requireJson, requireText } from '../normalize.ts';
import { spanFromOtel } from '../otel.ts';
import { normalizeLogic, normalizePage, type Page, READ_PAGE_ROWS } from '../query.ts';
import {
  ATTEMPT_COLUMNS,
  RESOURCES_COLUMNS,
  ROLLOUT_COLUMNS,
  SPAN_COLUMNS,
  sortFields,
  WORKER_COLUMNS,
} from '../sql/columns.ts';
import {
  type AddOtelSpanOptions,
  type AttemptQuery,
  type AttemptSortField,
  type DequeueManyOptions,
  type IterateOptions,
  type ReadableSpanLike,
  type ResourcesQuery,
  type ResourcesSortField,
  ROLLOUT_STATUSES,
  type RolloutQuery,
  type RolloutSortField,
  type SpanInput,
  type SpanQuery,
  type SpanSortField,
  type UpdateWorkerOptions,
  type WaitForRolloutsOptions,
  WORKER_STATUSES,
  type WorkerQuery,
  type WorkerSortField,
} from '../types.ts';
import type { ResourcesFilter, RolloutFilter, SpanFilter, WorkerFilter } from './repository.ts';

// The sortable fields of each listing are the keys of its sort-column map: one list, and the compiler checks
// that every sort field has a column.
const ROLLOUT_SORT = sortFields(ROLLOUT_COLUMNS);
const ATTEMPT_SORT = sortFields(ATTEMPT_COLUMNS);
const SPAN_SORT = sortFields(SPAN_COLUMNS);
const RESOURCES_SORT = sortFields(RESOURCES_COLUMNS);
const WORKER_SORT = sortFields(WORKER_COLUMNS);

/** A checked page request and filter. */
export interface Listing<F extends string, Filter> {
  page: Page<F>;
  filter: Filter;
}

// Filters reach SQL parameters and in-memory comparisons unconverted, so their types are checked here: a
// string given for a list filter would otherwise match by characters (memory), as one value (SQLite), or
// fail inside PostgreSQL.

/**
 * A text filter: a string, or null when absent. It is compared with text columns, so it obeys their rules
 * (no NUL, well-formed); its length is not limited, a long filter simply matches nothing.
 */
function textFilter(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new InvalidInputError(`${field} must be a string`, { field, value });
  return requireText(value, field, Number.MAX_SAFE_INTEGER, true);
}

/** A list filter: an array of strings, or null when absent. */
function listFilter(value: unknown, field: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string'))
    throw new InvalidInputError(`${field} must be an array of strings`, { field, value });
  for (const item of value) requireText(item, `${field}[]`, Number.MAX_SAFE_INTEGER, true);
  return value;
}

/** `queryRollouts` arguments. */
export function rolloutListing(query: RolloutQuery): Listing<RolloutSortField, RolloutFilter> {
  const page = normalizePage(query, ROLLOUT_SORT, null);
  const statusIn = listFilter(query.statusIn, 'statusIn');
  if (statusIn) requireAllOf(statusIn, ROLLOUT_STATUSES, 'statusIn');
  const filter = {
    statusIn: query.statusIn ?? null,
    rolloutIdIn: listFilter(query.rolloutIdIn, 'rolloutIdIn'),
    rolloutIdContains: textFilter(query.rolloutIdContains, 'rolloutIdContains'),
    logic: normalizeLogic(query.filterLogic),
  };
  return { page, filter };
}

/** Most items one page of `iterateRollouts` may hold. */
export const MAX_READ_PAGE_ROWS = 10_000;

/** The `pageRows` of a read in pages, checked (1 to MAX_READ_PAGE_ROWS). */
export function readPageRows(options: IterateOptions | undefined): number {
  const rows = integerOption(options?.pageRows, READ_PAGE_ROWS, 'pageRows', 1);
  if (rows > MAX_READ_PAGE_ROWS) {
    throw new InvalidInputError(`pageRows must be at most ${MAX_READ_PAGE_ROWS}`, {
      field: 'pageRows',
      value: rows,
    });
  }
  return rows;
}

/** `queryAttempts` arguments: the rollout id and the page (sequenceId order by default). */
export function attemptPage(rolloutId: string, query: AttemptQuery): Page<AttemptSortField> {
  requireId(rolloutId, 'rolloutId');
  return normalizePage(query, ATTEMPT_SORT, 'sequenceId');
}

/** `querySpans` arguments (the rollout id is checked; `attemptId` stays on the query). */
export function spanListing(rolloutId: string, query: SpanQuery): Listing<SpanSortField, SpanFilter> {
  requireId(rolloutId, 'rolloutId');
  if (query.attemptId !== undefined && query.attemptId !== null) requireId(query.attemptId, 'attemptId');
  const page = normalizePage(query, SPAN_SORT, 'sequenceId');
  const filter = {
    traceId: textFilter(query.traceId, 'traceId'),
    traceIdContains: textFilter(query.traceIdContains, 'traceIdContains'),
    spanId: textFilter(query.spanId, 'spanId'),
    spanIdContains: textFilter(query.spanIdContains, 'spanIdContains'),
    parentId: textFilter(query.parentId, 'parentId'),
    parentIdContains: textFilter(query.parentIdContains, 'parentIdContains'),
    name: textFilter(query.name, 'name'),
    nameContains: textFilter(query.nameContains, 'nameContains'),
    logic: normalizeLogic(query.filterLogic),
  };
  return { page, filter };
}

/** `queryResources` arguments. */
export function resourcesListing(query: ResourcesQuery): Listing<ResourcesSortField, ResourcesFilter> {
  const page = normalizePage(query, RESOURCES_SORT, null);
  const filter = {
    resourcesId: textFilter(query.resourcesId, 'resourcesId'),
    resourcesIdContains: textFilter(query.resourcesIdContains, 'resourcesIdContains'),
  };
  return { page, filter };
}

/** `queryWorkers` arguments. */
export function workerListing(query: WorkerQuery): Listing<WorkerSortField, WorkerFilter> {
  const page = normalizePage(query, WORKER_SORT, null);
  const statusIn = listFilter(query.statusIn, 'statusIn');
  if (statusIn) requireAllOf(statusIn, WORKER_STATUSES, 'statusIn');
  const filter = {
    statusIn: query.statusIn ?? null,
    workerIdContains: textFilter(query.workerIdContains, 'workerIdContains'),
    logic: normalizeLogic(query.filterLogic),
  };
  return { page, filter };
}

/** INVALID_INPUT unless `value` is an array (`requests`, `spans`). */
export function requireArray(value: unknown, field: string): asserts value is unknown[] {
  if (!Array.isArray(value)) throw new InvalidInputError(`${field} must be an array`, { field });
}

/** An optional worker id (null when absent), checked. */
export function optionalWorkerId(options: { workerId?: string | null } | undefined): string | null {
  const workerId = options?.workerId ?? null;
  if (workerId !== null) requireId(workerId, 'workerId');
  return workerId;
}

/** Default of `maxDequeuePerCall`: most rollouts one dequeue call takes. */
export const DEFAULT_MAX_DEQUEUE_PER_CALL = 1000;

/** The `maxDequeuePerCall` option, checked (an integer >= 1). */
export function maxDequeuePerCall(value: number | undefined): number {
  return integerOption(value, DEFAULT_MAX_DEQUEUE_PER_CALL, 'maxDequeuePerCall', 1);
}

/**
 * `dequeueManyRollouts` arguments. The limit is capped at `max`: one call taking 200,000 rollouts held the
 * write lock for seconds on SQLite and built statements PostgreSQL needed half an hour to parse. The
 * reference's contract already allows fewer than asked (a queue may hold fewer), so the cap changes no meaning.
 */
export function dequeueArguments(
  options: DequeueManyOptions,
  max: number,
): { limit: number; workerId: string | null } {
  const limit = options.limit ?? 1;
  // A safe integer, as for paging: larger ones are not bindable as an SQL LIMIT.
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new InvalidInputError('limit must be an integer >= 0', { field: 'limit', value: limit });
  }
  return { limit: Math.min(limit, max), workerId: optionalWorkerId(options) };
}

/** `addOtelSpan` arguments, converted to a span input. */
export function otelSpanInput(
  rolloutId: string,
  attemptId: string,
  span: ReadableSpanLike,
  options: AddOtelSpanOptions | undefined,
): SpanInput {
  requireId(rolloutId, 'rolloutId');
  requireId(attemptId, 'attemptId');
  if (typeof span?.spanContext !== 'function') {
    throw new InvalidInputError('span must be an OpenTelemetry ReadableSpan (spanContext() is missing)', {
      field: 'span',
    });
  }
  return spanFromOtel(rolloutId, attemptId, span, options?.sequenceId);
}

/** `updateWorker` arguments: whether heartbeatStats was given, and its value. */
export function heartbeatStats(
  workerId: string,
  options: UpdateWorkerOptions | undefined,
): { given: boolean; value: Record<string, unknown> | null } {
  requireId(workerId, 'workerId');
  const value = optionalObject(options?.heartbeatStats, 'heartbeatStats');
  requireJson(value, 'heartbeatStats');
  return { given: options !== undefined && 'heartbeatStats' in options, value };
}

/** `waitForRollouts` arguments: the distinct ids in call order and the timeout. */
export function waitArguments(options: WaitForRolloutsOptions): { ids: string[]; timeoutMs: number } {
  const ids = options?.rolloutIds;
  requireArray(ids, 'rolloutIds');
  for (const id of ids) requireId(id, 'rolloutIds[]');
  const timeoutMs = options.timeoutMs ?? Number.POSITIVE_INFINITY;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new InvalidInputError('timeoutMs must be a number of ms >= 0', {
      field: 'timeoutMs',
      value: timeoutMs,
    });
  }
  return { ids: [...new Set(ids)], timeoutMs };
}

/** `pruneFinished` argument: the age in ms. */
export function pruneAge(options: { olderThanMs?: unknown } | undefined): number {
  return requireMs(options?.olderThanMs, 'olderThanMs');
}

/** The health-check interval option, checked (ms; 0 = no timer). */
export function healthCheckInterval(value: number | undefined, fallback: number): number {
  return requireMs(value ?? fallback, 'healthCheckIntervalMs');
}

// A finite duration in ms, >= 0.
function requireMs(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidInputError(`${field} must be a number of ms >= 0`, { field, value });
  }
  return value;
}
