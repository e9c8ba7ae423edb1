/**
 * `/v1/dashboard/ttl-entries`: live TTL keys with their remaining time and value (in the codec's tagged
 * form), a page at a time, for the dashboard's signals page. Read scope.
 */
import { codec } from '../../codec/index.ts';
import type { TtlStoreLike } from '../../ttl/index.ts';
import { prefixPageQuery } from '../limits.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { TypedApp } from '../schemaTypes.ts';

/** TTL entries one page of the entries route returns at most. */
const TTL_MAX_ENTRIES = 500;
/** Keys of a TTL page read at once (each a get and a ttl). */
const TTL_READ_CONCURRENCY = 25;

const READ = { access: { scope: 'read' as const } };

/** Registers the TTL entries route over `ttl`. */
export function registerDashboardTtlRoutes(app: TypedApp, ttl: TtlStoreLike, metrics: ServerMetrics): void {
  app.get(
    '/v1/dashboard/ttl-entries',
    {
      config: READ,
      schema: {
        tags: ['dashboard'],
        summary: `One page of live TTL keys with their remaining time and value, by prefix (at most ${TTL_MAX_ENTRIES} a page; follow \`cursor\`)`,
        querystring: prefixPageQuery(TTL_MAX_ENTRIES),
      },
    },
    async (request) => {
      const { prefix, cursor, limit } = request.query;
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
            return value === missing ? undefined : { key, value: codec.encode(value), ttlMs: ttlMs ?? null };
          }),
        );
        for (const entry of chunk) if (entry !== undefined) entries.push(entry);
      }
      return page.cursor === undefined ? { entries } : { entries, cursor: page.cursor };
    },
  );
}
