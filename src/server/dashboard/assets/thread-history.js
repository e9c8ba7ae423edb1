/**
 * A thread's stored revision history on the Threads page: the revisions `ThreadStateRepository` recorded
 * (newest first, older ones on request), and the keys changed between any two of them with the saves that
 * changed them, old -> new. The server rebuilds past values from what later saves replaced, as long as
 * retention keeps the revision; for an older one it says so (REVISION_NOT_RETAINED), and so does this page.
 */
import { api } from './api.js';
import { h, mono, selectBox, table } from './dom.js';
import { formatTime, previewValue } from './format.js';
import { showError } from './page.js';

const PAGE = 50;

/** @typedef {{ documentRevision: number, revision: number, savedAt: number, changed: string[], appended: string[] }} StoredRevision */

/** @param {string[]} keys */
const keyList = (keys) => (keys.length === 0 ? '-' : mono(keys.join(', ')));

/** @param {string} label @param {number[]} saves */
const saves = (label, saves) =>
  saves.length === 0 ? '' : `${label} in save${saves.length > 1 ? 's' : ''} ${saves.join(', ')}`;

/** @typedef {{ revision: number, retained: true, values: Record<string, unknown> }
 *   | { revision: number, retained: false, code: string, message: string, oldestRetained: number }} SideOfDiff */

/**
 * The history panel of one thread.
 * @param {{ base: string, isStale: () => boolean, pick: { from: string, to: string } }} spec
 *   `base` is the thread's route (`/v1/dashboard/threads/<ns>/<id>`), `pick` the compared revisions (kept
 *   by the caller across live redraws; `''` picks the newest two).
 */
export function threadHistory(spec) {
  /** @type {StoredRevision[]} */
  const revisions = [];
  /** @type {number | undefined} */
  let cursor;
  const pick = spec.pick;
  const listHost = h('div', {}, h('p', { className: 'muted' }, 'Loading…'));
  const pickers = h('div', { className: 'toolbar' });
  const diffHost = h('div');

  /** @param {SideOfDiff} side @param {string} key */
  const valueAt = (side, key) => {
    if (!side.retained) return h('span', { className: 'muted' }, 'not kept');
    return Object.hasOwn(side.values, key)
      ? mono(previewValue(side.values[key], 120))
      : h('span', { className: 'diff-removed' }, 'absent');
  };

  /** A clear note for each compared save whose values are no longer kept. @param {SideOfDiff[]} sides */
  const notKept = (sides) =>
    sides.map((side) =>
      side.retained
        ? ''
        : h(
            'p',
            { className: 'note-box', role: 'note', 'data-code': side.code },
            `The values of save ${side.revision} are no longer kept (removed by retention or compaction, ` +
              `or never kept by an earlier release), so they are not shown. The oldest save shown with ` +
              `values is ${side.oldestRetained}.`,
          ),
    );

  const drawDiff = async () => {
    const from = Number(pick.from);
    const to = Number(pick.to);
    if (!from || !to)
      return diffHost.replaceChildren(h('p', { className: 'muted' }, 'Choose two revisions.'));
    try {
      const diff = await api(`${spec.base}/diff`, { from, to });
      if (spec.isStale()) return;
      diffHost.replaceChildren(
        ...notKept([diff.before, diff.after]),
        diff.complete
          ? ''
          : h(
              'p',
              { className: 'muted' },
              'Some saves in between were removed by retention: keys they changed are missing.',
            ),
        table(
          [
            { title: 'Key', cell: (d) => mono(d.key), className: 'nowrap' },
            {
              title: 'Change',
              cell: (d) =>
                [saves('rewritten', d.rewrittenIn), saves('appended to', d.appendedIn)]
                  .filter(Boolean)
                  .join('; '),
            },
            {
              title: `Before (save ${diff.from})`,
              cell: (d) => valueAt(diff.before, d.key),
              className: 'preview',
            },
            {
              title: `After (save ${diff.to})`,
              cell: (d) => valueAt(diff.after, d.key),
              className: 'preview',
            },
          ],
          diff.keys,
          { empty: 'No key changed between these revisions.', rowKey: (d) => d.key },
        ),
      );
    } catch (error) {
      if (!spec.isStale()) showError(diffHost, error);
    }
  };

  const draw = () => {
    const options = revisions.map(
      (r) =>
        /** @type {[string, string]} */ ([
          String(r.documentRevision),
          `save ${r.documentRevision} (state revision ${r.revision}, ${formatTime(r.savedAt / 1000)})`,
        ]),
    );
    if (pick.to === '') pick.to = String(revisions[0]?.documentRevision ?? '');
    if (pick.from === '') pick.from = String(revisions[1]?.documentRevision ?? pick.to);
    const fromSelect = selectBox('Compare from revision', options, pick.from);
    const toSelect = selectBox('Compare to revision', options, pick.to);
    fromSelect.addEventListener('change', () => {
      pick.from = fromSelect.value;
      void drawDiff();
    });
    toSelect.addEventListener('change', () => {
      pick.to = toSelect.value;
      void drawDiff();
    });
    pickers.replaceChildren(fromSelect, toSelect);
    listHost.replaceChildren(
      table(
        [
          { title: 'Save', cell: (r) => String(r.documentRevision) },
          { title: 'State revision', cell: (r) => String(r.revision) },
          { title: 'Saved', cell: (r) => formatTime(r.savedAt / 1000), className: 'nowrap' },
          { title: 'Keys written', cell: (r) => keyList(r.changed) },
          { title: 'Appended to', cell: (r) => keyList(r.appended) },
        ],
        revisions,
        { empty: 'No stored revision (retention removed them).', rowKey: (r) => String(r.documentRevision) },
      ),
      cursor === undefined
        ? ''
        : h(
            'button',
            { type: 'button', className: 'button', onclick: () => void more() },
            'Show older revisions',
          ),
    );
  };

  const more = async () => {
    try {
      const page = await api(`${spec.base}/revisions`, { limit: PAGE, before: cursor });
      if (spec.isStale()) return;
      revisions.push(...page.revisions);
      cursor = page.cursor;
      draw();
      if (revisions.length === page.revisions.length) void drawDiff();
    } catch (error) {
      if (!spec.isStale()) showError(listHost, error);
    }
  };

  void more();
  return [
    h('h3', {}, 'Revision history (stored)'),
    listHost,
    h('h3', {}, 'Compare two revisions'),
    pickers,
    diffHost,
  ];
}
