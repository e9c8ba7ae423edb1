/**
 * DOM building for the dashboard's views: the `h` element helper and the pieces made with it (tables,
 * pager, facts, badges, links, search and select boxes). Every string child becomes a text node, so data
 * can never turn into markup.
 */
import { formatRemaining, pageLabel, routeHash, statusBadgeClass, statusLabel } from './format.js';

/**
 * @param {string} tag
 * @param {Record<string, unknown>} [props] `className`, `value`, `type`... are set as properties, `on*` as
 *   listeners, anything else as an attribute.
 * @param {...(Node | string | number | null | undefined | false | Array<Node | string>)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el) /** @type {Record<string, unknown>} */ (el)[key] = value;
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
  return el;
}

/** @param {unknown} status */
export const badge = (status) => h('span', { className: statusBadgeClass(status) }, statusLabel(status));

/** @param {string} text */
export const mono = (text) => h('span', { className: 'mono' }, text);

/**
 * A table from column definitions.
 * @template T
 * @param {Array<{ title: string, cell: (row: T) => Node | string, className?: string }>} columns
 * @param {T[]} rows
 * @param {{ onRowClick?: (row: T, tr: HTMLElement) => void, empty?: string, rowKey?: (row: T) => string }} [options]
 *   `rowKey` names each row (`data-key`), so a live refresh can keep the user's selection and focus.
 */
export function table(columns, rows, options = {}) {
  const head = h(
    'tr',
    {},
    columns.map((c) => h('th', { className: c.className }, c.title)),
  );
  const body = rows.map((row) => {
    const tr = h(
      'tr',
      {},
      columns.map((c) => h('td', { className: c.className }, c.cell(row))),
    );
    if (options.rowKey) tr.dataset.key = options.rowKey(row);
    if (options.onRowClick) {
      tr.classList.add('clickable');
      tr.tabIndex = 0;
      const select = () => {
        for (const other of tr.parentElement?.children ?? []) other.classList.remove('selected');
        tr.classList.add('selected');
        options.onRowClick?.(row, tr);
      };
      tr.addEventListener('click', select);
      tr.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') select();
      });
    }
    return tr;
  });
  if (rows.length === 0) {
    body.push(
      h(
        'tr',
        {},
        h('td', { className: 'empty', colSpan: columns.length }, options.empty ?? 'Nothing here yet.'),
      ),
    );
  }
  return h('div', { className: 'table-wrap' }, h('table', {}, h('thead', {}, head), h('tbody', {}, body)));
}

/**
 * Previous / next buttons and the `1–20 of 57` label.
 * @param {{ offset: number, count: number, total: number, limit: number, onPage: (offset: number) => void }} p
 */
export function pager({ offset, count, total, limit, onPage }) {
  return h(
    'div',
    { className: 'pager' },
    h('span', { className: 'muted' }, pageLabel(offset, count, total)),
    h(
      'button',
      {
        type: 'button',
        className: 'button',
        disabled: offset <= 0,
        onclick: () => onPage(Math.max(0, offset - limit)),
      },
      'Previous',
    ),
    h(
      'button',
      {
        type: 'button',
        className: 'button',
        disabled: offset + count >= total,
        onclick: () => onPage(offset + limit),
      },
      'Next',
    ),
  );
}

/**
 * A two-column list of facts.
 * @param {Array<[string, Node | string]>} pairs
 */
export function facts(pairs) {
  return h(
    'dl',
    { className: 'facts' },
    pairs.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)]),
  );
}

/** @param {string} text */
export const pre = (text) => h('pre', { className: 'json' }, text);

/** @param {string} view @param {Record<string, string | undefined>} [params] @param {string} [label] */
export const link = (view, params, label = '') =>
  h('a', { href: routeHash(/** @type {import('./format.js').Route['view']} */ (view), params) }, label);

/** @param {() => void} onclick */
export const refreshButton = (onclick) =>
  h('button', { type: 'button', className: 'button', onclick }, 'Refresh');

/** @param {string} title @param {...Node} extra */
export const titleRow = (title, ...extra) =>
  h('div', { className: 'title-row' }, h('h1', {}, title), ...extra);

/**
 * A search field labelled by its placeholder.
 * @param {string} placeholder @param {string} value @param {string} [className]
 */
export const searchBox = (placeholder, value, className = 'search') =>
  /** @type {HTMLInputElement} */ (
    h('input', { type: 'search', className, placeholder, value, 'aria-label': placeholder })
  );

/**
 * A drop-down of `[value, text]` options with `value` chosen.
 * @param {string} label @param {Array<[string, string]>} options @param {string} value
 */
export function selectBox(label, options, value) {
  const select = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { 'aria-label': label },
      options.map(([v, text]) => h('option', { value: v }, text)),
    )
  );
  select.value = value;
  return select;
}

/**
 * Remaining time until `expiresAtMs` (epoch ms), counting down every second (see tickCountdowns); `-`
 * without an expiry.
 * @param {unknown} expiresAtMs
 */
export function countdown(expiresAtMs) {
  if (typeof expiresAtMs !== 'number') return h('span', {}, '-');
  const el = h('span', { className: 'countdown nowrap' }, formatRemaining(expiresAtMs - Date.now()));
  el.dataset.expires = String(expiresAtMs);
  return el;
}

/** Updates every countdown on the page (app.js calls it once a second). */
export function tickCountdowns() {
  const now = Date.now();
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('.countdown'))) {
    el.textContent = formatRemaining(Number(el.dataset.expires) - now);
  }
}
