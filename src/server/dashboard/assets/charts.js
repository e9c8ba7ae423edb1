/**
 * Charts, drawn by uPlot (loaded by index.html as the global `uPlot`; see docs/dashboard.md for the
 * choice). Colours come from the page's theme, every chart has a text label for screen readers, and the
 * chart follows its container's width (a narrow window gets a narrow chart).
 */
import { h } from './dom.js';

/** Colours of series, in order; status series use their status's tone. */
const PALETTE = ['#3b82f6', '#22c55e', '#ef4444', '#f59e0b', '#a855f7', '#14b8a6', '#94a3b8'];
export const STATUS_COLOURS = /** @type {Record<string, string>} */ ({
  succeeded: '#22c55e',
  failed: '#ef4444',
  running: '#3b82f6',
  preparing: '#60a5fa',
  queuing: '#94a3b8',
  requeuing: '#f59e0b',
  cancelled: '#6b7280',
});

const css = (/** @type {string} */ name) =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/**
 * A chart panel: title, uPlot canvas and a note. `update(data)` redraws with new columns
 * (`[xs, ...ys]`, x in epoch seconds).
 * @param {{ title: string, series: Array<{ label: string, colour?: string, points?: boolean, dots?: boolean }>, unit?: string, note?: string }} spec
 *   `points`: points only (a scatter); `dots`: a line with its points marked (readable with few samples).
 */
export function chartPanel(spec) {
  const plotHost = h('div', { className: 'plot' });
  const note = h('p', { className: 'chart-note muted' }, spec.note ?? '');
  const panel = h(
    'section',
    { className: 'chart', tabIndex: 0, 'aria-label': spec.title },
    h('h2', {}, spec.title),
    plotHost,
    note,
  );
  /** @type {any} */
  let plot;
  /** @type {number[][]} */
  let data = [[], ...spec.series.map(() => [])];
  const uPlot = /** @type {any} */ (globalThis).uPlot;

  const build = () => {
    if (!uPlot) {
      plotHost.replaceChildren(h('p', { className: 'muted' }, 'The chart library did not load.'));
      return;
    }
    plot?.destroy();
    const text = css('--text-muted') || '#999';
    const grid = css('--border') || '#333';
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    plot = new uPlot(
      {
        width: Math.max(240, plotHost.clientWidth || 400),
        height: 200,
        scales: { x: { time: true } },
        legend: { live: false },
        axes: [axis, { ...axis, label: spec.unit ?? '', size: 56 }],
        series: [
          {},
          ...spec.series.map((s, i) => ({
            label: s.label,
            stroke: s.colour ?? PALETTE[i % PALETTE.length],
            width: 2,
            points: { show: (s.points ?? false) || (s.dots ?? false), size: 6 },
            ...(s.points ? { paths: () => null } : {}),
          })),
        ],
      },
      /** @type {any} */ (data),
      plotHost,
    );
  };

  /** @param {number[][]} next */
  const update = (next) => {
    data = next;
    if (!plot) build();
    else plot.setData(data);
    // One sample has no extent: show the few minutes before it rather than uPlot's default of years.
    const xs = data[0] ?? [];
    const first = xs[0];
    const last = xs[xs.length - 1];
    if (plot && first !== undefined && last !== undefined && last - first < 1) {
      plot.setScale('x', { min: first - 300, max: last + 30 });
    }
    const latest = xs.length
      ? data.slice(1).map((ys, i) => `${spec.series[i]?.label}: ${ys[ys.length - 1] ?? '-'}`)
      : [];
    panel.setAttribute(
      'aria-label',
      `${spec.title}. ${latest.length ? `Latest: ${latest.join(', ')}` : 'No data yet'}`,
    );
  };

  // Follow the container's width; a theme change rebuilds with the new colours.
  const resize = new ResizeObserver(() => {
    if (plot && plotHost.clientWidth > 0)
      plot.setSize({ width: Math.max(240, plotHost.clientWidth), height: 200 });
  });
  resize.observe(plotHost);
  document.addEventListener('themechange', build);

  return {
    panel,
    update,
    /** @param {string} text */
    setNote: (text) => {
      note.textContent = text;
    },
    dispose: () => {
      resize.disconnect();
      document.removeEventListener('themechange', build);
      plot?.destroy();
    },
  };
}
