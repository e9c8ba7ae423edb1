/**
 * Operations on PostgreSQL: /health/live vs /health/ready (database reachable, schema applied; a coded 503
 * with Retry-After otherwise), /metrics with pool usage, round trips per store operation and the cluster's
 * health-check leadership, and the timed health check running in one process of several, not in each.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRolloutStore } from '../../src/rollouts/index.ts';
import { createServer } from '../../src/server/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The value of one sample line of a Prometheus text page, or undefined. */
function sample(page: string, line: string): number | undefined {
  const found = page.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe.skipIf(!pgOk)('scale-out operations on PostgreSQL', () => {
  const schemas: string[] = [];
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });

  it('answers /health/live always, /health/ready only while the database answers', async () => {
    const schema = uniqueName('ready');
    schemas.push(schema);
    const up = new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema, poolSize: 4 });
    // Port 1 on loopback: nothing listens there, as when the database is down.
    const down = new PostgresRolloutStore({
      connectionString: 'postgres://postgres@127.0.0.1:1/test',
      schema,
    });
    const good = await createServer({ rollouts: up });
    const bad = await createServer({ rollouts: down });
    try {
      for (const app of [good, bad]) {
        expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
        expect((await app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ status: 'ok' });
      }
      const ready = await good.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({ status: 'ready' });
      const notReady = await bad.inject({ method: 'GET', url: '/health/ready' });
      expect(notReady.statusCode).toBe(503);
      expect(notReady.headers['retry-after']).toBe('1');
      expect(notReady.json()).toMatchObject({ status: 'unavailable', error: { code: 'UNAVAILABLE' } });
      // Any route that needs the database is the same coded 503 with Retry-After.
      const dequeue = await bad.inject({
        method: 'POST',
        url: '/v1/agl/queues/rollouts/dequeue',
        payload: {},
      });
      expect(dequeue.statusCode).toBe(503);
      expect(dequeue.headers['retry-after']).toBe('1');
      expect(dequeue.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    } finally {
      await good.close();
      await bad.close();
      await up.close();
      await down.close();
    }
  }, 30_000);

  it('shows pool usage, round trips per operation and health-check leadership in /metrics', async () => {
    const schema = uniqueName('metrics');
    schemas.push(schema);
    const store = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema,
      poolSize: 4,
      healthCheckIntervalMs: 50,
    });
    const app = await createServer({ rollouts: store });
    try {
      await store.enqueueRollout({ input: 1 });
      const [taken] = await store.dequeueManyRollouts({ limit: 1 });
      expect(taken).toBeDefined();
      // Let the timer take the lease (the store is alone on its schema).
      for (let i = 0; i < 100 && !store.operationalStats().healthCheckLeader; i++) await sleep(20);
      const page = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(sample(page, 'agentstate_db_pool_connections{state="max"}')).toBe(5);
      expect(sample(page, 'agentstate_db_pool_connections{state="total"}')).toBeGreaterThan(0);
      expect(sample(page, 'agentstate_store_operations{operation="dequeueManyRollouts"}')).toBe(1);
      // A lone enqueue is two round trips: BEGIN pipelined with the queue insert, the remaining writes
      // pipelined with COMMIT (a deterministic count, whatever the machine's load).
      expect(sample(page, 'agentstate_store_round_trips_per_operation{operation="enqueueRollout"}')).toBe(2);
      expect(
        sample(page, 'agentstate_store_round_trips_per_operation{operation="dequeueManyRollouts"}'),
      ).toBe(2);
      expect(sample(page, 'agentstate_health_check_leader')).toBe(1);
      expect(sample(page, 'agentstate_health_check_runs')).toBeGreaterThan(0);
    } finally {
      await app.close();
      await store.close();
    }
  }, 30_000);

  it('runs the timed health check in one of two processes on a schema, and hands it over on close', async () => {
    const schema = uniqueName('lease');
    schemas.push(schema);
    const interval = 100;
    const options = { connectionString: POSTGRES_URL, schema, poolSize: 3, healthCheckIntervalMs: interval };
    const a = new PostgresRolloutStore(options);
    const b = new PostgresRolloutStore(options);
    try {
      // The timers start once each store has created or found its schema.
      await a.statistics();
      await b.statistics();
      const started = Date.now();
      await sleep(2000);
      const elapsed = Date.now() - started;
      const [sa, sb] = [a.operationalStats(), b.operationalStats()];
      // About one pass per interval for the pair, where one per process would be twice that. (A process
      // stalled past the lease under heavy load hands it over, so the split between them may vary.)
      expect(sa.healthCheckRuns + sb.healthCheckRuns).toBeGreaterThan(0);
      expect(sa.healthCheckRuns + sb.healthCheckRuns).toBeLessThanOrEqual(elapsed / interval + 3);
      for (
        let i = 0;
        i < 100 && !a.operationalStats().healthCheckLeader && !b.operationalStats().healthCheckLeader;
        i++
      )
        await sleep(20);
      const [leader, other] = a.operationalStats().healthCheckLeader ? [a, b] : [b, a];
      const before = other.operationalStats().healthCheckRuns;
      await leader.close();
      for (let i = 0; i < 100 && !other.operationalStats().healthCheckLeader; i++) await sleep(20);
      expect(other.operationalStats().healthCheckLeader).toBe(true);
      await sleep(500);
      expect(other.operationalStats().healthCheckRuns).toBeGreaterThan(before);
    } finally {
      await a.close();
      await b.close();
    }
  }, 30_000);
});
