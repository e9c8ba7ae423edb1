/**
 * Keyset paging for reads of any size (`limit: -1` is "all"): the rows are read a page at a time, each page
 * starting after the last row of the one before (by the sort column and the tie-break columns, which
 * together are unique), so every page costs an index seek, not an OFFSET past everything already read:
 * linear in the whole, bounded per statement. Shared by SQLite and PostgreSQL and by every listing
 * (rollouts, attempts, spans, resources, workers); both databases order NULLs first ascending and last
 * descending.
 */
import { type Page, READ_PAGE_ROWS } from '../query.ts';
import type { Sql } from './filters.ts';
import { orderBy } from './order.ts';

/**
 * The order of a listing: `ORDER BY column dir, ties... dir`. `column` null (no sort field) or equal to the
 * first tie column: the tie columns alone. The tie columns are never NULL and together unique.
 */
export interface KeysetOrder {
  column: string | null;
  ties: readonly string[];
  desc: boolean;
}

/** What one listing reads: its table, its filter and its order (the same for a paged read and a count). */
export interface SqlListing {
  table: string;
  filter: Sql;
  order: KeysetOrder;
}

/** The order of `page` on `column` (null: none), ties broken by `ties`. */
export function keysetOrder(column: string | null, ties: readonly string[], page: Page<string>): KeysetOrder {
  return { column: column === ties[0] ? null : column, ties, desc: page.sortOrder === 'desc' };
}

/** `ORDER BY` of a listing, `dir(desc)` spelling the backend's direction. */
export function keysetOrderBy(order: KeysetOrder, dir: (desc: boolean) => string): string {
  return orderBy(order.column, order.ties, dir(order.desc));
}

/** Where the next page starts: the sort column's value and the tie columns' values of the last row. */
export interface KeysetCursor {
  value: unknown;
  ties: unknown[];
}

/** The condition "after `cursor`" in `order`, `next` giving each parameter's placeholder. */
export function keysetAfter(order: KeysetOrder, cursor: KeysetCursor, next: () => string): Sql {
  const beyond = order.desc ? '<' : '>';
  // One tie column compares as itself; several as a row value (both databases compare those in order).
  const tieAfter = (): Sql => {
    const marks = order.ties.map(() => next());
    return order.ties.length === 1
      ? { where: `${order.ties[0]} ${beyond} ${marks[0]}`, params: [...cursor.ties] }
      : { where: `(${order.ties.join(', ')}) ${beyond} (${marks.join(', ')})`, params: [...cursor.ties] };
  };
  const { column, desc } = order;
  if (column === null) return tieAfter();
  if (cursor.value === null || cursor.value === undefined) {
    // NULLs come first ascending: after a NULL come the later NULLs, then every non-NULL value. Descending
    // they come last: only the later NULLs.
    const tie = tieAfter();
    const tail = `${column} IS NULL AND ${tie.where}`;
    return { where: desc ? `(${tail})` : `((${tail}) OR ${column} IS NOT NULL)`, params: tie.params };
  }
  const strictly = `${column} ${beyond} ${next()}`;
  const equal = `${column} = ${next()}`;
  const tie = tieAfter();
  const tieCase = `(${equal} AND ${tie.where})`;
  return {
    where: desc ? `(${strictly} OR ${column} IS NULL OR ${tieCase})` : `(${strictly} OR ${tieCase})`,
    params: [cursor.value, cursor.value, ...tie.params],
  };
}

/** One page to read: at most `limit` rows, skipping `offset` (first page only), after `after` when set. */
export interface KeysetRequest {
  limit: number;
  offset: number;
  after: KeysetCursor | null;
}

/**
 * The page-by-page plan of one paged read (`page.limit` -1 = all): which page to read next, and when the
 * read is done. Backends run the statements; this holds the arithmetic once.
 */
export class KeysetPlan {
  #remaining: number;
  #offset: number;
  #after: KeysetCursor | null = null;
  #done = false;
  readonly #pageRows: number;

  constructor(page: Page<string>, pageRows = READ_PAGE_ROWS) {
    this.#remaining = page.limit === -1 ? Number.POSITIVE_INFINITY : page.limit;
    this.#offset = page.offset;
    this.#pageRows = pageRows;
  }

  /** The next page to read, or null when the read is complete. */
  next(): KeysetRequest | null {
    if (this.#done || this.#remaining <= 0) return null;
    return { limit: Math.min(this.#pageRows, this.#remaining), offset: this.#offset, after: this.#after };
  }

  /** Records a page read for `request`: its row count and the cursor of its last row. */
  advance(request: KeysetRequest, rows: number, last: KeysetCursor | null): void {
    this.#remaining -= rows;
    this.#offset = 0;
    if (rows < request.limit || last === null) this.#done = true;
    else this.#after = last;
  }
}

/** `filter AND more` (either may be empty), parameters in placeholder order. */
export function andWhere(filter: Sql, more: Sql | null): Sql {
  if (more === null || more.where === '') return filter;
  if (filter.where === '') return more;
  return { where: `${filter.where} AND ${more.where}`, params: [...filter.params, ...more.params] };
}

/**
 * The `WHERE` (possibly empty) of the page `request` of `listing`, its `ORDER BY`, and its parameters with
 * the `LIMIT` and `OFFSET` values last (`next` numbers placeholders; it has already given the filter's).
 */
export function keysetPageClauses(
  listing: SqlListing,
  request: KeysetRequest,
  next: () => string,
  dir: (desc: boolean) => string,
): { where: string; orderLimit: string; params: unknown[] } {
  const after = request.after === null ? null : keysetAfter(listing.order, request.after, next);
  const sql = andWhere(listing.filter, after);
  return {
    where: sql.where === '' ? '' : `WHERE ${sql.where}`,
    orderLimit: `${keysetOrderBy(listing.order, dir)} LIMIT ${next()} OFFSET ${next()}`,
    params: [...sql.params, request.limit, request.offset],
  };
}

/** The cursor after a raw row of `order` (its sort and tie columns must be among the row's columns). */
export function keysetCursor(row: Record<string, unknown>, order: KeysetOrder): KeysetCursor {
  return { value: order.column === null ? null : row[order.column], ties: order.ties.map((t) => row[t]) };
}
