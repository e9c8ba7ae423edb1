/**
 * Paged lists of API collections, as shown by most views.
 */
import { h, pager } from './dom.js';
import { showError } from './page.js';
import { stale } from './view-state.js';

/**
 * Replaces `host`'s content with `nodes` keeping what the user was doing: the selected row and the focused
 * row (by `data-key`), and the scroll position of tables. Rows whose data changed get the `updated` flash.
 * @param {HTMLElement} host @param {Node[]} nodes @param {Set<string>} changedKeys
 */
export function replaceKeepingState(host, nodes, changedKeys) {
  // A virtual table names its selected row itself: it may be scrolled out of the rows drawn.
  const selected =
    /** @type {HTMLElement | null} */ (host.querySelector('tr.selected'))?.dataset.key ??
    /** @type {HTMLElement | null} */ (host.querySelector('.table-wrap[data-selected]'))?.dataset.selected;
  const active = document.activeElement;
  const focusedKey =
    active instanceof HTMLElement && host.contains(active) ? active.closest('tr')?.dataset.key : undefined;
  const scrolls = [...host.querySelectorAll('.table-wrap')].map((el) => [el.scrollTop, el.scrollLeft]);
  host.replaceChildren(...nodes);
  [...host.querySelectorAll('.table-wrap')].forEach((el, i) => {
    if (selected !== undefined && el.classList.contains('virtual')) {
      /** @type {HTMLElement} */ (el).dataset.selected = selected;
    }
    const [top = 0, left = 0] = scrolls[i] ?? [];
    el.scrollTop = top;
    el.scrollLeft = left;
  });
  for (const tr of /** @type {NodeListOf<HTMLElement>} */ (host.querySelectorAll('tr[data-key]'))) {
    const key = tr.dataset.key ?? '';
    if (key === selected) tr.classList.add('selected');
    if (changedKeys.has(key)) tr.classList.add('updated');
    if (key === focusedKey) tr.focus({ preventScroll: true });
  }
}

/** Rows per page of the rollouts, resources and runners lists. */
export const PAGE_SIZE = 20;
/** Rows per page of the rollouts list (drawn as a virtualised table). */
export const ROLLOUT_PAGE_SIZE = 100;
/** Spans per page of a rollout's or an attempt's trace (drawn as a virtualised table). */
export const SPAN_PAGE_SIZE = 500;

/**
 * A paged list of one API collection: `fetchPage(offset)` gets a page, `render(rows)` draws it above a
 * pager, failures are shown in place. `load(offset)` moves to a page; `load()` reloads the current one.
 * @param {number} ticket
 * `refresh()` re-reads the current page for a live update and redraws it in place (see replaceKeepingState),
 * only when something changed.
 * @param {{ pageSize: number, fetchPage: (offset: number) => Promise<any>, render: (rows: any[]) => Node,
 *   onOffset?: (offset: number) => void, offset?: number, rowKey?: (row: any) => string }} spec
 */
export function pagedList(ticket, spec) {
  const host = h('div', {}, h('p', { className: 'muted' }, 'Loading…'));
  let offset = spec.offset ?? 0;
  /** @type {Map<string, string>} */
  let shown = new Map();
  let shownText = '';
  /** @param {any} page @param {boolean} live */
  const draw = (page, live) => {
    const rows = /** @type {any[]} */ (page.items ?? []);
    const text = JSON.stringify([offset, page.total, rows]);
    if (live && text === shownText) return;
    shownText = text;
    /** @type {Map<string, string>} */
    const next = new Map();
    const changed = new Set();
    for (const row of rows) {
      if (!spec.rowKey) break;
      const key = spec.rowKey(row);
      const json = JSON.stringify(row);
      next.set(key, json);
      if (live && shown.get(key) !== json) changed.add(key);
    }
    shown = next;
    const nodes = [
      spec.render(rows),
      pager({
        offset,
        count: rows.length,
        total: page.total ?? rows.length,
        limit: spec.pageSize,
        onPage: load,
      }),
    ];
    if (live) replaceKeepingState(host, nodes, changed);
    else host.replaceChildren(...nodes);
  };
  /** @param {number} [next] */
  const load = async (next = offset) => {
    offset = next;
    spec.onOffset?.(offset);
    try {
      const page = await spec.fetchPage(offset);
      if (stale(ticket)) return;
      draw(page, false);
    } catch (error) {
      if (!stale(ticket)) showError(host, error);
    }
  };
  const refresh = async () => {
    try {
      const page = await spec.fetchPage(offset);
      if (!stale(ticket)) draw(page, true);
    } catch {
      // A failed live refresh keeps the rows shown; the connection badge tells the user.
    }
  };
  return { host, load, refresh };
}

/**
 * A list of a document namespace, paged by the store's cursor (`/v1/state/:namespace?prefix&cursor`):
 * Next follows the cursor, Previous goes back through the cursors already seen.
 * @param {number} ticket
 * @param {{ fetchPage: (cursor: string | undefined) => Promise<any>, render: (rows: any[]) => Node,
 *   rowKey: (row: any) => string }} spec
 */
export function cursorList(ticket, spec) {
  const host = h('div', {}, h('p', { className: 'muted' }, 'Loading…'));
  /** @type {Array<string | undefined>} */
  let cursors = [undefined];
  let shownText = '';
  /** @type {Map<string, string>} */
  let shown = new Map();
  /** @param {boolean} live */
  const show = async (live) => {
    try {
      const page = await spec.fetchPage(cursors[cursors.length - 1]);
      if (stale(ticket)) return;
      const rows = /** @type {any[]} */ (page.items ?? []);
      const text = JSON.stringify(rows);
      if (live && text === shownText) return;
      shownText = text;
      const changed = new Set();
      /** @type {Map<string, string>} */
      const next = new Map();
      for (const row of rows) {
        const json = JSON.stringify(row);
        next.set(spec.rowKey(row), json);
        if (live && shown.get(spec.rowKey(row)) !== json) changed.add(spec.rowKey(row));
      }
      shown = next;
      const nav = h(
        'div',
        { className: 'pager' },
        h('span', { className: 'muted' }, `Page ${cursors.length}, ${rows.length} shown`),
        h(
          'button',
          {
            type: 'button',
            className: 'button',
            disabled: cursors.length <= 1,
            onclick: () => {
              cursors.pop();
              void show(false);
            },
          },
          'Previous',
        ),
        h(
          'button',
          {
            type: 'button',
            className: 'button',
            disabled: !page.cursor,
            onclick: () => {
              cursors.push(page.cursor);
              void show(false);
            },
          },
          'Next',
        ),
      );
      replaceKeepingState(host, [spec.render(rows), nav], changed);
    } catch (error) {
      if (!stale(ticket)) showError(host, error);
    }
  };
  return {
    host,
    /** Back to the first page (after a filter change). */
    load: () => {
      cursors = [undefined];
      return show(false);
    },
    /** Re-reads the page shown, in place. */
    refresh: () => show(true),
  };
}
