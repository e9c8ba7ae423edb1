/**
 * The view of one rollout: its facts, input, attempts, spans, config and metadata. Live: a change to the
 * rollout, its attempts or spans re-reads it and redraws in place (scroll, selection and the open span
 * detail stay).
 */
import { api } from './api.js';
import { badge, facts, h, link, mono, pre, table } from './dom.js';
import { formatDuration, formatTime, prettyJson } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { replaceKeepingState, SPAN_PAGE_SIZE } from './paged-list.js';
import { spansTable } from './spans.js';
import { onLeave, stale } from './view-state.js';

/** @param {Record<string, string>} params @param {number} ticket */
export function rolloutView(params, ticket) {
  const id = params.id ?? '';
  const host = h('div', {}, h('p', { className: 'muted' }, 'Loading…'));
  // One detail panel for the page's life: a live redraw keeps the span the user opened.
  const detail = h('div');
  let shown = '';
  /** @param {boolean} live */
  const load = async (live) => {
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
      const text = JSON.stringify([rollout, attempts, spans]);
      if (live && text === shown) return;
      shown = text;
      const spanItems = spans.items ?? [];
      const nodes = [
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
          { empty: 'No attempt yet.', rowKey: (a) => a.attempt_id },
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
      ];
      if (live) replaceKeepingState(host, nodes, new Set());
      else host.replaceChildren(...nodes);
    } catch (error) {
      // A failed live re-read keeps what is shown; the connection badge tells the user.
      if (!stale(ticket) && !live) showError(host, error);
    }
  };
  void load(false);
  onLeave(
    onLive(['rollout', 'attempt', 'span'], (events) => {
      if (events.some((e) => e.id === undefined || e.id === id)) void load(true);
    }),
  );
  return [h('p', {}, link('rollouts', {}, '← Rollouts')), host];
}
