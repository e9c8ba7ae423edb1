/**
 * The traces view: the spans of one rollout (optionally one attempt, optionally filtered by name) as a
 * table or a waterfall.
 */
import { api } from './api.js';
import { h, refreshButton, searchBox, selectBox, titleRow } from './dom.js';
import { ROLLOUT_STATUSES } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { pagedList, SPAN_PAGE_SIZE } from './paged-list.js';
import { spansTable, waterfall } from './spans.js';
import { onLeave, rememberRoute, stale } from './view-state.js';

/** Statuses of rollouts that started an attempt (the only ones that can have spans). */
const STARTED_STATUSES = ROLLOUT_STATUSES.filter((s) => s !== 'queuing');

/** Newest rollouts the landing looks through for one with spans (in parallel groups of LANDING_BATCH). */
const LANDING_BATCH = 10;

/**
 * The newest of `ids` (given newest first) that has at least one span, or undefined.
 * @param {string[]} ids
 */
async function newestWithSpans(ids) {
  for (let i = 0; i < ids.length; i += LANDING_BATCH) {
    const batch = ids.slice(i, i + LANDING_BATCH);
    const totals = await Promise.all(
      batch.map((id) =>
        api('/v1/agl/spans', { rollout_id: id, limit: 1 }).then(
          (page) => page.total ?? page.items?.length ?? 0,
          () => 0,
        ),
      ),
    );
    const found = totals.findIndex((n) => n > 0);
    if (found >= 0) return batch[found];
  }
  return undefined;
}

/** @param {Record<string, string>} params @param {number} ticket */
export function tracesView(params, ticket) {
  const state = {
    rollout: params.rollout ?? '',
    attempt: params.attempt ?? '',
    name: params.name ?? '',
    mode: params.mode === 'waterfall' ? 'waterfall' : 'table',
  };
  const rolloutInput = searchBox('Rollout id', state.rollout, 'search narrow');
  // `list` is a read-only property of inputs: it can only be set as an attribute.
  rolloutInput.setAttribute('list', 'recent-rollouts');
  const recent = h('datalist', { id: 'recent-rollouts' });
  const attemptSelect = /** @type {HTMLSelectElement} */ (h('select', { 'aria-label': 'Attempt' }));
  const nameInput = searchBox('Search spans by name', state.name, 'search narrow');
  const modeSelect = selectBox(
    'View',
    [
      ['table', 'Table view'],
      ['waterfall', 'Waterfall view'],
    ],
    state.mode,
  );
  const detail = h('div');

  const remember = () =>
    rememberRoute('traces', { ...state, mode: state.mode === 'table' ? undefined : state.mode });

  const loadAttempts = async () => {
    attemptSelect.replaceChildren(
      h('option', { value: '' }, 'All attempts'),
      h('option', { value: 'latest' }, 'Latest attempt'),
    );
    if (state.rollout === '') return;
    try {
      const attempts = await api(`/v1/agl/rollouts/${encodeURIComponent(state.rollout)}/attempts`, {
        sort_by: 'sequence_id',
        sort_order: 'desc',
      });
      if (stale(ticket)) return;
      for (const a of attempts.items ?? []) {
        attemptSelect.append(
          h('option', { value: a.attempt_id }, `Attempt ${a.sequence_id} (${a.attempt_id}) - ${a.status}`),
        );
      }
    } catch {
      // The spans request below reports the same failure where the user looks.
    }
    attemptSelect.value = state.attempt;
    if (attemptSelect.value !== state.attempt) state.attempt = '';
  };

  const list = pagedList(ticket, {
    pageSize: SPAN_PAGE_SIZE,
    onOffset: () => {
      remember();
      detail.replaceChildren();
    },
    fetchPage: (offset) =>
      api('/v1/agl/spans', {
        rollout_id: state.rollout,
        attempt_id: state.attempt,
        name_contains: state.name,
        limit: SPAN_PAGE_SIZE,
        offset,
        sort_by: 'start_time',
        sort_order: 'asc',
      }),
    render: (spans) => (state.mode === 'waterfall' ? waterfall(spans, detail) : spansTable(spans, detail)),
  });

  /** @param {number} [offset] absent: stay on the current page */
  const loadSpans = async (offset) => {
    if (state.rollout !== '') return list.load(offset);
    remember();
    detail.replaceChildren();
    list.host.replaceChildren(h('p', { className: 'muted' }, 'Choose a rollout to see its spans.'));
  };

  const loadRecent = async () => {
    try {
      // Queued rollouts have no spans yet: the suggestions (and the landing) are rollouts that started.
      const page = await api('/v1/agl/rollouts', {
        status_in: STARTED_STATUSES,
        limit: 50,
        sort_by: 'start_time',
        sort_order: 'desc',
      });
      if (stale(ticket)) return;
      recent.replaceChildren(
        ...(page.items ?? []).map((/** @type {any} */ r) => h('option', { value: r.rollout_id })),
      );
      // Nothing chosen yet: show the newest rollout that has spans (the newest rollouts are often still
      // queued, and landing on one of them showed only "No spans.").
      if (state.rollout === '' && page.items?.length) {
        const id = await newestWithSpans(page.items.map((/** @type {any} */ r) => r.rollout_id));
        if (stale(ticket) || state.rollout !== '') return;
        if (id === undefined) {
          list.host.replaceChildren(
            h(
              'p',
              { className: 'muted' },
              'None of the newest rollouts has spans yet; choose a rollout above.',
            ),
          );
          return;
        }
        state.rollout = id;
        rolloutInput.value = state.rollout;
        await loadAttempts();
        await loadSpans();
      }
    } catch (error) {
      if (!stale(ticket) && state.rollout === '') showError(list.host, error);
    }
  };

  rolloutInput.addEventListener('change', async () => {
    state.rollout = rolloutInput.value.trim();
    state.attempt = '';
    await loadAttempts();
    await loadSpans(0);
  });
  attemptSelect.addEventListener('change', () => {
    state.attempt = attemptSelect.value;
    void loadSpans(0);
  });
  let typing = 0;
  nameInput.addEventListener('input', () => {
    clearTimeout(typing);
    typing = window.setTimeout(() => {
      state.name = nameInput.value.trim();
      void loadSpans(0);
    }, 300);
  });
  modeSelect.addEventListener('change', () => {
    state.mode = modeSelect.value === 'waterfall' ? 'waterfall' : 'table';
    void loadSpans();
  });

  onLeave(
    onLive(['span', 'attempt'], (events) => {
      if (state.rollout !== '' && events.some((e) => e.id === undefined || e.id === state.rollout)) {
        void list.refresh();
      }
    }),
  );
  void (async () => {
    await loadAttempts();
    if (state.rollout !== '') await loadSpans();
    await loadRecent();
  })();
  return [
    titleRow('Traces', modeSelect),
    h(
      'div',
      { className: 'toolbar' },
      rolloutInput,
      recent,
      attemptSelect,
      nameInput,
      refreshButton(() => void loadSpans()),
    ),
    list.host,
    detail,
  ];
}
