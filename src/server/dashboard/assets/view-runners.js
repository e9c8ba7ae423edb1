/**
 * The runners view: the workers that connected to the store, most recent heartbeat first.
 */
import { api } from './api.js';
import { badge, link, mono, refreshButton, table, titleRow } from './dom.js';
import { formatTime, previewValue } from './format.js';
import { onLive } from './live.js';
import { PAGE_SIZE, pagedList } from './paged-list.js';
import { onLeave } from './view-state.js';

/** @param {Record<string, string>} _params @param {number} ticket */
export function runnersView(_params, ticket) {
  const list = pagedList(ticket, {
    pageSize: PAGE_SIZE,
    rowKey: (w) => w.worker_id,
    fetchPage: (offset) =>
      api('/v1/agl/workers', {
        limit: PAGE_SIZE,
        offset,
        sort_by: 'last_heartbeat_time',
        sort_order: 'desc',
      }),
    render: (rows) =>
      table(
        [
          { title: 'Worker', cell: (w) => mono(w.worker_id), className: 'nowrap' },
          { title: 'Status', cell: (w) => badge(w.status) },
          {
            title: 'Current rollout',
            cell: (w) =>
              w.current_rollout_id
                ? link('rollout', { id: w.current_rollout_id }, w.current_rollout_id)
                : '-',
            className: 'nowrap',
          },
          {
            title: 'Current attempt',
            cell: (w) => mono(String(w.current_attempt_id ?? '-')),
            className: 'nowrap',
          },
          { title: 'Last heartbeat', cell: (w) => formatTime(w.last_heartbeat_time), className: 'nowrap' },
          { title: 'Last dequeue', cell: (w) => formatTime(w.last_dequeue_time), className: 'nowrap' },
          {
            title: 'Heartbeat stats',
            // No stats yet shows "-" like every other empty cell.
            cell: (w) => mono(previewValue(w.heartbeat_stats ?? '', 80) || '-'),
            className: 'preview',
          },
        ],
        rows,
        { empty: 'No runner has connected yet.', rowKey: (w) => w.worker_id },
      ),
  });
  void list.load();
  onLeave(onLive(['worker', 'attempt'], () => void list.refresh()));
  return [
    titleRow(
      'Runners',
      refreshButton(() => void list.load()),
    ),
    list.host,
  ];
}
