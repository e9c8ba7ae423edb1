/**
 * The resources view: resource snapshots, most recently updated first, the latest one marked.
 */
import { api } from './api.js';
import { h, mono, pre, refreshButton, table, titleRow } from './dom.js';
import { formatTime, prettyJson, previewValue } from './format.js';
import { onLive } from './live.js';
import { PAGE_SIZE, pagedList } from './paged-list.js';
import { onLeave } from './view-state.js';

/** @param {Record<string, string>} _params @param {number} ticket */
export function resourcesView(_params, ticket) {
  const detail = h('div');
  /** @type {any} */
  let latest = null;
  const summary = (/** @type {any} */ u) =>
    Object.entries(u.resources ?? {})
      .map(([name, r]) => `${name}: ${r?.resource_type ?? '?'}`)
      .join(', ');
  const list = pagedList(ticket, {
    pageSize: PAGE_SIZE,
    fetchPage: async (offset) => {
      const [page, newest] = await Promise.all([
        api('/v1/agl/resources', { limit: PAGE_SIZE, offset, sort_by: 'update_time', sort_order: 'desc' }),
        api('/v1/agl/resources/latest'),
      ]);
      latest = newest;
      return page;
    },
    render: (rows) =>
      table(
        [
          {
            title: 'Resources id',
            cell: (u) =>
              h(
                'span',
                { className: 'nowrap' },
                mono(u.resources_id),
                latest?.resources_id === u.resources_id
                  ? [' ', h('span', { className: 'badge badge-ok' }, 'LATEST')]
                  : [],
              ),
          },
          { title: 'Version', cell: (u) => String(u.version ?? '-') },
          { title: 'Resources', cell: (u) => mono(previewValue(summary(u), 120)), className: 'preview' },
          { title: 'Created', cell: (u) => formatTime(u.create_time), className: 'nowrap' },
          { title: 'Updated', cell: (u) => formatTime(u.update_time), className: 'nowrap' },
        ],
        rows,
        {
          empty: 'No resources yet.',
          onRowClick: (u) =>
            detail.replaceChildren(
              h('section', { className: 'panel' }, h('h2', {}, u.resources_id), pre(prettyJson(u.resources))),
            ),
        },
      ),
  });
  void list.load();
  onLeave(onLive(['resource'], () => void list.refresh()));
  return [
    titleRow(
      'Resources',
      refreshButton(() => void list.load()),
    ),
    h('p', { className: 'muted' }, 'Resource snapshots, most recently updated first. Click one to see it.'),
    list.host,
    detail,
  ];
}
