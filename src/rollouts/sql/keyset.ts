/**
 * Keyset paging for reads of any size (`limit: -1` is "all"): the rows are read a page at a time, each page
 * starting after the last row of the one before (by the sort column and a unique tie-break column), so every
 * page costs an index seek, not an OFFSET past everything already read: linear in the whole, bounded per
 * statement. Shared by SQLite and PostgreSQL; both order NULLs first ascending and last descending.
 */
import { type Page, READ_PAGE_ROWS } from '../query.ts';
import type { Sql } from './filters.ts';

/** Where the next page starts: the sort column's value and the tie-break column's value of the last row. */
export interface KeysetCursor {
  value: unknown;
  tie: unknown;
}

/**
 * The condition "after `cursor`" in the order `ORDER BY column dir, tie dir` (orderBy of ./order.ts), `next`
 * giving each parameter's placeholder. `column` null (or the tie column itself): the tie column alone.
 */
export function keysetAfter(
  column: string | null,
  tie: string,
  desc: boolean,
  cursor: KeysetCursor,
  next: () => string,
): Sql {
  const beyond = desc ? '<' : '>';
  if (column === null || column === tie) return { where: `${tie} ${beyond} ${next()}`, params: [cursor.tie] };
  if (cursor.value === null || cursor.value === undefined) {
    // NULLs come first ascending: after a NULL come the later NULLs, then every non-NULL value. Descending
    // they come last: only the later NULLs.
    const tail = `${column} IS NULL AND ${tie} ${beyond} ${next()}`;
    return { where: desc ? `(${tail})` : `((${tail}) OR ${column} IS NOT NULL)`, params: [cursor.tie] };
  }
  const strictly = `${column} ${beyond} ${next()}`;
  const tieCase = `(${column} = ${next()} AND ${tie} ${beyond} ${next()})`;
  return {
    where: desc ? `(${strictly} OR ${column} IS NULL OR ${tieCase})` : `(${strictly} OR ${tieCase})`,
    params: [cursor.value, cursor.value, cursor.tie],
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

/** The cursor after a raw row: its `column` value (null when unsorted) and its `tie` value. */
export function keysetCursor(row: Record<string, unknown>, column: string | null, tie: string): KeysetCursor {
  return { value: column === null ? null : row[column], tie: row[tie] };
}
