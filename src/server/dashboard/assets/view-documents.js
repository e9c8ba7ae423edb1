/**
 * The documents view: the namespaces of the document store (a picker filled from
 * `/v1/dashboard/namespaces`, re-read when a document of a namespace not in it changes; any namespace can
 * also be typed), ids searched by prefix, and a chosen document's value in the typed viewer (the codec's
 * types: Map, Set, Date, bigint...).
 */
import { api } from './api.js';
import { countdown, facts, h, mono, pre, searchBox, selectBox, table, titleRow } from './dom.js';
import { formatTime, prettyJson, previewValue } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { cursorList } from './paged-list.js';
import { valueTree } from './value-view.js';
import { onLeave, rememberRoute, stale } from './view-state.js';

const PAGE = 50;
/** Namespaces the picker lists at most (the first page of the store's list); others can be typed. */
const MAX_PICKER = 500;

/** @param {Record<string, string>} params @param {number} ticket */
export function documentsView(params, ticket) {
  const state = { namespace: params.namespace || 'agents', q: params.q ?? '', selected: params.id ?? '' };
  const namespace = searchBox('Namespace', state.namespace, 'search narrow');
  const picker = selectBox('Namespaces', [[state.namespace, state.namespace]], state.namespace);
  const pickerNote = h('span', { className: 'muted' });
  /** @type {Set<string>} */
  let listed = new Set();
  const loadNamespaces = async () => {
    try {
      const page = await api('/v1/dashboard/namespaces', { limit: MAX_PICKER });
      if (stale(ticket)) return;
      listed = new Set(page.namespaces);
      // The namespace shown stays choosable even when it holds nothing (yet).
      const names = [...new Set([...page.namespaces, state.namespace])].sort();
      picker.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
      picker.value = state.namespace;
      pickerNote.textContent = page.cursor
        ? `The first ${page.namespaces.length} namespaces; type a name to open another.`
        : `${page.namespaces.length} namespace${page.namespaces.length === 1 ? '' : 's'}`;
    } catch (error) {
      if (!stale(ticket)) pickerNote.textContent = error instanceof Error ? error.message : String(error);
    }
  };
  void loadNamespaces();
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

  /** @param {string} value */
  const openNamespace = (value) => {
    state.namespace = value;
    state.selected = '';
    remember();
    void list.load();
    void loadDetail();
  };
  picker.addEventListener('change', () => {
    namespace.value = picker.value;
    openNamespace(picker.value);
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
        if (field === 'namespace') {
          state.selected = '';
          void loadNamespaces();
        }
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
      // A namespace the picker does not list has documents now (or a listed one may have none left).
      if (events.some((e) => e.namespace && (!listed.has(e.namespace) || e.action !== 'put'))) {
        void loadNamespaces();
      }
      if (!events.some((e) => e.namespace === state.namespace)) return;
      void list.refresh();
      if (events.some((e) => e.id === state.selected)) void loadDetail();
    }),
  );
  return [
    titleRow('Documents'),
    h('div', { className: 'toolbar' }, picker, namespace, search, pickerNote),
    list.host,
    detail,
  ];
}
