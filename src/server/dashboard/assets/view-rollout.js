/**
 * The view of one rollout: its facts, input, attempts, spans, config and metadata.
 */
import { api } from './api.js';
import { badge, facts, h, link, mono, pre, table } from './dom.js';
import { formatDuration, formatTime, prettyJson } from './format.js';
import { showError } from './page.js';
import { SPAN_PAGE_SIZE } from './paged-list.js';
import { spansTable } from './spans.js';
import { stale } from './view-state.js';

/** @param {Record<string, string>} params @param {number} ticket */
export function rolloutView(params, ticket) {
  const id = params.id ?? '';
  const host = h('div', {}, h('p', { className: 'muted' }, 'Loading…'));
  (async () => {
    try {
      const [rollout, attempts, spans] = await Promise.all([
        api(`/v1/agl/rollouts/${encodeURIComponent(id)}`),
        api(`/v1/agl/rollouts/${encodeURIComponent(id)}/attempts`, {
          sort_by: 'sequence_id',
          sort_order: 'desc',
        }),
        api('/v1/agl/spans', {
          rollout_id: id,
          limit: SPAN_PAGE_SIZE,
          sort_by: 'start_time',
          sort_order: 'asc',
        }),
      ]);
      if (stale(ticket)) return;
      if (rollout === null) {
        host.replaceChildren(h('div', { className: 'error-box' }, `No rollout with id ${id}.`));
        return;
      }
      const detail = h('div');
      const spanItems = spans.items ?? [];
      host.replaceChildren(
        h('div', { className: 'title-row' }, h('h1', {}, id), badge(rollout.status)),
        facts([
          ['Mode', String(rollout.mode ?? '-')],
          ['Resources', rollout.resources_id ? mono(rollout.resources_id) : '-'],
          ['Start', formatTime(rollout.start_time)],
          ['End', formatTime(rollout.end_time)],
          ['Duration', formatDuration(rollout.start_time, rollout.end_time)],
          ['Traces', link('traces', { rollout: id }, 'Open in Traces')],
        ]),
        h('h2', {}, 'Input'),
        pre(prettyJson(rollout.input)),
        h('h2', {}, `Attempts (${attempts.total ?? 0})`),
        table(
          [
            { title: '#', cell: (a) => String(a.sequence_id) },
            {
              title: 'Attempt id',
              cell: (a) => link('traces', { rollout: id, attempt: a.attempt_id }, a.attempt_id),
              className: 'nowrap',
            },
            { title: 'Status', cell: (a) => badge(a.status) },
            { title: 'Worker', cell: (a) => String(a.worker_id ?? '-') },
            { title: 'Start time', cell: (a) => formatTime(a.start_time), className: 'nowrap' },
            { title: 'Duration', cell: (a) => formatDuration(a.start_time, a.end_time) },
            { title: 'Last heartbeat', cell: (a) => formatTime(a.last_heartbeat_time), className: 'nowrap' },
          ],
          /** @type {any[]} */ (attempts.items ?? []),
          { empty: 'No attempt yet.' },
        ),
        h(
          'h2',
          {},
          `Spans (${spans.total ?? spanItems.length}${spanItems.length < (spans.total ?? 0) ? `, first ${spanItems.length}` : ''})`,
        ),
        spansTable(spanItems, detail),
        detail,
        h('h2', {}, 'Config and metadata'),
        pre(prettyJson({ config: rollout.config, metadata: rollout.metadata })),
      );
    } catch (error) {
      if (!stale(ticket)) showError(host, error);
    }
  })();
  return [h('p', {}, link('rollouts', {}, '← Rollouts')), host];
}
