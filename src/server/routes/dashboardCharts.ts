/**
 * `/v1/dashboard/...` chart series over the rollout store: rollouts started per minute by status, and the
 * reward of the newest finished rollouts. Read scope; every answer is bounded.
 */
import type { RolloutStore, Span } from '../../rollouts/index.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { TypedApp } from '../schemaTypes.ts';

/** Newest rollouts the per-minute chart reads at most (the chart says when it was cut). */
export const TIMELINE_MAX_ROLLOUTS = 5000;
/** Rollouts whose reward the reward chart looks up at most. */
export const REWARD_MAX_ROLLOUTS = 100;
/** Newest spans of a rollout searched for its reward. */
const REWARD_SPAN_WINDOW = 500;

const READ = { access: { scope: 'read' as const } };

/**
 * The reward a span reports, if any: the `agentlightning.reward` attribute (as Agent Lightning emits it),
 * or, on a span named `reward`, its `reward` or `value` attribute.
 */
export function rewardOf(span: Pick<Span, 'name' | 'attributes'>): number | undefined {
  const attributes = (span.attributes ?? {}) as Record<string, unknown>;
  const candidates = [attributes['agentlightning.reward']];
  if (span.name === 'reward') candidates.push(attributes.reward, attributes.value);
  for (const value of candidates) {
    const n = typeof value === 'string' ? Number(value) : value;
    if (typeof n === 'number' && Number.isFinite(n)) return n;
  }
  return undefined;
}

/** Counts of rollouts started per minute, by status, from rollouts given newest first. */
export function rolloutsPerMinute(rollouts: ReadonlyArray<{ startTime: number; status: string }>): Array<{
  minute: number;
  counts: Record<string, number>;
}> {
  const byMinute = new Map<number, Record<string, number>>();
  for (const rollout of rollouts) {
    const minute = Math.floor(rollout.startTime / 60) * 60;
    let counts = byMinute.get(minute);
    if (!counts) {
      counts = {};
      byMinute.set(minute, counts);
    }
    counts[rollout.status] = (counts[rollout.status] ?? 0) + 1;
  }
  return [...byMinute.entries()].sort((a, b) => a[0] - b[0]).map(([minute, counts]) => ({ minute, counts }));
}

/** Registers the chart routes over `rollouts`. */
export function registerDashboardChartRoutes(
  app: TypedApp,
  rollouts: RolloutStore,
  metrics: ServerMetrics,
): void {
  app.get(
    '/v1/dashboard/rollouts-per-minute',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: `Rollouts started per minute by status, over the newest ${TIMELINE_MAX_ROLLOUTS}`,
      },
    },
    async () => {
      const page = await metrics.time('rollouts', 'queryRollouts', () =>
        rollouts.queryRollouts({ sortBy: 'startTime', sortOrder: 'desc', limit: TIMELINE_MAX_ROLLOUTS }),
      );
      return {
        minutes: rolloutsPerMinute(page.items),
        sampled: page.items.length,
        truncated: page.total > page.items.length,
      };
    },
  );

  app.get(
    '/v1/dashboard/rewards',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: 'Reward of the newest finished rollouts (spans named reward or agentlightning.reward)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: REWARD_MAX_ROLLOUTS } },
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const page = await metrics.time('rollouts', 'queryRollouts', () =>
        rollouts.queryRollouts({
          statusIn: ['succeeded', 'failed'],
          sortBy: 'endTime',
          sortOrder: 'desc',
          limit,
        }),
      );
      const points = await Promise.all(
        page.items.map(async (rollout) => {
          const spans = await metrics.time('rollouts', 'querySpans', () =>
            rollouts.querySpans(rollout.rolloutId, {
              sortBy: 'sequenceId',
              sortOrder: 'desc',
              limit: REWARD_SPAN_WINDOW,
            }),
          );
          for (const span of spans.items) {
            const reward = rewardOf(span);
            if (reward !== undefined) {
              return { rolloutId: rollout.rolloutId, at: rollout.endTime ?? rollout.startTime, reward };
            }
          }
          return undefined;
        }),
      );
      return { points: points.filter((p) => p !== undefined).sort((a, b) => a.at - b.at) };
    },
  );
}
