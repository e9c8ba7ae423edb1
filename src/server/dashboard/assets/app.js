/**
 * The agentstate dashboard: rollouts, traces, resources and runners of the server's rollout store, read
 * through the Agent Lightning routes (`/v1/agl/...`, GET only, so a read-scoped token is enough).
 *
 * Everything the server returns is untrusted (rollout inputs and span attributes come from agents), so it
 * only ever reaches the page as text nodes, `textContent` or `value`: no HTML parsing, no markup built from
 * strings. The page's Content-Security-Policy forbids inline scripts as a second line of defence.
 */
import {
  attributeRows,
  buildQuery,
  describeApiError,
  formatDuration,
  formatTime,
  pageLabel,
  parseRoute,
  prettyJson,
  previewValue,
  ROLLOUT_STATUSES,
  routeHash,
  statusBadgeClass,
  statusLabel,
  waterfallLayout,
} from './format.js';

const TOKEN_KEY = 'agentstate.dashboard.token';
const PAGE_SIZE = 20;
const SPAN_PAGE_SIZE = 200;
const HEALTH_INTERVAL_MS = 5000;
const HEALTH_TIMEOUT_MS = 3000;

// ---------------------------------------------------------------------------------------------------------
// DOM building: every string child becomes a text node, so data can never turn into markup.

/**
 * @param {string} tag
 * @param {Record<string, unknown>} [props] `className`, `value`, `type`... are set as properties, `on*` as
 *   listeners, anything else as an attribute.
 * @param {...(Node | string | number | null | undefined | false | Array<Node | string>)} children
 * @returns {HTMLElement}
 */
function h(tag, props = {}, ...children) {
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
const badge = (status) => h('span', { className: statusBadgeClass(status) }, statusLabel(status));

/** @param {string} text */
const mono = (text) => h('span', { className: 'mono' }, text);

/**
 * A table from column definitions.
 * @template T
 * @param {Array<{ title: string, cell: (row: T) => Node | string, className?: string }>} columns
 * @param {T[]} rows
 * @param {{ onRowClick?: (row: T, tr: HTMLElement) => void, empty?: string }} [options]
 */
function table(columns, rows, options = {}) {
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
function pager({ offset, count, total, limit, onPage }) {
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
function facts(pairs) {
  return h(
    'dl',
    { className: 'facts' },
    pairs.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)]),
  );
}

/** @param {string} text */
const pre = (text) => h('pre', { className: 'json' }, text);

/** @param {string} view @param {Record<string, string | undefined>} [params] @param {string} [label] */
const link = (view, params, label = '') =>
  h('a', { href: routeHash(/** @type {import('./format.js').Route['view']} */ (view), params) }, label);

// ---------------------------------------------------------------------------------------------------------
// API access: GET only, bearer token from localStorage on every call.

function readToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return ''; // Storage disabled by the browser: the dashboard still works against an open server.
  }
}

/** @param {string} token */
function writeToken(token) {
  try {
    if (token === '') localStorage.removeItem(TOKEN_KEY);
    else localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Nothing to do: the token then lasts until the page is reloaded.
  }
}

let sessionToken = readToken();

function requestHeaders() {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (sessionToken !== '') headers.authorization = `Bearer ${sessionToken}`;
  return headers;
}

class ApiError extends Error {
  /** @param {string} message @param {boolean} needsToken */
  constructor(message, needsToken) {
    super(message);
    this.needsToken = needsToken;
  }
}

/**
 * GETs a JSON document from the API.
 * @param {string} path
 * @param {Record<string, unknown>} [params]
 * @returns {Promise<any>}
 */
