/**
 * Prometheus metrics, one registry per server (two servers in one process, as in tests, never share
 * counters). Request metrics are labelled by the route pattern, not the URL, so ids do not explode the
 * label set.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RolloutStoreOperationalStats } from '../rollouts/index.ts';

/** The metrics of one server. */
export interface ServerMetrics {
  /** The registry `/metrics` renders. */
  readonly registry: Registry;
  /** Requests by method, route and status. */
  readonly requests: Counter<'method' | 'route' | 'status'>;
  /** Request latency in seconds by method and route. */
  readonly requestSeconds: Histogram<'method' | 'route'>;
  /** Rollouts by status, refreshed on every scrape. */
  readonly rolloutsByStatus: Gauge<'status'>;
  /** Rollouts waiting in the queue, refreshed on every scrape. */
  readonly queueDepth: Gauge;
  /** Spans stored, by source (`agl` for POST /v1/agl/spans, `otlp` for /v1/traces). */
  readonly spansIngested: Counter<'source'>;
  /** Spans refused by OTLP ingest (no rollout/attempt ids). */
  readonly spansRejected: Counter;
  /** Store call latency in seconds by store and operation. */
  readonly storeSeconds: Histogram<'store' | 'operation'>;
  /** Times a store call and records it. */
  time<T>(store: string, operation: string, call: () => Promise<T>): Promise<T>;
}

/**
 * Creates the metrics of one server; `refresh` runs before each scrape to update the gauges; `operational`
 * reports the rollout store's pool, round trips and health-check leadership when it has them.
 */
export function createServerMetrics(
  refresh?: (metrics: ServerMetrics) => Promise<void>,
  operational?: () => RolloutStoreOperationalStats | undefined,
): ServerMetrics {
  const registry = new Registry();
  if (operational) registerOperationalGauges(registry, operational);
  const requests = new Counter({
    name: 'agentstate_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const requestSeconds = new Histogram({
    name: 'agentstate_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const storeSeconds = new Histogram({
    name: 'agentstate_store_operation_duration_seconds',
    help: 'Store call latency by store and operation',
    labelNames: ['store', 'operation'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  const spansIngested = new Counter({
    name: 'agentstate_spans_ingested_total',
    help: 'Spans stored, by source',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const spansRejected = new Counter({
    name: 'agentstate_spans_rejected_total',
    help: 'OTLP spans refused because they carry no rollout/attempt ids',
    registers: [registry],
  });
  let metrics: ServerMetrics;
  // Both gauges come from one statistics call; whichever gauge is collected first starts it and the
  // other waits for the same promise, so a scrape reads the store once.
  let refreshing: Promise<void> | undefined;
  const collect = async () => {
    if (!refresh) return;
    refreshing ??= refresh(metrics).finally(() => {
      refreshing = undefined;
    });
    await refreshing;
  };
  const rolloutsByStatus = new Gauge({
    name: 'agentstate_rollouts',
    help: 'Rollouts by status',
    labelNames: ['status'] as const,
    registers: [registry],
    collect,
  });
  const queueDepth = new Gauge({
    name: 'agentstate_queue_depth',
    help: 'Rollouts waiting to be dequeued',
    registers: [registry],
    collect,
  });
  metrics = {
    registry,
    requests,
    requestSeconds,
    rolloutsByStatus,
    queueDepth,
    spansIngested,
    spansRejected,
    storeSeconds,
    async time(store, operation, call) {
      const end = storeSeconds.startTimer({ store, operation });
      try {
        return await call();
      } finally {
        end();
      }
    },
  };
  return metrics;
}

/** Gauges read from the store's own counters at each scrape (nothing is kept twice). */
function registerOperationalGauges(
  registry: Registry,
  operational: () => RolloutStoreOperationalStats | undefined,
): void {
  new Gauge({
    name: 'agentstate_db_pool_connections',
    help: "Rollout store's database connections: max (pool size), total (open), idle, waiting (callers queued)",
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const pool = operational()?.pool;
      if (!pool) return;
      for (const state of ['max', 'total', 'idle', 'waiting'] as const) this.set({ state }, pool[state]);
    },
  });
  const perOperation = (
    name: string,
    help: string,
    value: (e: { operations: number; roundTrips: number }) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['operation'] as const,
      registers: [registry],
      collect() {
        const stats = operational();
        if (!stats) return;
        for (const [operation, entry] of Object.entries(stats.roundTrips))
          this.set({ operation }, value(entry));
      },
    });
  perOperation(
    'agentstate_store_operations',
    'Rollout store operations completed, by operation',
    (e) => e.operations,
  );
  perOperation(
    'agentstate_store_round_trips',
    'Database round trips (statements, BEGIN/COMMIT included) of rollout store operations, by operation',
    (e) => e.roundTrips,
  );
  perOperation(
    'agentstate_store_round_trips_per_operation',
    'Mean database round trips per rollout store operation since start (group commit shares them)',
    (e) => (e.operations === 0 ? 0 : e.roundTrips / e.operations),
  );
  new Gauge({
    name: 'agentstate_health_check_leader',
    help: '1 while this process holds the cluster health-check lease (runs the timed health check), else 0',
    registers: [registry],
    collect() {
      const stats = operational();
      if (stats) this.set(stats.healthCheckLeader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'agentstate_health_check_runs',
    help: 'Timed health-check passes this process ran as the lease holder',
    registers: [registry],
    collect() {
      const stats = operational();
      if (stats) this.set(stats.healthCheckRuns);
    },
  });
}
