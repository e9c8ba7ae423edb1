/**
 * Pure helpers of the dashboard: data in, strings and plain objects out, no DOM and no globals, so they
 * run (and are tested) in Node as well as in the browser. Plain JavaScript because the browser loads it
 * as-is: the dashboard has no build step.
 */

/** Rollout statuses of the Agent Lightning store, in lifecycle order (the status filter's options). */
export const ROLLOUT_STATUSES = Object.freeze([
  'queuing',
  'preparing',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'requeuing',
]);

/**
 * Badge tone of each status word the store uses (rollout, attempt, worker and span statuses share one
 * palette, so "failed" looks the same everywhere). Unknown words get the neutral tone.
 */
const TONES = Object.freeze({
  queuing: 'neutral',
  requeuing: 'neutral',
  unknown: 'neutral',
  unset: 'neutral',
  preparing: 'info',
  running: 'info',
  busy: 'info',
  succeeded: 'ok',
  ok: 'ok',
  idle: 'ok',
  failed: 'error',
  error: 'error',
  timeout: 'error',
  unresponsive: 'warn',
  cancelled: 'muted',
});

/**
 * CSS class list of a status badge, e.g. `badge badge-ok`.
 * @param {unknown} status
 * @returns {string}
 */
export function statusBadgeClass(status) {
  const key = typeof status === 'string' ? status.toLowerCase() : '';
  const tone = Object.hasOwn(TONES, key) ? TONES[/** @type {keyof typeof TONES} */ (key)] : 'neutral';
  return `badge badge-${tone}`;
}

/**
 * Text of a status badge (upper case, `-` when absent).
 * @param {unknown} status
 * @returns {string}
 */
export function statusLabel(status) {
  return typeof status === 'string' && status !== '' ? status.toUpperCase() : '-';
}

const pad = (/** @type {number} */ n, width = 2) => String(n).padStart(width, '0');

/**
 * A store timestamp (seconds since the epoch, as Agent Lightning sends them) as local
 * `YYYY-MM-DD HH:MM:SS`, with `.mmm` when `millis` is set; `-` when absent.
 * @param {unknown} seconds
 * @param {{ millis?: boolean, utc?: boolean }} [options] `utc` is for tests that must not depend on the
 *   machine's time zone.
 * @returns {string}
 */
export function formatTime(seconds, options = {}) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '-';
  const d = new Date(seconds * 1000);
  const utc = options.utc === true;
  const date = `${utc ? d.getUTCFullYear() : d.getFullYear()}-${pad((utc ? d.getUTCMonth() : d.getMonth()) + 1)}-${pad(utc ? d.getUTCDate() : d.getDate())}`;
  const time = `${pad(utc ? d.getUTCHours() : d.getHours())}:${pad(utc ? d.getUTCMinutes() : d.getMinutes())}:${pad(utc ? d.getUTCSeconds() : d.getSeconds())}`;
  const ms = options.millis ? `.${pad(utc ? d.getUTCMilliseconds() : d.getMilliseconds(), 3)}` : '';
  return `${date} ${time}${ms}`;
}

/**
 * Time between two store timestamps (seconds): `850 ms`, `3.42 s`, `2m 05s`, `1h 02m`; `-` when either
 * end is missing (a running attempt has no end yet).
 * @param {unknown} start
 * @param {unknown} end
 * @returns {string}
 */