async function api(path, params = {}) {
  let response;
  try {
    response = await fetch(`${path}${buildQuery(params)}`, { headers: requestHeaders(), cache: 'no-store' });
  } catch {
    throw new ApiError('The server cannot be reached.', false);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  if (!response.ok) {
    const { message, needsToken } = describeApiError(response.status, body);
    throw new ApiError(message, needsToken);
  }
  return body;
}

// ---------------------------------------------------------------------------------------------------------
// Page chrome: notice banner, token form, connection indicator, navigation.

const notice = /** @type {HTMLElement} */ (document.getElementById('notice'));
const tokenInput = /** @type {HTMLInputElement} */ (document.getElementById('token'));
const tokenForm = /** @type {HTMLFormElement} */ (document.getElementById('token-form'));
const connection = /** @type {HTMLElement} */ (document.getElementById('connection'));
const viewRoot = /** @type {HTMLElement} */ (document.getElementById('view'));

/** @param {string} message @param {boolean} [needsToken] */
function showNotice(message, needsToken = false) {
  notice.textContent = message;
  notice.hidden = false;
  tokenForm.classList.toggle('attention', needsToken);
}

function clearNotice() {
  notice.hidden = true;
  notice.textContent = '';
  tokenForm.classList.remove('attention');
}

/**
 * Shows an API failure in `host` (and, for a missing or weak token, in the page-wide notice).
 * @param {HTMLElement} host
 * @param {unknown} error
 */
function showError(host, error) {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError && error.needsToken) {
    // The page-wide notice says what to do; repeating it in every panel would only add noise.
    showNotice(message, true);
    host.replaceChildren(h('p', { className: 'muted' }, 'Nothing to show without a valid access token.'));
    return;
  }
  host.replaceChildren(h('div', { className: 'error-box' }, message));
}

tokenInput.value = sessionToken;
tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionToken = tokenInput.value.trim();
  writeToken(sessionToken);
  clearNotice();
  render();
});

async function checkHealth() {
  let online = false;
  try {
    const response = await fetch('/v1/agl/health', {
      headers: requestHeaders(),
      cache: 'no-store',
      signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
    });
    online = response.ok;
  } catch {
    online = false;
  }
  connection.className = online ? 'badge badge-ok' : 'badge badge-error';
  connection.textContent = online ? 'ONLINE' : 'OFFLINE';
}

/** @type {HTMLElement} */ (document.getElementById('server-origin')).textContent = location.origin;

// ---------------------------------------------------------------------------------------------------------
// Views. Each renders into a fresh container; `current` guards against a slow answer of a view the user
// already left overwriting the one now shown.

let current = 0;

/** @param {number} ticket */
const stale = (ticket) => ticket !== current;

/**
 * A paged list of one API collection: `fetchPage(offset)` gets a page, `render(rows)` draws it above a
 * pager, failures are shown in place. `load(offset)` moves to a page; `load()` reloads the current one.
 * @param {number} ticket
 * @param {{ pageSize: number, fetchPage: (offset: number) => Promise<any>, render: (rows: any[]) => Node,
 *   onOffset?: (offset: number) => void, offset?: number }} spec
 */
