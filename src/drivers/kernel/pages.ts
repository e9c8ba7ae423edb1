import type { NamespaceQuery } from '../shared/validate.ts';
import type { Page } from './storage.ts';

/**
 * The page of `limit` items from `sorted`, which may hold one more than asked: it says that another page
 * exists, which then starts after this page's last item.
 */
export function pageOf<T>(sorted: T[], limit: number, idOf: (item: T) => string): Page<T> {
  if (sorted.length <= limit) return { items: sorted };
  const items = sorted.slice(0, limit);
  return { items, last: idOf(items[limit - 1]!) };
}

/** The page of `names` (any order, no repeats) after `query.after`, sorted. */
export function namespacePage(names: Iterable<string>, query: NamespaceQuery): Page<string> {
  const after = query.after;
  const sorted = [...names].filter((name) => after === undefined || name > after).sort(compareIds);
  return pageOf(sorted, query.limit, (name) => name);
}

/** Orders ids as JavaScript compares strings (UTF-16 code units), as every listing does. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
