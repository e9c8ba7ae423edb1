/**
 * `/v1/agl/...`: the Agent Lightning store API, route for route as in the reference document, over a
 * camelCase RolloutStore. Each route's path, method, parameters, body schema and success status come
 * from the document (agl/reference.ts); this file only says what each operation does.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidInputError } from '../../errors.ts';
import type {
  AttemptPatch,
  AttemptQuery,
  EnqueueRolloutRequest,
  PaginatedResult,
  ResourcesQuery,
  RolloutPatch,
  RolloutQuery,
  RolloutStore,
  SpanQuery,
  StartRolloutRequest,
  WorkerQuery,
  WriteOptions,
} from '../../rollouts/index.ts';
import { listingAnswer } from '../agl/pageStream.ts';
import { referenceOperations } from '../agl/reference.ts';
import { checkPaging, type ListedType, refuseNullFields } from '../agl/referenceChecks.ts';
import {
  attemptToWire,
  camelCase,
  configFromWire,
  namedResourcesFromWire,
  resourcesUpdateToWire,
  rolloutToWire,
  spanFromWire,
  spanToWire,
  statisticsToWire,
  type Wire,
  workerToWire,
} from '../agl/wire.ts';
import { DURABLE_KEY_HEADER, IDEMPOTENCY_HEADER } from '../idempotency.ts';
import type { ServerMetrics } from '../metrics.ts';
import { type WaitLimitOptions, WaitLimits } from '../waitLimits.ts';

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * Paging fields of a query or search body of a listing of `type`, in the store's camelCase, after the
 * reference's own paging checks.
 */
function page(
  w: Wire,
  type: ListedType,
  location: 'body' | 'query',
): { limit?: number; offset?: number; sortBy?: never; sortOrder?: 'asc' | 'desc' } {
  checkPaging(w, type, location);
  const out: Record<string, unknown> = {};
  if (typeof w.limit === 'number') out.limit = w.limit;
  if (typeof w.offset === 'number') out.offset = w.offset;
  if (typeof w.sort_by === 'string') out.sortBy = camelCase(w.sort_by);
  if (w.sort_order === 'asc' || w.sort_order === 'desc') out.sortOrder = w.sort_order;
  return out;
}

/** Copies `from[snake]` to `to[camel]` for each listed key present and not null. */
function pick(from: Wire, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (from[key] !== undefined && from[key] !== null) out[camelCase(key)] = from[key];
  }
  return out;
}

function enqueueRequestFromWire(w: Wire): EnqueueRolloutRequest {
  const request: EnqueueRolloutRequest = { input: w.input };
  if (w.mode !== undefined) request.mode = w.mode as EnqueueRolloutRequest['mode'];
  if (w.resources_id !== undefined) request.resourcesId = w.resources_id as string | null;
  if (w.config !== undefined) request.config = configFromWire(w.config as Wire | null) ?? null;
  if (w.metadata !== undefined) request.metadata = w.metadata as Record<string, unknown> | null;
  return request;
}

/** The store-level idempotency key: only a key the caller chose (see DURABLE_KEY_HEADER). */
export function writeOptions(request: FastifyRequest): WriteOptions {
  const key = request.headers[IDEMPOTENCY_HEADER];
  if (request.headers[DURABLE_KEY_HEADER] !== '1') return {};
  return typeof key === 'string' && key !== '' ? { idempotencyKey: key } : {};
}

