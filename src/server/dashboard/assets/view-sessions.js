/**
 * The sessions view: conversation sessions (`/v1/sessions`) with status, participants, message count and
 * expiry counting down; a session's participants, context and messages (newest first, older on request).
 */
import { api } from './api.js';
import { badge, countdown, facts, h, mono, pre, searchBox, selectBox, table, titleRow } from './dom.js';
import { formatTime, prettyJson, previewValue } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { cursorList } from './paged-list.js';
import { onLeave, rememberRoute, stale } from './view-state.js';

const STATUSES = ['active', 'paused', 'ended', 'expired'];
/** Messages shown first, and added by each "Show older". */
const MESSAGE_PAGE = 20;
/** Sessions per page of the list (the server pages `/v1/sessions` by a cursor). */
const SESSION_PAGE = 50;

/** @param {Record<string, string>} params @param {number} ticket */
export function sessionsView(params, ticket) {
  const state = {
    status: STATUSES.includes(params.status ?? '') ? (params.status ?? '') : '',
    participant: params.participant ?? '',
    q: params.q ?? '',
    selected: params.session ?? '',
  };
  const status = selectBox(
    'Status',
    [['', 'All statuses'], ...STATUSES.map((s) => /** @type {[string, string]} */ ([s, s]))],
    state.status,
  );
  const participant = searchBox('Participant', state.participant, 'search narrow');
  const search = searchBox('Search by session id', state.q, 'search narrow');
  const detail = h('div');
  let messageLimit = MESSAGE_PAGE;

  const remember = () => rememberRoute('sessions', { ...state, session: state.selected || undefined });

  const loadDetail = async () => {
    if (state.selected === '') {
      detail.replaceChildren();
      return;
    }
    const id = encodeURIComponent(state.selected);
    try {
      const [session, messages] = await Promise.all([
        api(`/v1/sessions/${id}`),
        api(`/v1/sessions/${id}/messages`, { limit: messageLimit }),
      ]);
      if (stale(ticket)) return;
      const list = /** @type {any[]} */ (messages.messages ?? []).slice().reverse();
      detail.replaceChildren(
        h(
          'section',
          { className: 'panel' },
          h('h2', {}, `Session ${session.sessionId}`),
          facts([
            ['Status', badge(session.status)],
            ['Reason', session.statusReason ?? '-'],
            ['Participants', session.participants.length ? session.participants.join(', ') : '-'],
            ['Messages', String(session.messageCount)],
            ['Expires in', countdown(session.expiresAt ?? undefined)],
          ]),
          h('h3', {}, 'Context'),
          pre(prettyJson(session.context)),
          h('h3', {}, `Messages (newest ${list.length} of ${session.messageCount})`),
          table(
            [
              { title: 'Time', cell: (m) => formatTime(m.timestamp / 1000), className: 'nowrap' },
              { title: 'Sender', cell: (m) => mono(String(m.senderId ?? '-')), className: 'nowrap' },
              {
                title: 'Message',
                cell: ({ id: _id, senderId: _sender, timestamp: _at, ...fields }) =>
                  mono(previewValue(fields.content ?? fields, 200)),
                className: 'preview',
              },
            ],
            list,
            { empty: 'No messages yet.' },
          ),
          list.length < session.messageCount
            ? h(
                'button',
                {
                  type: 'button',
                  className: 'button',
                  onclick: () => {
                    messageLimit += MESSAGE_PAGE;
                    void loadDetail();
                  },
                },
                'Show older messages',
              )
            : null,
        ),
      );
    } catch (error) {
      if (!stale(ticket)) showError(detail, error);
    }
  };

  const list = cursorList(ticket, {
    rowKey: (s) => s.sessionId,
    fetchPage: async (cursor) => {
      const body = await api('/v1/sessions', {
        status: state.status,
        participant: state.participant,
        prefix: state.q,
        limit: SESSION_PAGE,
        cursor,
      });
      return { items: body.sessions ?? [], cursor: body.cursor };
    },
    render: (rows) => {
      const node = table(
        [
          { title: 'Session', cell: (s) => mono(s.sessionId), className: 'nowrap' },
          { title: 'Status', cell: (s) => badge(s.isExpired ? 'expired' : s.status) },
          { title: 'Participants', cell: (s) => String(s.participantCount) },
          { title: 'Messages', cell: (s) => String(s.messageCount) },
          { title: 'Expires in', cell: (s) => countdown(s.expiresAt ?? undefined) },
        ],
        rows,
        {
          empty:
            state.q || state.status || state.participant
              ? 'No session matches these filters.'
              : 'No sessions yet.',
          rowKey: (s) => s.sessionId,
          onRowClick: (s) => {
            state.selected = s.sessionId;
            messageLimit = MESSAGE_PAGE;
            remember();
            void loadDetail();
          },
        },
      );
      for (const tr of /** @type {NodeListOf<HTMLElement>} */ (node.querySelectorAll('tr[data-key]'))) {
        if (tr.dataset.key === state.selected) tr.classList.add('selected');
      }
      return node;
    },
  });

  const reload = () => {
    remember();
    void list.load();
  };
  status.addEventListener('change', () => {
    state.status = status.value;
    reload();
  });
  let typing = 0;
  for (const [input, field] of /** @type {Array<[HTMLInputElement, 'participant' | 'q']>} */ ([
    [participant, 'participant'],
    [search, 'q'],
  ])) {
    input.addEventListener('input', () => {
      clearTimeout(typing);
      typing = window.setTimeout(() => {
        state[field] = input.value.trim();
        reload();
      }, 300);
    });
  }
  void list.load();
  void loadDetail();
  onLeave(
    onLive(['session'], (events) => {
      // Re-reads the page shown (one bounded page), not every session.
      void list.refresh();
      if (events.some((e) => e.id === undefined || e.id === state.selected)) void loadDetail();
    }),
  );
  return [
    titleRow('Sessions'),
    h('div', { className: 'toolbar' }, search, status, participant),
    list.host,
    detail,
  ];
}
