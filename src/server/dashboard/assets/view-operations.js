/**
 * The backups and consistency view: the backups of the server's backup directory (`serve --backup-dir`)
 * with their creation time, size and record counts, newest first, paged; and the latest consistency
 * report with its time, its findings, and a button that starts a new check (the server runs one at a
 * time). Both need a token with the admin scope: listings and findings name stored data.
 */
import { ApiError, api, apiPost } from './api.js';
import { facts, h, mono, table, titleRow } from './dom.js';
import { formatTime } from './format.js';
import { showError } from './page.js';
import { cursorList } from './paged-list.js';
import { onLeave, stale } from './view-state.js';

const PAGE = 20;
/** How often the page asks whether a running check has finished, ms. */
const RUNNING_POLL_MS = 1000;
/** Findings shown at most (the report itself keeps 100 per kind). */
const MAX_FINDINGS_SHOWN = 200;

/** @param {number} bytes */
function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * An admin route's answer: a token without the admin scope gets that said in the panel (the page-wide
 * notice would ask for a read token, which the user already gave).
 * @param {Promise<any>} answer
 */
async function adminOnly(answer) {
  try {
    return await answer;
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      throw new ApiError('This page needs an access token with the admin scope.', false, 403);
    }
    throw error;
  }
}

/** @param {any} location */
const where = (location) =>
  location && 'table' in location
    ? `${location.table} ${location.key}`
    : `${location?.namespace}/${location?.id}`;

/** @param {Record<string, string>} _params @param {number} ticket */
export function operationsView(_params, ticket) {
  const backupsList = cursorList(ticket, {
    rowKey: (b) => b.name,
    fetchPage: async (cursor) => {
      const page = await adminOnly(api('/v1/operations/backups', { limit: PAGE, cursor }));
      return { items: [...(page.backups ?? []), ...(page.unreadable ?? [])], cursor: page.cursor };
    },
    render: (backups) =>
      table(
        [
          { title: 'Backup', cell: (b) => mono(b.name), className: 'nowrap' },
          {
            title: 'Created',
            cell: (b) => (b.error ? '-' : formatTime(Date.parse(b.createdAt) / 1000)),
            className: 'nowrap',
          },
          { title: 'Size', cell: (b) => (b.error ? '-' : formatBytes(b.bytes)), className: 'nowrap' },
          { title: 'Records', cell: (b) => (b.error ? '-' : String(b.records)) },
          {
            title: 'Sections',
            cell: (b) =>
              b.error
                ? h('span', { className: 'diff-removed' }, `unreadable: ${b.error.message}`)
                : (b.sections ?? []).map((/** @type {any} */ s) => `${s.name} ${s.count}`).join(', ') || '-',
            className: 'preview',
          },
        ],
        backups,
        { empty: 'No backups in the backup directory yet.', rowKey: (b) => b.name },
      ),
  });

  const reportHost = h('div', {}, h('p', { className: 'muted' }, 'Loading…'));
  const runButton = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'button', className: 'button' }, 'Run check now')
  );
  let poll = 0;
  onLeave(() => clearTimeout(poll));

  /** @param {any} state */
  const drawReport = (state) => {
    runButton.disabled = state.running;
    const latest = state.latest;
    const running = state.running
      ? h(
          'p',
          { className: 'muted', role: 'status' },
          `A check is running since ${formatTime(state.runningSince / 1000)}…`,
        )
      : null;
    if (!latest) {
      return reportHost.replaceChildren(
        ...[running, h('p', { className: 'muted' }, 'No check has run since the server started.')].filter(
          Boolean,
        ),
      );
    }
    if (latest.error) {
      return reportHost.replaceChildren(
        ...[running, h('div', { className: 'error-box' }, `The last check failed: ${latest.error}`)].filter(
          Boolean,
        ),
      );
    }
    const report = latest.report;
    const findings = [
      ...report.errors.map((/** @type {any} */ f) => ({ ...f, severity: 'error' })),
      ...report.warnings.map((/** @type {any} */ f) => ({ ...f, severity: 'warning' })),
    ];
    reportHost.replaceChildren(
      ...[
        running,
        facts([
          ['Checked', formatTime(latest.startedAt / 1000)],
          ['Took', `${latest.durationMs} ms`],
          ['Errors', String(report.errors.length)],
          ['Warnings', String(report.warnings.length)],
          [
            'Looked at',
            Object.entries(report.counts)
              .map(([k, v]) => `${v} ${k}`)
              .join(', ') || '-',
          ],
          ...(report.truncated.length > 0
            ? [/** @type {[string, string]} */ (['Cut at the limit', report.truncated.join(', ')])]
            : []),
        ]),
        table(
          [
            {
              title: 'Severity',
              cell: (f) => h('span', { className: f.severity === 'error' ? 'diff-removed' : '' }, f.severity),
            },
            { title: 'Kind', cell: (f) => mono(f.kind), className: 'nowrap' },
            { title: 'Where', cell: (f) => mono(where(f.document)), className: 'nowrap' },
            { title: 'Finding', cell: (f) => f.message, className: 'preview' },
            { title: 'Fix', cell: (f) => f.fix, className: 'preview' },
          ],
          findings.slice(0, MAX_FINDINGS_SHOWN),
          { empty: 'No findings: the data is consistent.' },
        ),
      ].filter(Boolean),
    );
  };

  const loadReport = async () => {
    clearTimeout(poll);
    try {
      const state = await adminOnly(api('/v1/operations/consistency'));
      if (stale(ticket)) return;
      drawReport(state);
      if (state.running) poll = window.setTimeout(() => void loadReport(), RUNNING_POLL_MS);
    } catch (error) {
      if (!stale(ticket)) showError(reportHost, error);
    }
  };
  runButton.addEventListener('click', async () => {
    runButton.disabled = true;
    try {
      const state = await adminOnly(apiPost('/v1/operations/consistency/runs'));
      if (stale(ticket)) return;
      drawReport(state);
      poll = window.setTimeout(() => void loadReport(), RUNNING_POLL_MS);
    } catch (error) {
      runButton.disabled = false;
      if (!stale(ticket)) showError(reportHost, error);
    }
  });

  // Without a backup directory the listing answers 404 with a message naming serve --backup-dir.
  void backupsList.load();
  void loadReport();
  return [
    titleRow('Backups and consistency'),
    h('h2', {}, 'Backups'),
    backupsList.host,
    h('div', { className: 'title-row' }, h('h2', {}, 'Consistency'), runButton),
    reportHost,
  ];
}
