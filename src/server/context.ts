/** What route plugins get: the stores the server exposes and its metrics. */
import type { DocumentStore } from '../drivers/index.ts';
import type { RolloutStore } from '../rollouts/index.ts';
import type { ServerMetrics } from './metrics.ts';

/** The stores and services behind one server. Routes of a missing store are not registered. */
export interface ServerContext {
  /** Documents for /v1/state. */
  readonly documents: DocumentStore | undefined;
  /** Rollouts for /v1/agl and /v1/traces. */
  readonly rollouts: RolloutStore | undefined;
  /** The server's metrics. */
  readonly metrics: ServerMetrics;
}
