/**
 * Query helpers shared by backends: paging/sort validation (one set of rules and errors everywhere) and the
 * in-process filter/sort used by the memory backend. SQL backends translate the same `Page` to SQL.
 */
import { InvalidInputError } from '../errors.ts';
import type { FilterLogic, PageOptions, PaginatedResult, SortOrder } from './types.ts';

/** Rows one page of a read in pages (`rolloutPages`, `iterateRollouts`) holds: what bounds its memory. */
export const READ_PAGE_ROWS = 1000;

/** Validated paging and sorting. */
export interface Page<SortField extends string> {
  limit: number;
  offset: number;
  sortBy: SortField | null;
  sortOrder: SortOrder;
}

/** Validates limit (-1 = all), offset, sortBy (one of `allowed`) and sortOrder. */
export function normalizePage<F extends string>(
  query: PageOptions<F> | undefined,
  allowed: readonly F[],
  defaultSort: F | null,
): Page<F> {
  const limit = query?.limit ?? -1;
  const offset = query?.offset ?? 0;
  // Safe integers only: larger ones are not bindable (SQLite refuses them, PostgreSQL overflows bigint).
  if (!Number.isSafeInteger(limit) || limit < -1) {
    throw new InvalidInputError('limit must be an integer >= 0, or -1 for all', {
      field: 'limit',
      value: limit,
    });
  }
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new InvalidInputError('offset must be an integer >= 0', { field: 'offset', value: offset });
  }
  const sortBy = query?.sortBy ?? defaultSort;
  if (sortBy !== null && !allowed.includes(sortBy)) {
    throw new InvalidInputError(`sortBy must be one of ${allowed.join(', ')}`, {
      field: 'sortBy',
      value: sortBy,
    });
  }
  const sortOrder = query?.sortOrder ?? 'asc';
  if (sortOrder !== 'asc' && sortOrder !== 'desc') {
    throw new InvalidInputError("sortOrder must be 'asc' or 'desc'", {
      field: 'sortOrder',
      value: sortOrder,
    });
  }
  return { limit, offset, sortBy, sortOrder };
}

/** Validates a filter logic. */
export function normalizeLogic(logic: FilterLogic | undefined): FilterLogic {
  const value = logic ?? 'and';
  if (value !== 'and' && value !== 'or') {
    throw new InvalidInputError("filterLogic must be 'and' or 'or'", { field: 'filterLogic', value });
  }
  return value;
}

/** Combines predicates with the filter logic; no predicates matches everything. */
export function combine<T>(
  predicates: Array<(item: T) => boolean>,
  logic: FilterLogic,
): (item: T) => boolean {
  if (predicates.length === 0) return () => true;
  return logic === 'and'
    ? (item) => predicates.every((p) => p(item))
    : (item) => predicates.some((p) => p(item));
}

/** A value rows sort by. */
export type Sortable = string | number | null | undefined;

// Nulls sort first ascending (as SQLite and PostgreSQL NULLS FIRST do), so all backends agree on order.
function compareValues(a: Sortable, b: Sortable): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return a < b ? -1 : 1;
}

/**
 * Sorts (ties broken by the given natural order, e.g. creation order) and pages items in memory. `items`
 * must already be in natural order.
 */
export function sortAndPage<T, F extends string>(
  items: T[],
  page: Page<F>,
  key: (item: T, field: F) => Sortable,
): PaginatedResult<T> {
  let sorted = items;
  if (page.sortBy !== null) {
    const field = page.sortBy;
    const indexed = items.map((item, index) => ({ item, index, value: key(item, field) }));
    indexed.sort((a, b) => compareValues(a.value, b.value) || a.index - b.index);
    sorted = indexed.map((entry) => entry.item);
  }
  if (page.sortOrder === 'desc') sorted = sorted === items ? [...items].reverse() : sorted.reverse();
  const end = page.limit === -1 ? undefined : page.offset + page.limit;
  return {
    items: sorted.slice(page.offset, end),
    limit: page.limit,
    offset: page.offset,
    total: items.length,
  };
}

/**
 * The matching items of `ordered` (already in the page's order) from `page.offset` on, at most `page.limit`
 * (-1 = all), as pages of at most `pageRows` references: the in-process form of a read in pages. `ordered`
 * may be a live iterator (items added behind the cursor are then read too, as a later SQL page would).
 */
export function* pagesOf<T>(
  ordered: Iterable<T>,
  match: (item: T) => boolean,
  page: Page<string>,
  pageRows: number,
): Generator<T[]> {
  let skip = page.offset;
  let remaining = page.limit === -1 ? Number.POSITIVE_INFINITY : page.limit;
  let rows: T[] = [];
  for (const item of ordered) {
    if (remaining <= 0) break;
    if (!match(item)) continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    rows.push(item);
    remaining--;
    if (rows.length === pageRows) {
      yield rows;
      rows = [];
    }
  }
  if (rows.length > 0) yield rows;
}

/** `items` (matching, in natural order) in the order of `page`, then in pages of references (`pagesOf`). */
export function sortedPagesOf<T, F extends string>(
  items: T[],
  page: Page<F>,
  key: (item: T, field: F) => Sortable,
  pageRows: number,
): Generator<T[]> {
  const ordered = sortAndPage(items, { ...page, limit: -1, offset: 0 }, key).items;
  return pagesOf(ordered, () => true, page, pageRows);
}
