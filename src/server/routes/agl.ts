/**
 * `/v1/agl/...`: the Agent Lightning store API, route for route as in the reference document, over a
 * camelCase RolloutStore. Each route's path, method, parameters, body schema and success status come
 * from the document (agl/reference.ts); the handler files say what each operation does: ./aglRollouts.ts,
 * ./aglAttempts.ts, ./aglResources.ts (workers, resources, statistics), ./aglSpans.ts, ./aglWaits.ts.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { RolloutStore } from '../../rollouts/index.ts';
import { referenceOperations } from '../agl/reference.ts';
import type { ServerMetrics } from '../metrics.ts';
import { type WaitLimitOptions, WaitLimits } from '../waitLimits.ts';
import { attemptHandlers } from './aglAttempts.ts';
import type { AglContext, AglHandler, AglRoute } from './aglContext.ts';
import { aglListings } from './aglListings.ts';
import { resourceHandlers } from './aglResources.ts';
import { rolloutHandlers } from './aglRollouts.ts';
import { spanHandlers } from './aglSpans.ts';
import { waitHandlers } from './aglWaits.ts';

/** Routes that read although they are POSTs: a read-scoped token may call them. */
const READ_ONLY_POSTS = new Set([
  '/v1/agl/rollouts/search',
  '/v1/agl/rollouts/{rollout_id}/attempts/search',
  '/v1/agl/workers/search',
  '/v1/agl/spans/search',
  '/v1/agl/waits/rollouts',
]);

/** Registers every route of the reference document. */
export function registerAglRoutes(
  app: FastifyInstance,
  store: RolloutStore,
  metrics: ServerMetrics,
  waitLimits: WaitLimitOptions = {},
): void {
  const context: AglContext = {
    store,
    metrics,
    time: (operation, call) => metrics.time('rollouts', operation, call),
  };
  const listings = aglListings(context);
  const handlers: Record<string, AglHandler> = {
    'GET /v1/agl/health': async () => ({ status: 'ok' }),
    ...rolloutHandlers(context, listings),
    ...attemptHandlers(context, listings),
    ...resourceHandlers(context, listings),
    ...spanHandlers(context, listings),
    ...waitHandlers(context, new WaitLimits(waitLimits, metrics)),
    // The reference's server also accepts OTLP metrics, logs and profiles; agentstate stores traces only
    // and acknowledges the rest so exporters pointed at it do not error.
    'POST /v1/metrics': async () => ({}),
    'POST /v1/logs': async () => ({}),
    'POST /v1/development/profiles': async () => ({}),
  };

  for (const op of referenceOperations()) {
    // /v1/traces is the OTLP ingest route (routes/otlp.ts), with its own protobuf and gzip handling.
    if (op.path === '/v1/traces') continue;
    const handler = handlers[`${op.method} ${op.path}`];
    if (!handler) throw new Error(`no handler for reference route ${op.method} ${op.path}`);
    const isOtlpSink = !op.path.startsWith('/v1/agl/');
    app.route<AglRoute>({
      method: op.method,
      url: op.url,
      config: {
        // Documentation only (see createServer's swagger transform): responses are not re-serialized.
        documentedResponses: op.response ? { [op.successStatus]: op.response } : {},
        access:
          op.path === '/v1/agl/health'
            ? { public: true }
            : READ_ONLY_POSTS.has(op.path)
              ? { scope: 'read' }
              : {},
      },
      schema: {
        tags: [isOtlpSink ? 'otlp' : 'agent-lightning'],
        summary: op.summary,
        operationId: op.operationId,
        ...(op.body && !isOtlpSink ? { body: op.body } : {}),
        ...(op.querystring ? { querystring: op.querystring } : {}),
        ...(op.params ? { params: op.params } : {}),
      },
      handler: async (request, reply) => {
        const result = await handler(request, reply);
        // A streamed page (see listingAnswer) is JSON text too.
        if (result instanceof Readable) reply.type('application/json; charset=utf-8');
        return reply.status(op.successStatus).send(result);
      },
    });
  }
}