function pagedList(ticket, spec) {
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

/** @param {() => void} onclick */
const refreshButton = (onclick) => h('button', { type: 'button', className: 'button', onclick }, 'Refresh');

/** @param {string} title @param {...Node} extra */
const titleRow = (title, ...extra) => h('div', { className: 'title-row' }, h('h1', {}, title), ...extra);

/**
 * A search field labelled by its placeholder.
 * @param {string} placeholder @param {string} value @param {string} [className]
 */
const searchBox = (placeholder, value, className = 'search') =>
  /** @type {HTMLInputElement} */ (
    h('input', { type: 'search', className, placeholder, value, 'aria-label': placeholder })
  );

/**
 * A drop-down of `[value, text]` options with `value` chosen.
 * @param {string} label @param {Array<[string, string]>} options @param {string} value
 */
function selectBox(label, options, value) {
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
 * Puts a view's filters in the address without a hashchange event (which would rebuild the view), so a
 * reload or a shared link keeps them; empty values are left out.
 * @param {import('./format.js').Route['view']} view @param {Record<string, string | undefined>} params
 */
const rememberRoute = (view, params) => history.replaceState(null, '', routeHash(view, params));

/** @param {Record<string, string>} params @param {number} ticket */
function rolloutsView(params, ticket) {
  const state = {
    q: params.q ?? '',
    status: ROLLOUT_STATUSES.includes(params.status ?? '') ? (params.status ?? '') : '',
  };
  const search = searchBox('Search by rollout id', state.q);
  const status = selectBox(
    'Status',
    [['', 'All statuses'], ...ROLLOUT_STATUSES.map((v) => /** @type {[string, string]} */ ([v, v]))],
    state.status,
  );

  const list = pagedList(ticket, {
    pageSize: PAGE_SIZE,
    offset: Math.max(0, Number.parseInt(params.offset ?? '0', 10) || 0),
    onOffset: (offset) =>
      rememberRoute('rollouts', { ...state, offset: offset ? String(offset) : undefined }),
    fetchPage: (offset) =>
      api('/v1/agl/rollouts', {
        rollout_id_contains: state.q,
        status_in: state.status ? [state.status] : undefined,
        limit: PAGE_SIZE,
        offset,
        sort_by: 'start_time',
        sort_order: 'desc',
      }),
    render: (rows) =>
      table(
        [
          {
            title: 'Rollout',
            cell: (r) => link('rollout', { id: r.rollout_id }, r.rollout_id),
            className: 'nowrap',
          },
          { title: 'Input', cell: (r) => mono(previewValue(r.input, 90)), className: 'preview' },
          { title: 'Status', cell: (r) => badge(r.status) },
          { title: 'Start time', cell: (r) => formatTime(r.start_time), className: 'nowrap' },
          {
            title: 'Attempts',
            cell: (r) =>
              r.attempt
                ? h('span', { className: 'nowrap' }, `${r.attempt.sequence_id} `, badge(r.attempt.status))
                : '-',
          },
          { title: '', cell: (r) => link('traces', { rollout: r.rollout_id }, 'Traces') },
        ],
        rows,
        { empty: state.q || state.status ? 'No rollout matches these filters.' : 'No rollouts yet.' },
      ),
  });

  let typing = 0;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = window.setTimeout(() => {
      state.q = search.value.trim();
      void list.load(0);
    }, 300);
  });
  status.addEventListener('change', () => {
    state.status = status.value;
    void list.load(0);
  });
  void list.load();
  return [
    h('h1', {}, 'Rollouts'),
    h(
      'div',
      { className: 'toolbar' },
      search,
      status,
      refreshButton(() => void list.load()),
    ),
    list.host,
  ];
}

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
function spansTable(spans, detailHost) {
  return table(
    [
      { title: 'Name', cell: (s) => String(s.name ?? '') },
      { title: 'Seq.', cell: (s) => String(s.sequence_id ?? '') },
      { title: 'Span id', cell: (s) => mono(String(s.span_id ?? '')), className: 'nowrap' },
      { title: 'Status', cell: (s) => badge(s.status?.status_code) },
      { title: 'Start time', cell: (s) => formatTime(s.start_time, { millis: true }), className: 'nowrap' },
      { title: 'Duration', cell: (s) => formatDuration(s.start_time, s.end_time), className: 'nowrap' },
    ],
    spans,
    { onRowClick: (s) => detailHost.replaceChildren(spanDetails(s)), empty: 'No spans.' },
  );
}

/**
 * Spans as bars on one time axis, indented by nesting; clicking a bar's row shows the span's details.
 * @param {any[]} spans
 * @param {HTMLElement} detailHost
 */
