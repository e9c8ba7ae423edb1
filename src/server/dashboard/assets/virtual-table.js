/**
 * A table that creates rows only for what is on screen: a page of a thousand spans costs a few dozen rows
 * of DOM, not a thousand. The rows live in a scroll box of bounded height; spacer rows above and below stand
 * in for the rows not drawn, so the scroll bar and the row positions are those of the whole page. Rows are
 * of one height (cells do not wrap), measured from the first row drawn.
 *
 * Keyboard: each drawn row is focusable; Arrow Up/Down move between rows (scrolling as needed), Enter
 * selects, as in the plain tables.
 *
 * The selected row is named by its key in the box's `data-selected`, not held as a drawn row: it may be
 * scrolled out of the drawn window, and a live redraw (replaceKeepingState) hands it to the new table.
 */
import { h } from './dom.js';

/** Rows drawn above and below the visible ones, so a fast scroll shows no gap. */
const OVERSCAN = 12;
/** Row height before one is measured (the stylesheet's row height). */
const DEFAULT_ROW_PX = 45;

/**
 * @template T
 * @param {Array<{ title: string, cell: (row: T) => Node | string, className?: string }>} columns
 * @param {T[]} rows
 * @param {{ onRowClick?: (row: T, tr: HTMLElement) => void, empty?: string, rowKey?: (row: T) => string }} [options]
 */
export function virtualTable(columns, rows, options = {}) {
  const head = h(
    'thead',
    {},
    h(
      'tr',
      {},
      columns.map((c) => h('th', { className: c.className }, c.title)),
    ),
  );
  const body = h('tbody');
  const box = h('div', { className: 'table-wrap virtual' }, h('table', {}, head, body));
  if (rows.length === 0) {
    body.append(
      h(
        'tr',
        {},
        h('td', { className: 'empty', colSpan: columns.length }, options.empty ?? 'Nothing here yet.'),
      ),
    );
    return box;
  }
  let rowPx = DEFAULT_ROW_PX;
  // Without row keys the selection is the row's index.
  let selected = -1;
  let first = -1;
  let last = -1;
  /** @param {number} px */
  const spacer = (px) => {
    const td = h('td', { colSpan: columns.length, className: 'spacer' });
    td.style.height = `${px}px`;
    return h('tr', { 'aria-hidden': 'true' }, td);
  };
  /** @param {number} index */
  const rowElement = (index) => {
    const row = /** @type {T} */ (rows[index]);
    const tr = h(
      'tr',
      {},
      columns.map((c) => h('td', { className: c.className }, c.cell(row))),
    );
    tr.dataset.index = String(index);
    const key = options.rowKey?.(row);
    if (key !== undefined) tr.dataset.key = key;
    if (key === undefined ? index === selected : key === box.dataset.selected) tr.classList.add('selected');
    if (options.onRowClick) {
      tr.classList.add('clickable');
      tr.tabIndex = 0;
      const select = () => {
        selected = index;
        if (key !== undefined) box.dataset.selected = key;
        for (const other of body.querySelectorAll('tr.selected')) other.classList.remove('selected');
        tr.classList.add('selected');
        options.onRowClick?.(row, tr);
      };
      tr.addEventListener('click', select);
      tr.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') select();
        else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
          event.preventDefault();
          focusRow(index + (event.key === 'ArrowDown' ? 1 : -1));
        }
      });
    }
    return tr;
  };
  /** @param {boolean} force */
  const draw = (force) => {
    const height = box.clientHeight || 600;
    const from = Math.max(0, Math.floor(box.scrollTop / rowPx) - OVERSCAN);
    const to = Math.min(rows.length, Math.ceil((box.scrollTop + height) / rowPx) + OVERSCAN);
    if (!force && from === first && to === last) return;
    first = from;
    last = to;
    const drawn = [];
    for (let i = from; i < to; i++) drawn.push(rowElement(i));
    body.replaceChildren(spacer(from * rowPx), ...drawn, spacer((rows.length - to) * rowPx));
    const measured = drawn[0]?.getBoundingClientRect().height;
    if (measured && Math.abs(measured - rowPx) > 0.5) {
      rowPx = measured;
      draw(true);
    }
  };
  /** @param {number} index */
  const focusRow = (index) => {
    if (index < 0 || index >= rows.length) return;
    const top = index * rowPx;
    if (top < box.scrollTop) box.scrollTop = top;
    else if (top + rowPx > box.scrollTop + box.clientHeight - rowPx)
      box.scrollTop = top - box.clientHeight + 2 * rowPx;
    draw(false);
    /** @type {HTMLElement | null} */ (body.querySelector(`tr[data-index="${index}"]`))?.focus();
  };
  let pending = false;
  box.addEventListener('scroll', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw(false);
    });
  });
  // The box has a size only once it is in the page: draw a first window now, the real one when attached.
  draw(true);
  new ResizeObserver(() => draw(false)).observe(box);
  return box;
}
