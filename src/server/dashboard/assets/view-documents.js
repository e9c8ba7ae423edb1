/**
 * The documents view: any namespace of the document store, ids searched by prefix, and a chosen
 * document's value in the typed viewer (the codec's types: Map, Set, Date, bigint...). The store has no
 * list of namespaces, so the namespace is typed, with the well-known ones and those seen changing offered.
 */
import { api } from './api.js';
import { countdown, facts, h, mono, pre, searchBox, table, titleRow } from './dom.js';
import { formatTime, prettyJson, previewValue } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { cursorList } from './paged-list.js';
import { valueTree } from './value-view.js';
import { onLeave, rememberRoute, stale } from './view-state.js';

const PAGE = 50;
/** Namespaces of agentstate's own components; more are added as their changes are seen. */
const knownNamespaces = new Set(['agents', 'sessions', 'agentstate.threads']);

/** @param {Record<string, string>} params @param {number} ticket */
export function documentsView(params, ticket) {
  const state = { namespace: params.namespace || 'agents', q: params.q ?? '', selected: params.id ?? '' };
  const namespace = searchBox('Namespace', state.namespace, 'search narrow');
  namespace.setAttribute('list', 'known-namespaces');
  const namespaces = h('datalist', { id: 'known-namespaces' });
  const fillNamespaces = () =>
    namespaces.replaceChildren(...[...knownNamespaces].sort().map((n) => h('option', { value: n })));
  fillNamespaces();
  const search = searchBox('Search ids by prefix', state.q, 'search narrow');
  const detail = h('div');
  const remember = () =>
    rememberRoute('documents', {
      namespace: state.namespace,
      q: state.q || undefined,
      id: state.selected || undefined,
    });

  const loadDetail = async () => {
    if (state.selected === '') return detail.replaceChildren();
    try {
      const doc = await api(
        `/v1/dashboard/documents/${encodeURIComponent(state.namespace)}/${encodeURIComponent(state.selected)}`,
      );
      if (stale(ticket)) return;
      detail.replaceChildren(
        h(
          'section',
          { className: 'panel' },
          h('h2', {}, doc.id),
          facts([
            ['Namespace', doc.namespace],
            ['Revision', String(doc.revision)],
            ['Created', formatTime(doc.createdAt / 1000)],
            ['Updated', formatTime(doc.updatedAt / 1000)],
            ['Expires in', countdown(doc.expiresAt)],
          ]),
          h('h3', {}, 'Value'),
          valueTree(doc.value),
          doc.metadata ? [h('h3', {}, 'Metadata'), pre(prettyJson(doc.metadata))] : null,
        ),
      );
    } catch (error) {
      if (!stale(ticket)) showError(detail, error);
    }
  };

  const list = cursorList(ticket, {
    rowKey: (d) => d.id,
    fetchPage: (cursor) =>
      api(`/v1/dashboard/documents/${encodeURIComponent(state.namespace)}`, {
        prefix: state.q,
        limit: PAGE,
        cursor,
      }),
    render: (docs) =>
      table(
        [
          { title: 'Id', cell: (d) => mono(d.id), className: 'nowrap' },
          { title: 'Revision', cell: (d) => String(d.revision) },
          { title: 'Updated', cell: (d) => formatTime(d.updatedAt / 1000), className: 'nowrap' },
          { title: 'Expires in', cell: (d) => countdown(d.expiresAt) },
          { title: 'Value', cell: (d) => mono(previewValue(d.value, 90)), className: 'preview' },
        ],
        docs,
        {
          empty: state.q ? 'No id in this namespace starts with this.' : 'This namespace is empty.',
          rowKey: (d) => d.id,
          onRowClick: (d) => {
            state.selected = d.id;
            remember();
            void loadDetail();
          },
        },
      ),
  });

  let typing = 0;
  for (const [input, field] of /** @type {Array<[HTMLInputElement, 'q' | 'namespace']>} */ ([
    [search, 'q'],
    [namespace, 'namespace'],
  ])) {
    input.addEventListener('input', () => {
      clearTimeout(typing);
      typing = window.setTimeout(() => {
        const value = input.value.trim();
        if (field === 'namespace' && value === '') return;
        state[field] = value;
        if (field === 'namespace') state.selected = '';
        remember();
        void list.load();
        void loadDetail();
      }, 300);
    });
  }
  void list.load();
  void loadDetail();
  onLeave(
    onLive(['document'], (events) => {
      for (const e of events) if (e.namespace && knownNamespaces.size < 200) knownNamespaces.add(e.namespace);
      fillNamespaces();
      if (!events.some((e) => e.namespace === state.namespace)) return;
      void list.refresh();
      if (events.some((e) => e.id === state.selected)) void loadDetail();
    }),
  );
  return [
    titleRow('Documents'),
    h('div', { className: 'toolbar' }, namespace, namespaces, search),
    list.host,
    detail,
  ];
}