export function formatDuration(start, end) {
  if (typeof start !== 'number' || typeof end !== 'number') return '-';
  const seconds = Math.max(0, end - start);
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(2)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${pad(whole % 60)}s`;
  return `${Math.floor(whole / 3600)}h ${pad(Math.floor((whole % 3600) / 60))}m`;
}

/**
 * One-line preview of any JSON value (a rollout's input, a heartbeat's stats): strings as they are,
 * everything else as compact JSON, cut to `max` characters with an ellipsis.
 * @param {unknown} value
 * @param {number} [max]
 * @returns {string}
 */
export function previewValue(value, max = 100) {
  let text;
  if (value === undefined) text = '';
  else if (typeof value === 'string') text = value;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  text = text.replace(/\s+/g, ' ');
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

/**
 * A JSON value indented for a `<pre>` block.
 * @param {unknown} value
 * @returns {string}
 */
export function prettyJson(value) {
  if (value === undefined) return '';
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Query string of an API call: arrays repeat their key (`status_in=a&status_in=b`, as the store's
 * FastAPI-style routes read them); `undefined`, `null` and `''` are left out. Starts with `?` unless empty.
 * @param {Record<string, unknown>} params
 * @returns {string}
 */
export function buildQuery(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (v === undefined || v === null || v === '') continue;
      search.append(key, String(v));
    }
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/**
 * The paging line under a table: `1–20 of 57`, or `0 of 0`.
 * @param {number} offset
 * @param {number} count items on this page
 * @param {number} total
 * @returns {string}
 */
export function pageLabel(offset, count, total) {
  if (count === 0) return `0 of ${total}`;
  return `${offset + 1}–${offset + count} of ${total}`;
}

/**
 * Rows of a span's attributes (or any flat record) sorted by key; values that are not strings are shown
 * as JSON.
 * @param {unknown} attributes
 * @returns {Array<[string, string]>}
 */
export function attributeRows(attributes) {
  if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) return [];
  return Object.entries(attributes)
    .map(
      ([key, value]) =>
        /** @type {[string, string]} */ ([key, typeof value === 'string' ? value : prettyJson(value)]),
    )
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * @typedef {{ span_id?: unknown, parent_id?: unknown, start_time?: unknown, end_time?: unknown }} SpanLike
 * @typedef {{ index: number, depth: number, leftPct: number, widthPct: number }} WaterfallRow
 */

/**
 * Waterfall geometry of spans: for each span (same order as given) its nesting depth (parents found in the
 * list; a cycle or a missing parent counts as a root) and its bar's left and width as percentages of the
 * whole time range. A span without an end is drawn to the range's end; without a start, as a sliver at 0.
 * @param {readonly SpanLike[]} spans
 * @returns {WaterfallRow[]}
 */
export function waterfallLayout(spans) {
  const num = (/** @type {unknown} */ v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const starts = spans.map((s) => num(s.start_time)).filter((v) => v !== undefined);
  const ends = spans.map((s) => num(s.end_time) ?? num(s.start_time)).filter((v) => v !== undefined);
  const min = starts.length > 0 ? Math.min(...starts) : 0;
  const max = ends.length > 0 ? Math.max(...ends) : min;
  const range = max - min;
  /** @type {Map<string, unknown>} */
  const parentOf = new Map();
  for (const s of spans) if (typeof s.span_id === 'string') parentOf.set(s.span_id, s.parent_id);
  const depthOf = (/** @type {SpanLike} */ span) => {
    let depth = 0;
    let parent = span.parent_id;
    const seen = new Set();
    while (typeof parent === 'string' && parentOf.has(parent) && !seen.has(parent)) {
      seen.add(parent);
      depth += 1;
      parent = parentOf.get(parent);
    }
    return depth;
  };
  return spans.map((span, index) => {
    const start = num(span.start_time);
    const end = num(span.end_time) ?? max;
    if (start === undefined || range <= 0) return { index, depth: depthOf(span), leftPct: 0, widthPct: 100 };
    const leftPct = ((start - min) / range) * 100;
    const widthPct = (Math.max(0, end - start) / range) * 100;
    return { index, depth: depthOf(span), leftPct, widthPct };
  });
}

/**
 * @typedef {{ view: 'rollouts' | 'rollout' | 'traces' | 'resources' | 'runners' | 'overview' | 'sessions' | 'agents' | 'threads' | 'documents' | 'ttl' | 'operations', params: Record<string, string> }} Route
 */

const VIEWS = new Set([
  'rollouts',
  'traces',
  'resources',
  'runners',
  'overview',
  'sessions',
  'agents',
  'threads',
  'documents',
  'ttl',
  'operations',
]);

/**
 * The view a location hash names: `#/rollouts`, `#/rollouts/<id>`, `#/traces?rollout=<id>&attempt=<id>`,
 * `#/resources`, `#/runners`, `#/overview`, `#/sessions`, `#/agents`, `#/threads`, `#/documents`, `#/ttl`,
 * `#/operations`;
 * anything else is the rollouts list.
 * @param {string} hash
 * @returns {Route}
 */
export function parseRoute(hash) {
  const body = hash.replace(/^#\/?/, '');
  const q = body.indexOf('?');
  const path = q === -1 ? body : body.slice(0, q);
  /** @type {Record<string, string>} */
  const params = {};
  if (q !== -1) for (const [k, v] of new URLSearchParams(body.slice(q + 1))) params[k] = v;
  const [first = '', ...rest] = path.split('/');
  if (first === 'rollouts' && rest.length > 0 && rest[0] !== '') {
    let id = rest.join('/');
    try {
      id = decodeURIComponent(id);
    } catch {
      // A malformed escape is kept as typed; the lookup then simply finds nothing.
    }
    return { view: 'rollout', params: { ...params, id } };
  }
  const view = VIEWS.has(first) ? /** @type {Route['view']} */ (first) : 'rollouts';
  return { view, params };
}

/**
 * The hash that `parseRoute` reads back as the given view and parameters.
 * @param {Route['view']} view
 * @param {Record<string, string | undefined>} [params]
 * @returns {string}
 */
export function routeHash(view, params = {}) {
  if (view === 'rollout') return `#/rollouts/${encodeURIComponent(params.id ?? '')}`;
  return `#/${view}${buildQuery(params)}`;
}

/**
 * What to tell the user about a failed API call: a token hint for 401/403, else the server's
 * `{ error: { message } }` or the HTTP status.
 * @param {number} status
 * @param {unknown} body
 * @returns {{ needsToken: boolean, message: string }}
 */
export function describeApiError(status, body) {
  const error =
    body !== null && typeof body === 'object' ? /** @type {{ error?: unknown }} */ (body).error : undefined;
  const message =
    error !== null &&
    typeof error === 'object' &&
    typeof (/** @type {{ message?: unknown }} */ (error).message) === 'string'
      ? /** @type {{ message: string }} */ (error).message
      : '';
  if (status === 401) {
    return {
      needsToken: true,
      message: `This server needs an access token: enter one under "Access token" in the sidebar.${message ? ` (${message})` : ''}`,
    };
  }
  if (status === 403) {
    return {
      needsToken: true,
      message: `The access token does not allow this request: enter a token with the read scope.${message ? ` (${message})` : ''}`,
    };
  }
  return { needsToken: false, message: message || `The server answered HTTP ${status}.` };
}

/**
 * Splits server-sent event text into the complete events it holds (their `data:` parsed as JSON; frames
 * without data, such as keep-alive comments, are skipped) and the incomplete rest to keep for the next chunk.
 * @param {string} text
 * @returns {{ events: unknown[], rest: string }}
 */
export function parseEventFrames(text) {
  const events = [];
  const normalized = text.replace(/\r\n/g, '\n');
  const frames = normalized.split('\n\n');
  const rest = frames.pop() ?? '';
  for (const frame of frames) {
    const data = frame
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data === '') continue;
    try {
      events.push(JSON.parse(data));
    } catch {
      // A malformed frame is skipped; the next re-read shows the truth anyway.
    }
  }
  return { events, rest };
}

/**
 * Wait before the next reconnect of the live stream: the minimum after a connection that went live (it
 * dropped after working: try again soon), else twice the previous wait, capped (the server keeps refusing).
 * @param {number} previousMs the wait used before the attempt that just ended
 * @param {boolean} wentLive whether that attempt got the stream open
 * @param {number} minMs
 * @param {number} maxMs
 * @returns {number}
 */
export function nextRetryMs(previousMs, wentLive, minMs, maxMs) {
  if (wentLive) return minMs;
  return Math.max(minMs, Math.min(previousMs * 2, maxMs));
}

/**
 * Quantile `q` (0..1) of a latency histogram given as bucket upper bounds and cumulative counts (as
 * Prometheus keeps them), interpolated linearly inside the bucket; undefined without observations.
 * @param {readonly number[]} bounds
 * @param {readonly number[]} cumulative
 * @param {number} q
 * @returns {number | undefined}
 */
export function histogramQuantile(bounds, cumulative, q) {
  const finite = bounds.findIndex((b) => !Number.isFinite(b));
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  for (let i = 0; i < cumulative.length; i++) {
    if ((cumulative[i] ?? 0) < rank) continue;
    const upper = bounds[i] ?? 0;
    const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0);
    // Above the last finite bound nothing more precise is known than that bound.
    if (!Number.isFinite(upper)) return finite > 0 ? bounds[finite - 1] : lower;
    const below = i === 0 ? 0 : (cumulative[i - 1] ?? 0);
    const inBucket = (cumulative[i] ?? 0) - below;
    return inBucket <= 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
  }
  return bounds[bounds.length - 1];
}