const body = (request: FastifyRequest): Wire => (request.body ?? {}) as Wire;
const query = (request: FastifyRequest): Wire => (request.query ?? {}) as Wire;
const param = (request: FastifyRequest, name: string): string =>
  (request.params as Record<string, string>)[name]!;

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
  const waits = new WaitLimits(waitLimits, metrics);
  const time = <T>(operation: string, call: () => Promise<T>) => metrics.time('rollouts', operation, call);

  const rolloutQuery = (w: Wire, location: 'body' | 'query') => ({
    ...page(w, 'Rollout', location),
    ...pick(w, ['status_in', 'rollout_id_in', 'rollout_id_contains', 'filter_logic']),
  });
  const spanQuery = (w: Wire, location: 'body' | 'query') => ({
    ...page(w, 'Span-Output', location),
    ...pick(w, [
      'attempt_id',
      'trace_id',
      'trace_id_contains',
      'span_id',
      'span_id_contains',
      'parent_id',
      'parent_id_contains',
      'name',
      'name_contains',
      'filter_logic',
    ]),
  });
  const workerQuery = (w: Wire, location: 'body' | 'query') => ({
    ...page(w, 'Worker', location),
    ...pick(w, ['status_in', 'worker_id_contains', 'filter_logic']),
  });
  const resourcesQuery = (w: Wire) => ({
    ...page(w, 'ResourcesUpdate', 'query'),
    ...pick(w, ['resources_id', 'resources_id_contains']),
  });

  // A listing answered by `listingAnswer` (streamed page by page when large), its store reads timed as
  // `operation`. `read(limit)` is the one-query read (with `limit` in place of the query's own when given),
  // `iterate()` the read in pages when the store has one.
  const listing = <T>(
    operation: string,
    q: { limit?: number; offset?: number },
    read: (limit?: number) => Promise<PaginatedResult<T>>,
    iterate: (() => AsyncIterable<T[]>) | undefined,
    map: (item: T) => Wire,
  ): Promise<Wire | Readable> =>
    listingAnswer(
      {
        limit: q.limit ?? -1,
        offset: q.offset ?? 0,
        query: read,
        iterate,
        time: (call) => time(operation, call),
      },
      map,
    );

  const rollouts = (q: RolloutQuery) =>
    listing(
      'queryRollouts',
      q,
      (limit) => store.queryRollouts(limit === undefined ? q : { ...q, limit }),
      store.iterateRollouts && (() => store.iterateRollouts!(q)),
      rolloutToWire,
    );
  const attempts = (rolloutId: string, q: AttemptQuery) =>
    listing(
      'queryAttempts',
      q,
      (limit) => store.queryAttempts(rolloutId, limit === undefined ? q : { ...q, limit }),
      store.iterateAttempts && (() => store.iterateAttempts!(rolloutId, q)),
      attemptToWire,
    );
  const workers = (q: WorkerQuery) =>
    listing(
      'queryWorkers',
      q,
      (limit) => store.queryWorkers(limit === undefined ? q : { ...q, limit }),
      store.iterateWorkers && (() => store.iterateWorkers!(q)),
      workerToWire,
    );
  const resources = (q: ResourcesQuery) =>
    listing(
      'queryResources',
      q,
      (limit) => store.queryResources(limit === undefined ? q : { ...q, limit }),
      store.iterateResources && (() => store.iterateResources!(q)),
      resourcesUpdateToWire,
    );
  const spans = (rolloutId: string, q: SpanQuery) =>
    listing(
      'querySpans',
      q,
      (limit) => store.querySpans(rolloutId, limit === undefined ? q : { ...q, limit }),
      store.iterateSpans && (() => store.iterateSpans!(rolloutId, q)),
      spanToWire,
    );

  const handlers: Record<string, Handler> = {
    'GET /v1/agl/health': async () => ({ status: 'ok' }),

    'POST /v1/agl/queues/rollouts/enqueue': async (r) => {
      const requests = (body(r).rollouts as Wire[]).map(enqueueRequestFromWire);
      const rollouts = await time('enqueueManyRollouts', () =>
        store.enqueueManyRollouts(requests, writeOptions(r)),
      );
      return rollouts.map(rolloutToWire);
    },
    'POST /v1/agl/queues/rollouts/dequeue': async (r) => {
      const b = body(r);
      const options = {
        limit: typeof b.limit === 'number' ? b.limit : 1,
        workerId: (b.worker_id ?? null) as string | null,
      };
      const rollouts = await time('dequeueManyRollouts', () => store.dequeueManyRollouts(options));
      return rollouts.map(rolloutToWire);
    },
    'POST /v1/agl/rollouts': async (r) => {
      const b = body(r);
      const request: StartRolloutRequest = enqueueRequestFromWire(b);
      if (b.worker_id !== undefined) request.workerId = b.worker_id as string | null;
      return rolloutToWire(await time('startRollout', () => store.startRollout(request, writeOptions(r))));
    },
    'GET /v1/agl/rollouts': async (r) => rollouts(rolloutQuery(query(r), 'query')),
    'POST /v1/agl/rollouts/search': async (r) => rollouts(rolloutQuery(body(r), 'body')),
    'GET /v1/agl/rollouts/{rollout_id}': async (r) => {
      const rollout = await time('getRolloutById', () => store.getRolloutById(param(r, 'rollout_id')));
      return rollout ? rolloutToWire(rollout) : null;
    },
    'POST /v1/agl/rollouts/{rollout_id}': async (r) => {
      // Omitted: unchanged. null: cleared for input, mode, resources_id and metadata; refused for the two
      // a rollout always has.
      const b = body(r);
      refuseNullFields(b, ['status', 'config']);
      const patch: RolloutPatch = {};
      if (b.input !== undefined) patch.input = b.input;
      if (b.mode !== undefined) patch.mode = b.mode as RolloutPatch['mode'];
      if (b.resources_id !== undefined) patch.resourcesId = b.resources_id as string | null;
      if (b.status !== undefined) patch.status = b.status as RolloutPatch['status'];
      if (b.config !== undefined) patch.config = configFromWire(b.config as Wire) ?? {};
      if (b.metadata !== undefined) patch.metadata = b.metadata as Record<string, unknown> | null;
      const id = param(r, 'rollout_id');
      return rolloutToWire(
        await time('updateRollout', () => store.updateRollout(id, patch, writeOptions(r))),
      );
    },
    'POST /v1/agl/rollouts/{rollout_id}/attempts': async (r) => {
      const b = body(r);
      const id = param(r, 'rollout_id');
      const options = { ...writeOptions(r), workerId: (b.worker_id ?? null) as string | null };
      return rolloutToWire(await time('startAttempt', () => store.startAttempt(id, options)));
    },
    'GET /v1/agl/rollouts/{rollout_id}/attempts': async (r) =>
      attempts(param(r, 'rollout_id'), page(query(r), 'Attempt', 'query')),
    'POST /v1/agl/rollouts/{rollout_id}/attempts/search': async (r) =>
      attempts(param(r, 'rollout_id'), page(body(r), 'Attempt', 'body')),
    'POST /v1/agl/rollouts/{rollout_id}/attempts/{attempt_id}': async (r) => {
      // The reference refuses null for every field of this body (its store cannot clear them over HTTP).
      const b = body(r);
      refuseNullFields(b, ['status', 'worker_id', 'last_heartbeat_time', 'metadata']);
      const patch: AttemptPatch = {};
      if (b.status !== undefined) patch.status = b.status as AttemptPatch['status'];
      if (b.worker_id !== undefined) patch.workerId = b.worker_id as string | null;
      if (b.last_heartbeat_time !== undefined)
        patch.lastHeartbeatTime = b.last_heartbeat_time as number | null;
      if (b.metadata !== undefined) patch.metadata = b.metadata as Record<string, unknown> | null;
      const [rolloutId, attemptId] = [param(r, 'rollout_id'), param(r, 'attempt_id')];
      return attemptToWire(
        await time('updateAttempt', () => store.updateAttempt(rolloutId, attemptId, patch, writeOptions(r))),
      );
    },
    'GET /v1/agl/workers': async (r) => workers(workerQuery(query(r), 'query')),
    'POST /v1/agl/workers/search': async (r) => workers(workerQuery(body(r), 'body')),
    'GET /v1/agl/workers/{worker_id}': async (r) => {
      const worker = await time('getWorkerById', () => store.getWorkerById(param(r, 'worker_id')));
      return worker ? workerToWire(worker) : null;
    },
    'POST /v1/agl/workers/{worker_id}': async (r) => {
      const b = body(r);
      refuseNullFields(b, ['heartbeat_stats']);
      const options = {
        ...writeOptions(r),
        ...(b.heartbeat_stats !== undefined
          ? { heartbeatStats: b.heartbeat_stats as Record<string, unknown> | null }
          : {}),
      };
      return workerToWire(
        await time('updateWorker', () => store.updateWorker(param(r, 'worker_id'), options)),
      );
    },
    'GET /v1/agl/statistics': async () =>
      statisticsToWire(await time('statistics', () => store.statistics())),
    'GET /v1/agl/rollouts/{rollout_id}/attempts/latest': async (r) => {
      const attempt = await time('getLatestAttempt', () => store.getLatestAttempt(param(r, 'rollout_id')));
      return attempt ? attemptToWire(attempt) : null;
    },
    'GET /v1/agl/resources': async (r) => resources(resourcesQuery(query(r))),
    'POST /v1/agl/resources': async (r) =>
      resourcesUpdateToWire(
        await time('addResources', () =>
          store.addResources(namedResourcesFromWire(body(r)), writeOptions(r)),
        ),
      ),
    'GET /v1/agl/resources/latest': async () => {
      const latest = await time('getLatestResources', () => store.getLatestResources());
      return latest ? resourcesUpdateToWire(latest) : null;
    },
    'POST /v1/agl/resources/{resources_id}': async (r) => {
      const id = param(r, 'resources_id');
      return resourcesUpdateToWire(
        await time('updateResources', () =>
          store.updateResources(id, namedResourcesFromWire(body(r)), writeOptions(r)),
        ),
      );
    },
    'GET /v1/agl/resources/{resources_id}': async (r) => {
      const update = await time('getResourcesById', () => store.getResourcesById(param(r, 'resources_id')));
      return update ? resourcesUpdateToWire(update) : null;
    },
    'POST /v1/agl/spans': async (r) => {
      const span = await time('addSpan', () => store.addSpan(spanFromWire(body(r)), writeOptions(r)));
      if (span) metrics.spansIngested.inc({ source: 'agl' });
      return span ? spanToWire(span) : null;
    },
    'GET /v1/agl/spans': async (r) => {
      const q = query(r);
      return spans(q.rollout_id as string, spanQuery(q, 'query'));
    },
    'POST /v1/agl/spans/search': async (r) => {
      const b = body(r);
      return spans(b.rollout_id as string, spanQuery(b, 'body'));
    },
    'POST /v1/agl/spans/next': async (r) => {
      const b = body(r);
      const sequenceId = await time('getNextSpanSequenceId', () =>
        store.getNextSpanSequenceId(b.rollout_id as string, b.attempt_id as string),
      );
      return { sequence_id: sequenceId };
    },
    'POST /v1/agl/waits/rollouts': async (r, reply) => {
      const b = body(r);
      const timeout = b.timeout as number | null | undefined;
      if (typeof timeout === 'number' && timeout < 0) {
        throw new InvalidInputError('timeout must be >= 0 seconds', { field: 'body.timeout' });
      }
      const release = waits.admit(r.agentstatePrincipal?.name);
      // A client that goes away ends its wait: the waiter would otherwise live until the rollouts finish.
      const gone = new AbortController();
      const onClose = (): void => {
        if (!reply.raw.writableFinished) gone.abort();
      };
      reply.raw.once('close', onClose);
      // The client may have left before this handler ran (its close event already passed).
      if (reply.raw.destroyed || r.raw.socket?.destroyed) gone.abort();
      try {
        const rollouts = await time('waitForRollouts', () =>
          store.waitForRollouts({
            rolloutIds: b.rollout_ids as string[],
            timeoutMs: typeof timeout === 'number' ? timeout * 1000 : null,
            signal: gone.signal,
          }),
        );
        return rollouts.map(rolloutToWire);
      } finally {
        reply.raw.off('close', onClose);
        release();
      }
    },
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
    app.route({
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
