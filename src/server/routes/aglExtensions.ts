/**
 * Rollout operations the Agent Lightning reference has no route for, so that `AgentStateClient` can
 * offer the whole RolloutStore interface: atomic span batches, an on-demand health check and retention.
 * They live beside the reference routes under /v1/agl/x/ and never change the reference's behaviour.
 */
import type { FastifyInstance } from 'fastify';
import type { RolloutStore } from '../../rollouts/index.ts';
import { spanInputSchema } from '../agl/reference.ts';
import { spanFromWire } from '../agl/wire.ts';
import type { ServerMetrics } from '../metrics.ts';
import { typedRoutes } from '../schemaTypes.ts';
import { writeOptions } from './aglContext.ts';

/** Registers the extension routes. */
export function registerAglExtensionRoutes(
  app: FastifyInstance,
  store: RolloutStore,
  metrics: ServerMetrics,
): void {
  const typed = typedRoutes(app);
  typed.post(
    '/v1/agl/x/spans/batch',
    {
      schema: {
        tags: ['agentstate'],
        summary: 'Store many spans in one transaction (duplicates skipped and reported)',
        body: {
          type: 'object',
          required: ['spans'],
          additionalProperties: false,
          properties: { spans: { type: 'array', items: spanInputSchema() } },
        },
      },
    },
    async (request) => {
      const spans = request.body.spans.map(spanFromWire);
      const result = await metrics.time('rollouts', 'addManySpans', () =>
        store.addManySpans(spans, writeOptions(request)),
      );
      metrics.spansIngested.inc({ source: 'agl' }, result.inserted);
      return {
        inserted: result.inserted,
        duplicates: result.duplicates,
        duplicate_spans: result.duplicateSpans.map((s) => ({
          rollout_id: s.rolloutId,
          attempt_id: s.attemptId,
          span_id: s.spanId,
        })),
      };
    },
  );

  typed.post(
    '/v1/agl/x/health-check',
    {
      config: { access: { scope: 'admin' } },
      schema: {
        tags: ['agentstate'],
        summary: 'Run the rollout health check (timeouts, unresponsive attempts) now',
      },
    },
    async () => {
      await metrics.time('rollouts', 'runHealthCheck', () => store.runHealthCheck());
      return {};
    },
  );

  typed.post(
    '/v1/agl/x/prune',
    {
      config: { access: { scope: 'admin' } },
      schema: {
        tags: ['agentstate'],
        summary: 'Delete finished rollouts older than older_than_ms, with their attempts and spans',
        body: {
          type: 'object',
          required: ['older_than_ms'],
          additionalProperties: false,
          properties: { older_than_ms: { type: 'integer', minimum: 0 } },
        },
      },
    },
    async (request) => {
      const olderThanMs = request.body.older_than_ms;
      const result = await metrics.time('rollouts', 'pruneFinished', () =>
        store.pruneFinished({ olderThanMs }),
      );
      return {
        rollouts: result.rollouts,
        attempts: result.attempts,
        spans: result.spans,
        idempotency_keys: result.idempotencyKeys,
      };
    },
  );
}
