/**
 * The ORDER BY clause of a paged query. The sort direction is the backend's (PostgreSQL spells out where
 * NULLs go so that it orders them as SQLite does); the clause around it is the same in both.
 */

/**
 * `ORDER BY column dir, tieBreak... dir`; when there is no sort column, or it is the first tie-break column
 * itself, the tie-break columns alone (sorting on one column twice would only cost time).
 */
export function orderBy(column: string | null, tieBreaks: readonly string[], dir: string): string {
  const columns = column === null || column === tieBreaks[0] ? tieBreaks : [column, ...tieBreaks];
  return `ORDER BY ${columns.map((c) => `${c} ${dir}`).join(', ')}`;
}
