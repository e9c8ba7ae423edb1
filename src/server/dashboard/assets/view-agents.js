/**
 * The agents view: agent states saved by AgentStateManager (documents of the `agents` namespace by
 * default): status, current task, metrics; a chosen agent's full state in the typed viewer.
 */
import { api } from './api.js';
import { badge, facts, h, mono, searchBox, table, titleRow } from './dom.js';
import { formatTime } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { cursorList } from './paged-list.js';
import { valueTree } from './value-view.js';
import { onLeave, rememberRoute, stale } from './view-state.js';

const PAGE = 50;

/** @param {Record<string, string>} params @param {number} ticket */
export function agentsView(params, ticket) {
  const state = { namespace: params.namespace || 'agents', q: params.q ?? '', selected: params.agent ?? '' };
  const search = searchBox('Search agents by id prefix', state.q, 'search narrow');
  const namespace = searchBox('Namespace', state.namespace, 'search narrow');
  const detail = h('div');
  const remember = () =>
    rememberRoute('agents', {
      namespace: state.namespace === 'agents' ? undefined : state.namespace,
      q: state.q || undefined,
      agent: state.selected || undefined,
    });
  /** @param {any} doc */
  const agentState = (doc) => /** @type {Record<string, any>} */ (doc?.value?.state ?? {});

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
          h('h2', {}, `Agent ${state.selected}`),
          facts([
            ['Revision', String(doc.revision)],
            ['Saved', formatTime(doc.updatedAt / 1000)],
          ]),
          valueTree(doc.value),
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
          { title: 'Agent', cell: (d) => mono(d.id), className: 'nowrap' },
          { title: 'Status', cell: (d) => badge(agentState(d).status) },
          {
            title: 'Current task',
            cell: (d) => mono(String(agentState(d).currentTaskId ?? '-')),
            className: 'nowrap',
          },
          {
            title: 'Tasks ok / failed',
            cell: (d) =>
              `${agentState(d).metrics?.successfulTasks ?? '-'} / ${agentState(d).metrics?.failedTasks ?? '-'}`,
          },
          { title: 'Messages', cell: (d) => String(agentState(d).metrics?.totalMessages ?? '-') },
          {
            title: 'Avg response',
            cell: (d) => {
              const ms = agentState(d).metrics?.averageResponseTimeMs;
              return typeof ms === 'number' ? `${Math.round(ms)} ms` : '-';
            },
          },
          { title: 'Saved', cell: (d) => formatTime(d.updatedAt / 1000), className: 'nowrap' },
        ],
        docs,
        {
          empty: state.q ? 'No agent id starts with this.' : 'No agent state saved yet.',
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
        state[field] = input.value.trim() || (field === 'namespace' ? 'agents' : '');
        remember();
        void list.load();
      }, 300);
    });
  }
  void list.load();
  void loadDetail();
  onLeave(
    onLive(['document'], (events) => {
      if (!events.some((e) => e.namespace === state.namespace)) return;
      void list.refresh();
      if (events.some((e) => e.id === state.selected)) void loadDetail();
    }),
  );
  return [titleRow('Agents'), h('div', { className: 'toolbar' }, search, namespace), list.host, detail];
}
