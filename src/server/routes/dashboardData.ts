/**
 * `/v1/dashboard/...`: read routes the dashboard needs beyond the component APIs: the chart series
 * (rollouts per minute by status, reward per rollout, store figures) and documents in the codec's tagged
 * form, so a viewer can show a Map as a Map and a Date as a Date. Read scope; every answer is bounded.
 */
import type { FastifyInstance } from 'fastify';
import { codec } from '../../codec/index.ts';
import type { DocumentStore } from '../../drivers/index.ts';
import { NotFoundError } from '../../errors.ts';
import type { RolloutStore, Span } from '../../rollouts/index.ts';
import { ThreadStateRepository } from '../../state/index.ts';
import type { TtlStoreLike } from '../../ttl/index.ts';
import { MAX_ID_LENGTH, MAX_NAMESPACE_LENGTH, nameSchema } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';
import { registerNamespaceRoutes } from './dashboardNamespaces.ts';
import { registerThreadHistoryRoutes } from './threadHistory.ts';

/** Newest rollouts the per-minute chart reads at most (the chart says when it was cut). */
export const TIMELINE_MAX_ROLLOUTS = 5000;
/** Rollouts whose reward the reward chart looks up at most. */
export const REWARD_MAX_ROLLOUTS = 100;
/** Newest spans of a rollout searched for its reward. */
const REWARD_SPAN_WINDOW = 500;
/** TTL entries one page of the entries route returns at most. */
const TTL_MAX_ENTRIES = 500;
/** Keys of a TTL page read at once (each a get and a ttl). */
const TTL_READ_CONCURRENCY = 25;

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

  if (stores.rollouts) {
    const rollouts = stores.rollouts;
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
        const limit = (request.query as { limit?: number }).limit ?? 50;
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

  if (stores.documents) {
    const documents = stores.documents;
    registerThreadHistoryRoutes(app, documents, metrics);
    registerNamespaceRoutes(app, documents, metrics);
    const namespaceParam = nameSchema(MAX_NAMESPACE_LENGTH);
    app.get(
      '/v1/dashboard/documents/:namespace',
      {
        config: READ,
        schema: {
          tags: ['dashboard'],
          summary: "List a namespace's documents by id prefix, values in the codec's tagged form",
          params: { type: 'object', required: ['namespace'], properties: { namespace: namespaceParam } },
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              prefix: { type: 'string' },
              limit: { type: 'integer', minimum: 1, maximum: 1000 },
              cursor: { type: 'string' },
            },
          },
        },
      },
      async (request) => {
        const { namespace } = request.params as { namespace: string };
        const query = request.query as { prefix?: string; limit?: number; cursor?: string };
        // Tagged values: a Map, a Set or a BigInt survives JSON, where the plain list route cannot show them.
        const page = await metrics.time('documents', 'list', () => documents.list(namespace, query));
        return { ...page, items: page.items.map((doc) => ({ ...doc, value: codec.encode(doc.value) })) };
      },
    );

    app.get(
      '/v1/dashboard/documents/:namespace/:id',
      {
        config: READ,
        schema: {
          tags: ['dashboard'],
          summary: "Read a document with its value in the codec's tagged form ($t names the type)",
          params: {
            type: 'object',
            required: ['namespace', 'id'],
            properties: {
              namespace: namespaceParam,
              id: nameSchema(MAX_ID_LENGTH),
            },
          },
        },
      },
      async (request) => {
        const { namespace, id } = request.params as { namespace: string; id: string };
        const doc = await metrics.time('documents', 'get', () => documents.get(namespace, id));
        if (!doc)
          throw new NotFoundError(`no document '${id}' in namespace '${namespace}'`, { namespace, id });
        return { ...doc, value: codec.encode(doc.value) };
      },
    );

    app.get(
      '/v1/dashboard/threads/:namespace/:id',
      {
        config: READ,
        schema: {
          tags: ['dashboard'],
          summary: 'Read a thread saved by ThreadStateRepository, its delta records put back together',
          params: {
            type: 'object',
            required: ['namespace', 'id'],
            properties: {
              namespace: namespaceParam,
              id: nameSchema(MAX_ID_LENGTH),
            },
          },
        },
      },
      async (request) => {
        const { namespace, id } = request.params as { namespace: string; id: string };
        // A thread is a head record plus value documents (delta saves): the repository reassembles it.
        const record = await metrics.time('documents', 'get', () =>
          new ThreadStateRepository(documents, { namespace }).load(id),
        );
        if (!record)
          throw new NotFoundError(`no thread '${id}' in namespace '${namespace}'`, { namespace, id });
        // A persisted state's values are in the codec's tagged form already (`exportPersisted` encodes
        // them): answered as stored, not encoded again (which would show a Date as an object `{ $t, v }`).
        return { id, revision: record.documentRevision, updatedAt: record.updatedAt, value: record.state };
      },
    );
  }

  if (stores.ttl) {
    const ttl = stores.ttl;
    app.get(
      '/v1/dashboard/ttl-entries',
      {
        config: READ,
        schema: {
          tags: ['dashboard'],
          summary: `One page of live TTL keys with their remaining time and value, by prefix (at most ${TTL_MAX_ENTRIES} a page; follow \`cursor\`)`,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              prefix: { type: 'string' },
              cursor: { type: 'string' },
              limit: { type: 'integer', minimum: 1, maximum: TTL_MAX_ENTRIES },
            },
          },
        },
      },
      async (request) => {
        const { prefix, cursor, limit } = request.query as {
          prefix?: string;
          cursor?: string;
          limit?: number;
        };
        // One page of keys (never every key: on Redis that is a full SCAN), then their values and remaining
        // times a few at a time, so a page costs at most TTL_READ_CONCURRENCY commands in flight.
        const page = await metrics.time('ttl', 'keys', async () =>
          ttl.scanKeys({
            limit: limit ?? TTL_MAX_ENTRIES,
            ...(prefix === undefined ? {} : { prefix }),
            ...(cursor === undefined ? {} : { cursor }),
          }),
        );
        const keys = page.keys.sort();
        const missing = Symbol('missing');
        const entries: Array<{ key: string; value: unknown; ttlMs: number | null }> = [];
        for (let i = 0; i < keys.length; i += TTL_READ_CONCURRENCY) {
          const chunk = await Promise.all(
            keys.slice(i, i + TTL_READ_CONCURRENCY).map(async (key) => {
              const [value, ttlMs] = await Promise.all([ttl.get(key, missing), ttl.ttl(key)]);
              return value === missing
                ? undefined
                : { key, value: codec.encode(value), ttlMs: ttlMs ?? null };
            }),
          );
          for (const entry of chunk) if (entry !== undefined) entries.push(entry);
        }
        return page.cursor === undefined ? { entries } : { entries, cursor: page.cursor };
      },
    );
  }
}
