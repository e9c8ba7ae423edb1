/**
 * A viewer of values in the codec's tagged form (`{ "$t": "Map", "v": [...] }`): each value is shown with
 * its type (Map, Set, Date, bigint, bytes, a registered class...) so the user sees what the program stored,
 * not its JSON spelling. Text nodes only; depth and items are capped so a huge value cannot freeze the page.
 */
import { h } from './dom.js';
import { describeTagged } from './format.js';

const MAX_DEPTH = 12;
const MAX_ITEMS = 200;

/** @param {string} type */
const typeLabel = (type) => h('span', { className: 'value-type' }, type);

/**
 * @param {unknown} value encoded value
 * @param {number} depth
 * @returns {Node[]}
 */
function render(value, depth) {
  const d = describeTagged(value);
  if (d.children === undefined) return [typeLabel(d.type), d.text];
  if (depth >= MAX_DEPTH) return [typeLabel(d.type), '…'];
  const shown = d.children.slice(0, MAX_ITEMS);
  const items = shown.map(([key, child]) =>
    h('li', {}, h('span', { className: 'value-key' }, key), ':', ...render(child, depth + 1)),
  );
  if (d.children.length > MAX_ITEMS) {
    items.push(h('li', { className: 'muted' }, `… ${d.children.length - MAX_ITEMS} more`));
  }
  return [typeLabel(d.type), h('ul', {}, items)];
}

/**
 * The typed tree of an encoded value.
 * @param {unknown} encoded
 */
export const valueTree = (encoded) => h('div', { className: 'value-tree' }, ...render(encoded, 0));
