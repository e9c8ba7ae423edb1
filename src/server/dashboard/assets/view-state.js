/**
 * The shown view's lifecycle: each render gets a ticket, and an answer arriving for an older ticket (a view
 * the user already left) is dropped rather than overwriting the view now shown. Filters are kept in the
 * address so a reload or a shared link restores them.
 */
import { routeHash } from './format.js';

let current = 0;
/** @type {Array<() => void>} */
const leaving = [];

/** Starts a new view: answers for the tickets handed out before become stale, and the old view's timers and live subscriptions are stopped. */
export function nextTicket() {
  current += 1;
  for (const fn of leaving.splice(0)) fn();
  return current;
}

/**
 * Runs `fn` when the user leaves the view now shown (stops its timers and live subscriptions).
 * @param {() => void} fn
 */
export function onLeave(fn) {
  leaving.push(fn);
}

/** @param {number} ticket */
export const stale = (ticket) => ticket !== current;

/**
 * Puts a view's filters in the address without a hashchange event (which would rebuild the view), so a
 * reload or a shared link keeps them; empty values are left out.
 * @param {import('./format.js').Route['view']} view @param {Record<string, string | undefined>} params
 */
export const rememberRoute = (view, params) => history.replaceState(null, '', routeHash(view, params));
