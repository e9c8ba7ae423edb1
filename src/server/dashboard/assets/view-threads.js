/**
 * The threads view: threads saved by ThreadStateRepository (namespace `agentstate.threads` by default),
 * a thread's typed state keys with their values, the revisions of it this page has seen, and the diff of
 * two of them. The store keeps only a thread's latest save, so the history starts when the page opens and
 * grows as saves arrive live.
 */
import { api } from './api.js';
import { facts, h, mono, searchBox, selectBox, table, titleRow } from './dom.js';
import { describeTagged, diffKeys, formatTime, previewValue } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { cursorList } from './paged-list.js';
import { valueTree } from './value-view.js';
import { onLeave, rememberRoute, stale } from './view-state.js';

const PAGE = 50;
/** Revisions of one thread kept for the history. */
const MAX_HISTORY = 50;

/** @typedef {{ documentRevision: number, revision: number, extensions: Record<string, unknown>, savedAt: number }} SeenRevision */

/** Revisions seen per thread (kept while the page is open, across views). */
const history = /** @type {Map<string, SeenRevision[]>} */ (new Map());

/** @param {string} key @param {any} doc */
function remember(key, doc) {
  const seen = history.get(key) ?? [];
  if (!seen.some((r) => r.documentRevision === doc.revision)) {
    seen.push({
      documentRevision: doc.revision,
      revision: doc.value?.revision ?? 0,
      extensions: doc.value?.extensions ?? {},
      savedAt: doc.updatedAt,
    });
    seen.sort((a, b) => a.documentRevision - b.documentRevision);
    if (seen.length > MAX_HISTORY) seen.shift();
  }
  history.set(key, seen);
  return seen;
}

/** @param {Record<string, string>} params @param {number} ticket */
export function threadsView(params, ticket) {
  const state = {
    namespace: params.namespace || 'agentstate.threads',
    q: params.q ?? '',
    selected: params.thread ?? '',
  };
  const search = searchBox('Search threads by id prefix', state.q, 'search narrow');
  const detail = h('div');
  const diffHost = h('div');
  const pick = { from: '', to: '' };
  const route = () =>
    rememberRoute('threads', {
      namespace: state.namespace === 'agentstate.threads' ? undefined : state.namespace,
      q: state.q || undefined,
      thread: state.selected || undefined,
    });

  /** @param {SeenRevision[]} seen */
  const drawDiff = (seen) => {
    const from = seen.find((r) => String(r.documentRevision) === pick.from);
    const to = seen.find((r) => String(r.documentRevision) === pick.to);
    if (!from || !to)
      return diffHost.replaceChildren(h('p', { className: 'muted' }, 'Choose two revisions.'));
    diffHost.replaceChildren(
      table(
        [
          { title: 'Key', cell: (d) => mono(d.key), className: 'nowrap' },
          {
            title: 'Change',
            cell: (d) =>
              h(
                'span',
                {
                  className: `diff-${d.change === 'added' ? 'added' : d.change === 'removed' ? 'removed' : ''}`,
                },
                d.change,
              ),
          },
          {
            title: `Save ${from.documentRevision}`,
            cell: (d) => (d.change === 'added' ? '-' : mono(previewValue(d.from, 120))),
            className: 'preview',
          },
          {
            title: `Save ${to.documentRevision}`,
            cell: (d) => (d.change === 'removed' ? '-' : mono(previewValue(d.to, 120))),
            className: 'preview',
          },
        ],
        diffKeys(from.extensions, to.extensions),
        { empty: 'No key differs between these revisions.' },
      ),
    );
  };

  const loadDetail = async () => {
    if (state.selected === '') return detail.replaceChildren();
    try {
      // The thread as the repository loads it: delta saves keep values beside the head record.
      const doc = await api(
        `/v1/dashboard/threads/${encodeURIComponent(state.namespace)}/${encodeURIComponent(state.selected)}`,
      );
      if (stale(ticket)) return;
      const seen = remember(`${state.namespace}\u0000${state.selected}`, doc);
      const extensions = /** @type {Record<string, unknown>} */ (doc.value?.extensions ?? {});
      const options = seen.map(
        (r) =>
          /** @type {[string, string]} */ ([
            String(r.documentRevision),
            `save ${r.documentRevision} (state revision ${r.revision}, ${formatTime(r.savedAt / 1000)})`,
          ]),
      );
      if (!seen.some((r) => String(r.documentRevision) === pick.to)) pick.to = String(doc.revision);
      if (!seen.some((r) => String(r.documentRevision) === pick.from))
        pick.from = String(seen[Math.max(0, seen.length - 2)]?.documentRevision ?? doc.revision);
      const fromSelect = selectBox('Compare from revision', options, pick.from);
      const toSelect = selectBox('Compare to revision', options, pick.to);
      fromSelect.addEventListener('change', () => {
        pick.from = fromSelect.value;
        drawDiff(seen);
      });
      toSelect.addEventListener('change', () => {
        pick.to = toSelect.value;
        drawDiff(seen);
      });
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
          h('h3', {}, `Revision history (${seen.length} seen since this page opened)`),
          h('div', { className: 'toolbar' }, fromSelect, toSelect),
          diffHost,
        ),
      );
      drawDiff(seen);
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
      if (events.some((e) => e.id === state.selected)) {
        pick.to = '';
        void loadDetail();
      }
    }),
  );
  return [titleRow('Threads'), h('div', { className: 'toolbar' }, search), list.host, detail];
}
