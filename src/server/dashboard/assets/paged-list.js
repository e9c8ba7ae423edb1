/**
 * Paged lists of API collections, as shown by most views.
 */
import { h, pager } from './dom.js';
import { showError } from './page.js';
import { stale } from './view-state.js';

/** Rows per page of the rollouts, resources and runners lists. */
export const PAGE_SIZE = 20;
/** Spans per page of a rollout's or an attempt's trace. */
export const SPAN_PAGE_SIZE = 200;

/**
 * A paged list of one API collection: `fetchPage(offset)` gets a page, `render(rows)` draws it above a
 * pager, failures are shown in place. `load(offset)` moves to a page; `load()` reloads the current one.
 * @param {number} ticket
 * @param {{ pageSize: number, fetchPage: (offset: number) => Promise<any>, render: (rows: any[]) => Node,
 *   onOffset?: (offset: number) => void, offset?: number }} spec
 */
export function pagedList(ticket, spec) {
  const host = h('div', {}, h('p', { className: 'muted' }, 'Loading…'));
  let offset = spec.offset ?? 0;
  /** @param {number} [next] */
  const load = async (next = offset) => {
    offset = next;
    spec.onOffset?.(offset);
    try {
      const page = await spec.fetchPage(offset);
      if (stale(ticket)) return;
      const rows = /** @type {any[]} */ (page.items ?? []);
      host.replaceChildren(
        spec.render(rows),
        pager({
          offset,
          count: rows.length,
          total: page.total ?? rows.length,
          limit: spec.pageSize,
          onPage: load,
        }),
      );
    } catch (error) {
      if (!stale(ticket)) showError(host, error);
    }
  };
  return { host, load };
}
