/**
 * The overview: charts of what the store is doing. Rollouts per minute by status and the reward per
 * rollout are read from the server's dashboard routes (re-read when rollouts change); queue depth, span
 * ingest rate and p50/p99 store latency are sampled every SAMPLE_MS while the page is open.
 */
import { api } from './api.js';
import { chartPanel, STATUS_COLOURS } from './charts.js';
import { h, titleRow } from './dom.js';
import { histogramQuantile, ROLLOUT_STATUSES } from './format.js';
import { onLive } from './live.js';
import { showError } from './page.js';
import { onLeave, stale } from './view-state.js';

const SAMPLE_MS = 5000;
/** Samples kept per series (an hour at one per SAMPLE_MS). */
const MAX_SAMPLES = 720;

/** @param {Record<string, string>} _params @param {number} ticket */
export function overviewView(_params, ticket) {
  const errors = h('div');
  const perMinute = chartPanel({
    title: 'Rollouts started per minute, by status',
    unit: 'rollouts',
    series: ROLLOUT_STATUSES.map((s) => ({ label: s, colour: STATUS_COLOURS[s], dots: true })),
  });
  const rewards = chartPanel({
    title: 'Reward per rollout',
    unit: 'reward',
    series: [{ label: 'reward', colour: '#a855f7', points: true }],
    note: 'From spans named "reward" or carrying agentlightning.reward, newest finished rollouts.',
  });
  const queue = chartPanel({
    title: 'Queue depth',
    unit: 'rollouts',
    series: [{ label: 'queued', dots: true }],
  });
  const spanRate = chartPanel({
    title: 'Span ingest rate',
    unit: 'spans/s',
    series: [{ label: 'spans/s', colour: '#14b8a6' }],
  });
  const latency = chartPanel({
    title: 'Store latency (p50 / p99)',
    unit: 'ms',
    series: [
      { label: 'p50', colour: '#3b82f6', dots: true },
      { label: 'p99', colour: '#ef4444', dots: true },
    ],
    note: 'Quantiles of the store calls made between two samples (from the server metrics histogram).',
  });
  const charts = [perMinute, rewards, queue, spanRate, latency];

  const loadPerMinute = async () => {
    try {
      const body = await api('/v1/dashboard/rollouts-per-minute');
      if (stale(ticket)) return;
      const minutes = /** @type {Array<{ minute: number, counts: Record<string, number> }>} */ (
        body.minutes ?? []
      );
      perMinute.update([
        minutes.map((m) => m.minute),
        ...ROLLOUT_STATUSES.map((s) => minutes.map((m) => m.counts[s] ?? 0)),
      ]);
      perMinute.setNote(
        body.truncated ? `From the newest ${body.sampled} rollouts.` : `${body.sampled} rollouts.`,
      );
    } catch (error) {
      if (!stale(ticket)) showError(errors, error);
    }
  };
  const loadRewards = async () => {
    try {
      const body = await api('/v1/dashboard/rewards', { limit: 100 });
      if (stale(ticket)) return;
      const points = /** @type {Array<{ at: number, reward: number }>} */ (body.points ?? []);
      rewards.update([points.map((p) => p.at), points.map((p) => p.reward)]);
    } catch {
      // The per-minute chart reports the same failure.
    }
  };

  /** @type {{ at: number, totalSpans: number | null, latency: { bounds: number[], cumulative: number[] } } | undefined} */
  let previous;
  /** @type {number[][]} */
  const series = [[], [], [], [], []]; // time, queue, span rate, p50, p99
  const sample = async () => {
    try {
      const f = await api('/v1/dashboard/figures');
      if (stale(ticket)) return;
      const at = f.at / 1000;
      let rate = 0;
      let p50 = 0;
      let p99 = 0;
      if (previous) {
        const dt = (f.at - previous.at) / 1000;
        if (dt > 0 && f.totalSpans !== null && previous.totalSpans !== null) {
          rate = Math.max(0, (f.totalSpans - previous.totalSpans) / dt);
        }
        const delta = f.storeLatency.cumulative.map(
          (/** @type {number} */ c, /** @type {number} */ i) => c - (previous?.latency.cumulative[i] ?? 0),
        );
        p50 = (histogramQuantile(f.storeLatency.bounds, delta, 0.5) ?? 0) * 1000;
        p99 = (histogramQuantile(f.storeLatency.bounds, delta, 0.99) ?? 0) * 1000;
      }
      previous = { at: f.at, totalSpans: f.totalSpans, latency: f.storeLatency };
      const values = [
        at,
        f.queueDepth ?? 0,
        Math.round(rate * 10) / 10,
        Math.round(p50 * 100) / 100,
        Math.round(p99 * 100) / 100,
      ];
      values.forEach((v, i) => {
        series[i]?.push(v);
        if ((series[i]?.length ?? 0) > MAX_SAMPLES) series[i]?.shift();
      });
      queue.update([series[0] ?? [], series[1] ?? []]);
      spanRate.update([series[0] ?? [], series[2] ?? []]);
      latency.update([series[0] ?? [], series[3] ?? [], series[4] ?? []]);
    } catch (error) {
      if (!stale(ticket)) showError(errors, error);
    }
  };

  void loadPerMinute();
  void loadRewards();
  void sample();
  const timer = window.setInterval(() => void sample(), SAMPLE_MS);
  const unsubscribe = onLive(['rollout', 'attempt', 'span'], (events) => {
    if (events.some((e) => e.kind !== 'span')) void loadPerMinute();
    void loadRewards();
  });
  onLeave(() => {
    clearInterval(timer);
    unsubscribe();
    for (const c of charts) c.dispose();
  });
  return [
    titleRow('Overview'),
    errors,
    h(
      'div',
      { className: 'charts' },
      charts.map((c) => c.panel),
    ),
  ];
}
