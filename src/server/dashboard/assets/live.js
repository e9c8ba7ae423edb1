/**
 * Live updates: one server-sent events stream (`/v1/events`) for the whole page, read with fetch so the
 * access token travels in the Authorization header (EventSource cannot send headers, and a token in the
 * URL would end up in logs). The stream reconnects with back-off; views subscribe to the kinds they show
 * and are called at most every REDRAW_MS with the events of that interval, so a burst of changes costs one
 * re-read, not one per change.
 */
import { checkHealth, currentToken } from './api.js';
import { nextRetryMs, parseEventFrames } from './format.js';

const REDRAW_MS = 400;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

/** @typedef {{ kind: string, action: string, id?: string, namespace?: string, at: number }} LiveEvent */
/** @typedef {'connecting' | 'live' | 'reconnecting' | 'offline' | 'needs-token'} LiveState */

/** @type {Set<{ kinds: Set<string>, fn: (events: LiveEvent[]) => void, pending: LiveEvent[], timer: number }>} */
const subscribers = new Set();
/** @type {(state: LiveState) => void} */
let report = () => {};
/** @type {AbortController | undefined} */
let current;

/**
 * Calls `fn` with the changes of the given kinds (throttled) until the returned function is called.
 * @param {string[]} kinds
 * @param {(events: LiveEvent[]) => void} fn
 */
export function onLive(kinds, fn) {
  const sub = { kinds: new Set(kinds), fn, pending: /** @type {LiveEvent[]} */ ([]), timer: 0 };
  subscribers.add(sub);
  return () => {
    clearTimeout(sub.timer);
    subscribers.delete(sub);
  };
}

/** @param {LiveEvent} event */
function dispatch(event) {
  for (const sub of subscribers) {
    if (!sub.kinds.has(event.kind)) continue;
    sub.pending.push(event);
    if (sub.timer !== 0) continue;
    sub.timer = window.setTimeout(() => {
      sub.timer = 0;
      const events = sub.pending.splice(0);
      if (subscribers.has(sub)) sub.fn(events);
    }, REDRAW_MS);
  }
}

/**
 * Tells every view to re-read once the stream is (again) open: changes made while it was not connected
 * (between a view's first read and the connection, or during a drop) sent no event the page heard. An
 * event without an id means "something of this kind changed", which every view answers with a re-read.
 */
function resync() {
  /** @type {Set<string>} */
  const kinds = new Set();
  for (const sub of subscribers) for (const kind of sub.kinds) kinds.add(kind);
  for (const kind of kinds) dispatch({ kind, action: 'connected', at: Date.now() });
}

/**
 * @param {AbortSignal} signal
 * @param {() => void} onOpen called once the stream is open
 */
async function readStream(signal, onOpen) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'text/event-stream' };
  const token = currentToken();
  if (token !== '') headers.authorization = `Bearer ${token}`;
  const response = await fetch('/v1/events', { headers, cache: 'no-store', signal });
  if (response.status === 401 || response.status === 403) return 'needs-token';
  if (!response.ok || !response.body) return 'failed';
  onOpen();
  report('live');
  resync();
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = response.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return 'failed';
    buffer += decoder.decode(value, { stream: true });
    const { events, rest } = parseEventFrames(buffer);
    buffer = rest;
    for (const event of events) dispatch(/** @type {LiveEvent} */ (event));
  }
}

async function run() {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  // The first retry waits the minimum; each failed attempt doubles the wait, one that went live resets it.
  let retryMs = RETRY_MIN_MS / 2;
  while (!controller.signal.aborted) {
    let outcome = 'failed';
    let wentLive = false;
    try {
      outcome = await readStream(controller.signal, () => {
        wentLive = true;
      });
    } catch {
      outcome = 'failed';
    }
    retryMs = nextRetryMs(retryMs, wentLive, RETRY_MIN_MS, RETRY_MAX_MS);
    if (controller.signal.aborted) return;
    // The badge tells a server that is down (offline) from a stream that merely dropped (reconnecting).
    if (outcome === 'needs-token') report('needs-token');
    else report((await checkHealth()) ? 'reconnecting' : 'offline');
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

/**
 * Starts (or, after a token change, restarts) the stream; `onState` hears live / reconnecting.
 * @param {(state: LiveState) => void} onState
 */
export function startLive(onState) {
  report = onState;
  report('connecting');
  void run();
}
