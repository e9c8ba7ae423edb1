/**
 * `/v1/dashboard/...`: read routes the dashboard needs beyond the component APIs: store figures here, the
 * chart series (./dashboardCharts.ts), documents and threads in the codec's tagged form
 * (./dashboardDocuments.ts, ./threadHistory.ts, ./dashboardNamespaces.ts) and TTL entries
 * (./dashboardTtl.ts). Read scope; every answer is bounded.
 */
import type { FastifyInstance } from 'fastify';
import type { DocumentStore } from '../../drivers/index.ts';
import type { RolloutStore } from '../../rollouts/index.ts';
import type { TtlStoreLike } from '../../ttl/index.ts';
import type { ServerMetrics } from '../metrics.ts';
import { typedRoutes } from '../schemaTypes.ts';
import { registerDashboardChartRoutes } from './dashboardCharts.ts';
import { registerDashboardDocumentRoutes } from './dashboardDocuments.ts';
import { registerNamespaceRoutes } from './dashboardNamespaces.ts';
import { registerDashboardTtlRoutes } from './dashboardTtl.ts';
import { registerThreadHistoryRoutes } from './threadHistory.ts';

export {
  REWARD_MAX_ROLLOUTS,
  rewardOf,
  rolloutsPerMinute,
  TIMELINE_MAX_ROLLOUTS,
} from './dashboardCharts.ts';

const READ = { access: { scope: 'read' as const } };

/** Stores the dashboard data routes read (each optional, like the server's). */
export interface DashboardDataStores {
  /** Rollouts for the charts. */
  rollouts?: RolloutStore | undefined;
  /** Documents for the typed viewer. */
  documents?: DocumentStore | undefined;
  /** TTL store for the signals page. */
  ttl?: TtlStoreLike | undefined;
}

/** Registers the dashboard's read routes for the stores given. */
export function registerDashboardDataRoutes(
  app: FastifyInstance,
  stores: DashboardDataStores,
  metrics: ServerMetrics,
): void {
  const typed = typedRoutes(app);
  app.get(
    '/v1/dashboard/figures',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: 'Store figures for the charts: queue depth, spans stored, store latency histogram',
        description:
          'storeLatency holds cumulative bucket counts (upper bounds in seconds) since the server started; ' +
          'a client takes the difference of two answers for the quantiles of that interval.',
      },
    },
    async () => {
      const statistics = stores.rollouts
        ? await metrics.time('rollouts', 'statistics', () => stores.rollouts!.statistics())
        : undefined;
      // Sum the store-latency histogram over every store and operation.
      const buckets = new Map<number, number>();
      let count = 0;
      for (const value of (await metrics.storeSeconds.get()).values) {
        const le = (value.labels as Record<string, string | number>).le;
        if (value.metricName?.endsWith('_bucket') && typeof le === 'number') {
          buckets.set(le, (buckets.get(le) ?? 0) + value.value);
        } else if (value.metricName?.endsWith('_count')) count += value.value;
      }
      const bounds = [...buckets.keys()].sort((a, b) => a - b);
      return {
        at: Date.now(),
        queueDepth: statistics?.queueLength ?? null,
        totalRollouts: statistics?.totalRollouts ?? null,
        totalSpans: statistics?.totalSpans ?? null,
        rolloutsByStatus: statistics?.rolloutsByStatus ?? {},
        storeLatency: { bounds, cumulative: bounds.map((b) => buckets.get(b) ?? 0), count },
      };
    },
  );

  if (stores.rollouts) registerDashboardChartRoutes(typed, stores.rollouts, metrics);
  if (stores.documents) {
    registerThreadHistoryRoutes(app, stores.documents, metrics);
    registerNamespaceRoutes(app, stores.documents, metrics);
    registerDashboardDocumentRoutes(typed, stores.documents, metrics);
  }
  if (stores.ttl) registerDashboardTtlRoutes(typed, stores.ttl, metrics);
}
