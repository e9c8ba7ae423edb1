import { compareIds } from '../kernel/pages.ts';
import type { ListQuery } from '../shared/validate.ts';

// Pages shorter than this are selected while scanning; longer ones sort every matching id.
const SHORT_PAGE = 64;

/**
 * The first `query.limit + 1` ids of `ids` (any order) after `query.after` with `query.prefix` that
 * `live` accepts, sorted. A short page (the latest checkpoint of a thread is a page of 1) keeps only the
 * smallest limit + 1 ids while scanning, in a sorted array of at most SHORT_PAGE entries, instead of
 * sorting every matching id.
 */
export function firstIds(ids: Iterable<string>, query: ListQuery, live: (id: string) => boolean): string[] {
  const { limit, after, prefix } = query;
  const picked: string[] = [];
  const short = limit < SHORT_PAGE;
  for (const id of ids) {
    if (!id.startsWith(prefix) || (after !== undefined && id <= after) || !live(id)) continue;
    if (!short) picked.push(id);
    else if (picked.length <= limit || id < picked[limit]!) insertSorted(picked, id, limit + 1);
  }
  return short ? picked : picked.sort(compareIds).slice(0, limit + 1);
}

// Inserts `id` into the sorted `ids` and drops the largest entry beyond `keep`.
function insertSorted(ids: string[], id: string, keep: number): void {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (ids[middle]! < id) low = middle + 1;
    else high = middle;
  }
  ids.splice(low, 0, id);
  if (ids.length > keep) ids.pop();
}
