/**
 * The TTL view: live signals of the TTL store (cooldowns, beacons, counters) with their remaining time
 * counting down, and the locks held through this server with their owners. The page re-reads when the
 * live stream announces a `ttl` change (sets, deletes and expiries from a store that reports them, such as
 * the in-memory one; lock and key writes through the API and the watched expiries on Redis), and every
 * SAFETY_POLL_MS for what no event announces (a write made to Redis directly, not through the server).
 */
import { api } from './api.js';
import { countdown, h, mono, searchBox, table, titleRow } from './dom.js';
import { describeTagged, previewValue } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { replaceKeepingState } from './paged-list.js';
import { onLeave, rememberRoute, stale } from './view-state.js';

const SAFETY_POLL_MS = 15_000;

/** @param {Record<string, string>} params @param {number} ticket */
export function ttlView(params, ticket) {
  const state = { prefix: params.prefix ?? '' };
  const search = searchBox('Search keys by prefix', state.prefix, 'search narrow');
  const entriesHost = h('div', {}, h('p', { className: 'muted' }, 'Loading…'));
  const locksHost = h('div');
  let shown = '';

  /** @param {boolean} live */
  const load = async (live) => {
    try {
      const [entries, locks] = await Promise.all([
        api('/v1/dashboard/ttl-entries', { prefix: state.prefix }),
        api('/v1/ttl/locks'),
      ]);
      if (stale(ticket)) return;
      const text = JSON.stringify([entries.entries, locks.locks]);
      if (live && text === shown) return;
      shown = text;
      const now = Date.now();
      replaceKeepingState(
        entriesHost,
        [
          table(
            [
              { title: 'Key', cell: (e) => mono(e.key), className: 'nowrap' },
              { title: 'Type', cell: (e) => describeTagged(e.value).type },
              { title: 'Value', cell: (e) => mono(previewValue(e.value, 90)), className: 'preview' },
              { title: 'Remaining', cell: (e) => countdown(e.ttlMs === null ? undefined : now + e.ttlMs) },
            ],
            entries.entries ?? [],
            { empty: state.prefix ? 'No live key starts with this.' : 'No live keys.', rowKey: (e) => e.key },
          ),
          h(
            'p',
            { className: 'muted' },
            entries.cursor
              ? `The first ${entries.entries?.length ?? 0} keys found; narrow the prefix to see others.`
              : `${entries.entries?.length ?? 0} keys`,
          ),
        ],
        new Set(),
      );
      replaceKeepingState(
        locksHost,
        [
          table(
            [
              { title: 'Lock', cell: (l) => mono(l.name), className: 'nowrap' },
              { title: 'Owner', cell: (l) => mono(l.owner) },
              { title: 'Remaining', cell: (l) => countdown(now + l.ttlMs) },
            ],
            locks.locks ?? [],
            { empty: 'No lock is held through this server.', rowKey: (l) => `${l.name}\u0000${l.owner}` },
          ),
        ],
        new Set(),
      );
    } catch (error) {
      if (!stale(ticket)) showError(entriesHost, error);
    }
  };

  let typing = 0;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = window.setTimeout(() => {
      state.prefix = search.value.trim();
      rememberRoute('ttl', { prefix: state.prefix || undefined });
      void load(false);
    }, 300);
  });
  void load(false);
  const timer = window.setInterval(() => void load(true), SAFETY_POLL_MS);
  onLeave(() => clearInterval(timer));
  onLeave(onLive(['ttl'], () => void load(true)));
  return [
    titleRow('TTL signals and locks'),
    h('div', { className: 'toolbar' }, search),
    h('h2', {}, 'Signals'),
    entriesHost,
    h('h2', {}, 'Locks'),
    locksHost,
  ];
}
