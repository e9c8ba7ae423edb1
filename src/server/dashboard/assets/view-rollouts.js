/**
 * The rollouts view: the store's rollouts, newest first, searchable by id and filterable by status.
 */
import { api } from './api.js';
import { badge, h, link, mono, refreshButton, searchBox, selectBox } from './dom.js';
import { formatTime, previewValue, ROLLOUT_STATUSES } from './format.js';
import { onLive } from './live.js';
import { pagedList, ROLLOUT_PAGE_SIZE } from './paged-list.js';
import { onLeave, rememberRoute } from './view-state.js';
import { virtualTable } from './virtual-table.js';

/** @param {Record<string, string>} params @param {number} ticket */
export function rolloutsView(params, ticket) {
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
    pageSize: ROLLOUT_PAGE_SIZE,
    rowKey: (r) => r.rollout_id,
    offset: Math.max(0, Number.parseInt(params.offset ?? '0', 10) || 0),
    onOffset: (offset) =>
      rememberRoute('rollouts', { ...state, offset: offset ? String(offset) : undefined }),
    fetchPage: (offset) =>
      api('/v1/agl/rollouts', {
        rollout_id_contains: state.q,
        status_in: state.status ? [state.status] : undefined,
        limit: ROLLOUT_PAGE_SIZE,
        offset,
        sort_by: 'start_time',
        sort_order: 'desc',
      }),
    render: (rows) =>
      virtualTable(
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
        {
          empty: state.q || state.status ? 'No rollout matches these filters.' : 'No rollouts yet.',
          rowKey: (r) => r.rollout_id,
        },
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
  onLeave(onLive(['rollout', 'attempt'], () => void list.refresh()));
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
