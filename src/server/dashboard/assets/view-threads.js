/**
 * The threads view: threads saved by ThreadStateRepository (namespace `agentstate.threads` by default),
 * a thread's typed state keys with their values, its stored revision history and the keys changed between
 * any two revisions with their values before and after (thread-history.js).
 */
import { api } from './api.js';
import { facts, h, mono, searchBox, table, titleRow } from './dom.js';
import { describeTagged, formatTime } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { cursorList } from './paged-list.js';
import { threadHistory } from './thread-history.js';
import { valueTree } from './value-view.js';
import { onLeave, rememberRoute, stale } from './view-state.js';

const PAGE = 50;

/** @param {Record<string, string>} params @param {number} ticket */
export function threadsView(params, ticket) {
  const state = {
    namespace: params.namespace || 'agentstate.threads',
    q: params.q ?? '',
    selected: params.thread ?? '',
  };
  const search = searchBox('Search threads by id prefix', state.q, 'search narrow');
  const detail = h('div');
  const pick = { from: '', to: '' };
  const route = () =>
    rememberRoute('threads', {
      namespace: state.namespace === 'agentstate.threads' ? undefined : state.namespace,
      q: state.q || undefined,
      thread: state.selected || undefined,
    });

  const loadDetail = async () => {
    if (state.selected === '') return detail.replaceChildren();
    const base = `/v1/dashboard/threads/${encodeURIComponent(state.namespace)}/${encodeURIComponent(state.selected)}`;
    try {
      // The thread as the repository loads it: delta saves keep values beside the head record.
      const doc = await api(base);
      if (stale(ticket)) return;
      const extensions = /** @type {Record<string, unknown>} */ (doc.value?.extensions ?? {});
      detail.replaceChildren(
        h(
          'section',
          { className: 'panel' },
          h('h2', {}, `Thread ${state.selected}`),
          facts([
            ['State revision', String(doc.value?.revision ?? '-')],
            ['Saves', String(doc.revision)],
            ['Last save', formatTime(doc.updatedAt / 1000)],
          ]),
          h('h3', {}, 'State keys'),
          table(
            [
              { title: 'Key', cell: ([key]) => mono(key), className: 'nowrap' },
              { title: 'Type', cell: ([, value]) => describeTagged(value).type },
              { title: 'Version', cell: ([key]) => String(doc.value?.versions?.[key] ?? 1) },
              { title: 'Value', cell: ([, value]) => valueTree(value) },
            ],
            Object.entries(extensions).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
            { empty: 'No persistent keys saved.' },
          ),
          ...threadHistory({ base, isStale: () => stale(ticket), pick }),
        ),
      );
    } catch (error) {
      if (!stale(ticket)) showError(detail, error);
    }
  };

  const list = cursorList(ticket, {
    rowKey: (d) => d.id,
    fetchPage: (cursor) =>
      api(`/v1/state/${encodeURIComponent(state.namespace)}`, { prefix: state.q, limit: PAGE, cursor }),
    render: (docs) =>
      table(
        [
          { title: 'Thread', cell: (d) => mono(d.id), className: 'nowrap' },
          { title: 'State revision', cell: (d) => String(d.value?.revision ?? '-') },
          // A delta head lists its keys under `keys`; a whole-state record of earlier releases under `extensions`.
          {
            title: 'Keys',
            cell: (d) => String(Object.keys(d.value?.keys ?? d.value?.extensions ?? {}).length),
          },
          { title: 'Last save', cell: (d) => formatTime(d.updatedAt / 1000), className: 'nowrap' },
        ],
        docs,
        {
          empty: state.q ? 'No thread id starts with this.' : 'No thread saved yet.',
          rowKey: (d) => d.id,
          onRowClick: (d) => {
            state.selected = d.id;
            pick.from = '';
            pick.to = '';
            route();
            void loadDetail();
          },
        },
      ),
  });

  let typing = 0;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = window.setTimeout(() => {
      state.q = search.value.trim();
      route();
      void list.load();
    }, 300);
  });
  void list.load();
  void loadDetail();
  onLeave(
    onLive(['document'], (events) => {
      if (!events.some((e) => e.namespace === state.namespace)) return;
      void list.refresh();
      // The user's chosen pair of revisions stays chosen across the redraw.
      if (events.some((e) => e.id === state.selected)) void loadDetail();
    }),
  );
  return [titleRow('Threads'), h('div', { className: 'toolbar' }, search), list.host, detail];
}