function waterfall(spans, detailHost) {
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

/** @param {Record<string, string>} params @param {number} ticket */
function rolloutView(params, ticket) {
  const id = params.id ?? '';
  const host = h('div', {}, h('p', { className: 'muted' }, 'Loading…'));
  (async () => {
    try {
      const [rollout, attempts, spans] = await Promise.all([
        api(`/v1/agl/rollouts/${encodeURIComponent(id)}`),
        api(`/v1/agl/rollouts/${encodeURIComponent(id)}/attempts`, {
          sort_by: 'sequence_id',
          sort_order: 'desc',
        }),
        api('/v1/agl/spans', {
          rollout_id: id,
          limit: SPAN_PAGE_SIZE,
          sort_by: 'start_time',
          sort_order: 'asc',
        }),
      ]);
      if (stale(ticket)) return;
      if (rollout === null) {
        host.replaceChildren(h('div', { className: 'error-box' }, `No rollout with id ${id}.`));
        return;
      }
      const detail = h('div');
      const spanItems = spans.items ?? [];
      host.replaceChildren(
        h('div', { className: 'title-row' }, h('h1', {}, id), badge(rollout.status)),
        facts([
          ['Mode', String(rollout.mode ?? '-')],
          ['Resources', rollout.resources_id ? mono(rollout.resources_id) : '-'],
          ['Start', formatTime(rollout.start_time)],
          ['End', formatTime(rollout.end_time)],
          ['Duration', formatDuration(rollout.start_time, rollout.end_time)],
          ['Traces', link('traces', { rollout: id }, 'Open in Traces')],
        ]),
        h('h2', {}, 'Input'),
        pre(prettyJson(rollout.input)),
        h('h2', {}, `Attempts (${attempts.total ?? 0})`),
        table(
          [
            { title: '#', cell: (a) => String(a.sequence_id) },
            {
              title: 'Attempt id',
              cell: (a) => link('traces', { rollout: id, attempt: a.attempt_id }, a.attempt_id),
              className: 'nowrap',
            },
            { title: 'Status', cell: (a) => badge(a.status) },
            { title: 'Worker', cell: (a) => String(a.worker_id ?? '-') },
            { title: 'Start time', cell: (a) => formatTime(a.start_time), className: 'nowrap' },
            { title: 'Duration', cell: (a) => formatDuration(a.start_time, a.end_time) },
            { title: 'Last heartbeat', cell: (a) => formatTime(a.last_heartbeat_time), className: 'nowrap' },
          ],
          /** @type {any[]} */ (attempts.items ?? []),
          { empty: 'No attempt yet.' },
        ),
        h(
          'h2',
          {},
          `Spans (${spans.total ?? spanItems.length}${spanItems.length < (spans.total ?? 0) ? `, first ${spanItems.length}` : ''})`,
        ),
        spansTable(spanItems, detail),
        detail,
        h('h2', {}, 'Config and metadata'),
        pre(prettyJson({ config: rollout.config, metadata: rollout.metadata })),
      );
    } catch (error) {
      if (!stale(ticket)) showError(host, error);
    }
  })();
  return [h('p', {}, link('rollouts', {}, '← Rollouts')), host];
}

/** @param {Record<string, string>} params @param {number} ticket */
function tracesView(params, ticket) {
  const state = {
    rollout: params.rollout ?? '',
    attempt: params.attempt ?? '',
    name: params.name ?? '',
    mode: params.mode === 'waterfall' ? 'waterfall' : 'table',
  };
  const rolloutInput = searchBox('Rollout id', state.rollout, 'search narrow');
  // `list` is a read-only property of inputs: it can only be set as an attribute.
  rolloutInput.setAttribute('list', 'recent-rollouts');
  const recent = h('datalist', { id: 'recent-rollouts' });
  const attemptSelect = /** @type {HTMLSelectElement} */ (h('select', { 'aria-label': 'Attempt' }));
  const nameInput = searchBox('Search spans by name', state.name, 'search narrow');
  const modeSelect = selectBox(
    'View',
    [
      ['table', 'Table view'],
      ['waterfall', 'Waterfall view'],
    ],
    state.mode,
  );
  const detail = h('div');

  const remember = () =>
    rememberRoute('traces', { ...state, mode: state.mode === 'table' ? undefined : state.mode });

  const loadAttempts = async () => {
    attemptSelect.replaceChildren(
      h('option', { value: '' }, 'All attempts'),
      h('option', { value: 'latest' }, 'Latest attempt'),
    );
    if (state.rollout === '') return;
    try {
      const attempts = await api(`/v1/agl/rollouts/${encodeURIComponent(state.rollout)}/attempts`, {
        sort_by: 'sequence_id',
        sort_order: 'desc',
      });
      if (stale(ticket)) return;
      for (const a of attempts.items ?? []) {
        attemptSelect.append(
          h('option', { value: a.attempt_id }, `Attempt ${a.sequence_id} (${a.attempt_id}) - ${a.status}`),
        );
      }
    } catch {
      // The spans request below reports the same failure where the user looks.
    }
    attemptSelect.value = state.attempt;
    if (attemptSelect.value !== state.attempt) state.attempt = '';
  };

  const list = pagedList(ticket, {
    pageSize: SPAN_PAGE_SIZE,
    onOffset: () => {
      remember();
      detail.replaceChildren();
    },
    fetchPage: (offset) =>
      api('/v1/agl/spans', {
        rollout_id: state.rollout,
        attempt_id: state.attempt,
        name_contains: state.name,
        limit: SPAN_PAGE_SIZE,
        offset,
        sort_by: 'start_time',
        sort_order: 'asc',
      }),
    render: (spans) => (state.mode === 'waterfall' ? waterfall(spans, detail) : spansTable(spans, detail)),
  });

  /** @param {number} [offset] absent: stay on the current page */
  const loadSpans = async (offset) => {
    if (state.rollout !== '') return list.load(offset);
    remember();
    detail.replaceChildren();
    list.host.replaceChildren(h('p', { className: 'muted' }, 'Choose a rollout to see its spans.'));
  };

  const loadRecent = async () => {
    try {
      const page = await api('/v1/agl/rollouts', { limit: 50, sort_by: 'start_time', sort_order: 'desc' });
      if (stale(ticket)) return;
      recent.replaceChildren(
        ...(page.items ?? []).map((/** @type {any} */ r) => h('option', { value: r.rollout_id })),
      );
      // Nothing chosen yet: show the newest rollout rather than an empty page.
      if (state.rollout === '' && page.items?.[0]) {
        state.rollout = page.items[0].rollout_id;
        rolloutInput.value = state.rollout;
        await loadAttempts();
        await loadSpans();
      }
    } catch (error) {
      if (!stale(ticket) && state.rollout === '') showError(list.host, error);
    }
  };

  rolloutInput.addEventListener('change', async () => {
    state.rollout = rolloutInput.value.trim();
    state.attempt = '';
    await loadAttempts();
    await loadSpans(0);
  });
  attemptSelect.addEventListener('change', () => {
    state.attempt = attemptSelect.value;
    void loadSpans(0);
  });
  let typing = 0;
  nameInput.addEventListener('input', () => {
    clearTimeout(typing);
    typing = window.setTimeout(() => {
      state.name = nameInput.value.trim();
      void loadSpans(0);
    }, 300);
  });
  modeSelect.addEventListener('change', () => {
    state.mode = modeSelect.value === 'waterfall' ? 'waterfall' : 'table';
    void loadSpans();
  });

  void (async () => {
    await loadAttempts();
    if (state.rollout !== '') await loadSpans();
    await loadRecent();
  })();
  return [
    titleRow('Traces', modeSelect),
    h(
      'div',
      { className: 'toolbar' },
      rolloutInput,
      recent,
      attemptSelect,
      nameInput,
      refreshButton(() => void loadSpans()),
    ),
    list.host,
    detail,
  ];
}

/** @param {Record<string, string>} _params @param {number} ticket */
function resourcesView(_params, ticket) {
  const detail = h('div');
  /** @type {any} */
  let latest = null;
  const summary = (/** @type {any} */ u) =>
    Object.entries(u.resources ?? {})
      .map(([name, r]) => `${name}: ${r?.resource_type ?? '?'}`)
      .join(', ');
  const list = pagedList(ticket, {
    pageSize: PAGE_SIZE,
    fetchPage: async (offset) => {
      const [page, newest] = await Promise.all([
        api('/v1/agl/resources', { limit: PAGE_SIZE, offset, sort_by: 'update_time', sort_order: 'desc' }),
        api('/v1/agl/resources/latest'),
      ]);
      latest = newest;
      return page;
    },
    render: (rows) =>
      table(
        [
          {
            title: 'Resources id',
            cell: (u) =>
              h(
                'span',
                { className: 'nowrap' },
                mono(u.resources_id),
                latest?.resources_id === u.resources_id
                  ? [' ', h('span', { className: 'badge badge-ok' }, 'LATEST')]
                  : [],
              ),
          },
          { title: 'Version', cell: (u) => String(u.version ?? '-') },
          { title: 'Resources', cell: (u) => mono(previewValue(summary(u), 120)), className: 'preview' },
          { title: 'Created', cell: (u) => formatTime(u.create_time), className: 'nowrap' },
          { title: 'Updated', cell: (u) => formatTime(u.update_time), className: 'nowrap' },
        ],
        rows,
        {
          empty: 'No resources yet.',
          onRowClick: (u) =>
            detail.replaceChildren(
              h('section', { className: 'panel' }, h('h2', {}, u.resources_id), pre(prettyJson(u.resources))),
            ),
        },
      ),
  });
  void list.load();
  return [
    titleRow(
      'Resources',
      refreshButton(() => void list.load()),
    ),
    h('p', { className: 'muted' }, 'Resource snapshots, most recently updated first. Click one to see it.'),
    list.host,
    detail,
  ];
}

/** @param {Record<string, string>} _params @param {number} ticket */
function runnersView(_params, ticket) {
  const list = pagedList(ticket, {
    pageSize: PAGE_SIZE,
    fetchPage: (offset) =>
      api('/v1/agl/workers', {
        limit: PAGE_SIZE,
        offset,
        sort_by: 'last_heartbeat_time',
        sort_order: 'desc',
      }),
    render: (rows) =>
      table(
        [
          { title: 'Worker', cell: (w) => mono(w.worker_id), className: 'nowrap' },
          { title: 'Status', cell: (w) => badge(w.status) },
          {
            title: 'Current rollout',
            cell: (w) =>
              w.current_rollout_id
                ? link('rollout', { id: w.current_rollout_id }, w.current_rollout_id)
                : '-',
            className: 'nowrap',
          },
          {
            title: 'Current attempt',
            cell: (w) => mono(String(w.current_attempt_id ?? '-')),
            className: 'nowrap',
          },
          { title: 'Last heartbeat', cell: (w) => formatTime(w.last_heartbeat_time), className: 'nowrap' },
          { title: 'Last dequeue', cell: (w) => formatTime(w.last_dequeue_time), className: 'nowrap' },
          {
            title: 'Heartbeat stats',
            cell: (w) => mono(previewValue(w.heartbeat_stats ?? '', 80)),
            className: 'preview',
          },
        ],
        rows,
        { empty: 'No runner has connected yet.' },
      ),
  });
  void list.load();
  return [
    titleRow(
      'Runners',
      refreshButton(() => void list.load()),
    ),
    list.host,
  ];
}

const VIEWS = {
  rollouts: rolloutsView,
  rollout: rolloutView,
  traces: tracesView,
  resources: resourcesView,
  runners: runnersView,
};

function render() {
  current += 1;
  const route = parseRoute(location.hash);
  const section = route.view === 'rollout' ? 'rollouts' : route.view;
  for (const a of document.querySelectorAll('.nav-link')) {
    a.classList.toggle('active', a.getAttribute('data-view') === section);
  }
  viewRoot.replaceChildren(...VIEWS[route.view](route.params, current));
}

window.addEventListener('hashchange', render);
render();
void checkHealth();
setInterval(() => void checkHealth(), HEALTH_INTERVAL_MS);
