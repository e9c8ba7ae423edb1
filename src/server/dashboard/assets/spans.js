/**
 * Spans as shown by the rollout and traces views: a table, a waterfall, and the details of the one clicked.
 */
import { badge, facts, h, mono, table } from './dom.js';
import { attributeRows, formatDuration, formatTime, previewValue, waterfallLayout } from './format.js';
import { virtualTable } from './virtual-table.js';

/**
 * The details of one span: ids, timing, status, attributes, events and resource.
 * @param {any} span
 */
function spanDetails(span) {
  const rows = (/** @type {unknown} */ record, /** @type {string} */ empty) =>
    table(
      [
        { title: 'Key', cell: (/** @type {[string, string]} */ r) => mono(r[0]), className: 'nowrap' },
        {
          title: 'Value',
          cell: (/** @type {[string, string]} */ r) => h('span', { className: 'mono wrap' }, r[1]),
        },
      ],
      attributeRows(record),
      { empty },
    );
  const events = Array.isArray(span.events) ? span.events : [];
  return h(
    'section',
    { className: 'panel' },
    h('h2', {}, span.name ?? '(unnamed span)'),
    facts([
      ['Span id', mono(String(span.span_id ?? '-'))],
      ['Trace id', mono(String(span.trace_id ?? '-'))],
      ['Parent id', mono(String(span.parent_id ?? '-'))],
      ['Attempt', mono(String(span.attempt_id ?? '-'))],
      ['Sequence', String(span.sequence_id ?? '-')],
      ['Status', h('span', {}, badge(span.status?.status_code), ' ', span.status?.description ?? '')],
      ['Start', formatTime(span.start_time, { millis: true })],
      ['End', formatTime(span.end_time, { millis: true })],
      ['Duration', formatDuration(span.start_time, span.end_time)],
    ]),
    h('h3', {}, 'Attributes'),
    rows(span.attributes, 'No attributes.'),
    h('h3', {}, `Events (${events.length})`),
    events.length === 0
      ? h('p', { className: 'muted' }, 'No events.')
      : table(
          [
            { title: 'Name', cell: (/** @type {any} */ e) => String(e.name ?? '') },
            {
              title: 'Time',
              cell: (/** @type {any} */ e) => formatTime(e.timestamp, { millis: true }),
              className: 'nowrap',
            },
            { title: 'Attributes', cell: (/** @type {any} */ e) => mono(previewValue(e.attributes, 200)) },
          ],
          events,
        ),
    h('h3', {}, 'Resource'),
    rows(span.resource?.attributes, 'No resource attributes.'),
  );
}

/**
 * A spans table; clicking a row shows the span's details in `detailHost`.
 * @param {any[]} spans
 * @param {HTMLElement} detailHost
 */
export function spansTable(spans, detailHost) {
  return virtualTable(
    [
      { title: 'Name', cell: (s) => String(s.name ?? '') },
      { title: 'Seq.', cell: (s) => String(s.sequence_id ?? '') },
      { title: 'Span id', cell: (s) => mono(String(s.span_id ?? '')), className: 'nowrap' },
      { title: 'Status', cell: (s) => badge(s.status?.status_code) },
      { title: 'Start time', cell: (s) => formatTime(s.start_time, { millis: true }), className: 'nowrap' },
      { title: 'Duration', cell: (s) => formatDuration(s.start_time, s.end_time), className: 'nowrap' },
    ],
    spans,
    {
      onRowClick: (s) => detailHost.replaceChildren(spanDetails(s)),
      empty: 'No spans.',
      rowKey: (s) => `${s.attempt_id}\u0000${s.span_id}`,
    },
  );
}

/**
 * Spans as bars on one time axis, indented by nesting; clicking a bar's row shows the span's details.
 * @param {any[]} spans
 * @param {HTMLElement} detailHost
 */
export function waterfall(spans, detailHost) {
  if (spans.length === 0) return h('p', { className: 'muted' }, 'No spans.');
  const layout = waterfallLayout(spans);
  const rows = layout.map((row) => {
    const span = spans[row.index];
    const bar = h('div', { className: `bar ${span.status?.status_code === 'ERROR' ? 'bar-error' : ''}` });
    // CSSOM writes are allowed by the style-src 'self' policy (only style attributes and <style> are not).
    bar.style.left = `${row.leftPct}%`;
    bar.style.width = `max(2px, ${row.widthPct}%)`;
    const label = h(
      'div',
      { className: 'wf-label', title: String(span.name ?? '') },
      String(span.name ?? ''),
    );
    label.style.paddingLeft = `${Math.min(row.depth, 12) * 14 + 8}px`;
    const tr = h(
      'div',
      { className: 'wf-row clickable', tabIndex: 0 },
      label,
      h('div', { className: 'wf-track' }, bar),
      h('div', { className: 'wf-duration muted' }, formatDuration(span.start_time, span.end_time)),
    );
    const select = () => {
      for (const other of tr.parentElement?.children ?? []) other.classList.remove('selected');
      tr.classList.add('selected');
      detailHost.replaceChildren(spanDetails(span));
    };
    tr.addEventListener('click', select);
    tr.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') select();
    });
    return tr;
  });
  return h('div', { className: 'waterfall' }, rows);
}