/**
 * Remaining time as `42 s`, `3m 05s`, `2h 10m`, `expired`; `-` when there is no expiry.
 * @param {unknown} ms
 * @returns {string}
 */
export function formatRemaining(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '-';
  if (ms <= 0) return 'expired';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

/**
 * How the value viewer shows one value in the codec's tagged form: its type name and either a text or
 * the `[label, value]` children (entries of objects, arrays, Maps and Sets).
 * @param {unknown} value
 * @returns {{ type: string, text?: string, children?: Array<[string, unknown]> }}
 */
export function describeTagged(value) {
  if (value === null) return { type: 'null', text: 'null' };
  if (Array.isArray(value))
    return { type: `array(${value.length})`, children: value.map((v, i) => [String(i), v]) };
  if (typeof value === 'string') return { type: 'string', text: JSON.stringify(value) };
  if (typeof value !== 'object') return { type: typeof value, text: String(value) };
  const o = /** @type {Record<string, unknown>} */ (value);
  if (!Object.hasOwn(o, '$t')) {
    const entries = Object.entries(o);
    return { type: `object(${entries.length})`, children: entries };
  }
  const tag = o.$t;
  const v = o.v;
  switch (tag) {
    case 'obj': {
      // A plain object that itself has a `$t` key: its keys are data, never a tag.
      const entries = v !== null && typeof v === 'object' ? Object.entries(v) : [];
      return { type: `object(${entries.length})`, children: entries };
    }
    case 'undef':
      return { type: 'undefined', text: 'undefined' };
    case 'num':
      return { type: 'number', text: String(v) };
    case 'bigint':
      return { type: 'bigint', text: `${String(v)}n` };
    case 'Date':
      return { type: 'Date', text: v === null ? 'Invalid Date' : String(v) };
    case 'Map': {
      const entries = Array.isArray(v) ? v : [];
      return {
        type: `Map(${entries.length})`,
        children: entries.flatMap((e, i) =>
          Array.isArray(e)
            ? /** @type {Array<[string, unknown]>} */ ([
                [`key ${i}`, e[0]],
                [`value ${i}`, e[1]],
              ])
            : [],
        ),
      };
    }
    case 'Set': {
      const items = Array.isArray(v) ? v : [];
      return { type: `Set(${items.length})`, children: items.map((x, i) => [String(i), x]) };
    }
    case 'RegExp':
      return { type: 'RegExp', text: `/${String(v)}/${String(o.f ?? '')}` };
    case 'URL':
      return { type: 'URL', text: String(v) };
    case 'Error':
      return { type: `Error ${String(o.name ?? '')}`.trim(), text: String(o.message ?? '') };
    case 'bytes':
    case 'Buffer':
      return { type: `${tag} (base64)`, text: String(v) };
    case 'TypedArray':
      return { type: `${String(o.k ?? 'TypedArray')} (base64)`, text: String(v) };
    case 'class':
      return { type: `class ${String(o.n ?? '?')}`, children: [['data', v]] };
    default:
      return { type: `tag ${String(tag)}`, text: previewValue(value, 200) };
  }
}
