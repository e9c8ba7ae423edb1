/**
 * kill -9 of one of three `agentstate serve` processes on one PostgreSQL schema while 32 runners work:
 * the runners whose client pointed at it fail over to the next endpoint in their list; every completion and
 * span batch a server acknowledged is stored; attempts the dead process had handed out (their answer lost)
 * stop sending heartbeats, are marked unresponsive by the cluster's health check (whose lease moves to a
 * live process if the dead one held it) and are retried, so every rollout ends succeeded.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentStateClient } from '../../src/client/index.ts';
import { rotate, type ServeProcess, startServe } from '../support/serveProcess.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';
import { acknowledged, runRunners } from './faultRunners.ts';

const pgOk = await postgresAvailable();
const ROLLOUTS = 600;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!pgOk)('kill -9 of one server of three', () => {
  const schema = uniqueName('kill');
  const servers: ServeProcess[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await dropSchema(schema);
  });

  it('fails runners over, loses nothing acknowledged, and retries the dead server attempts', async () => {
    // Small pools: these tests share the database's connection limit with the rest of the suite.
    const args = ['--postgres', POSTGRES_URL, '--postgres-schema', schema, '--postgres-pool', '6'];
    servers.push(await startServe(args));
    servers.push(...(await Promise.all([startServe(args), startServe(args)])));
    const urls = servers.map((s) => s.url);
    const admin = new AgentStateClient({ url: urls[0]! });
    await admin.enqueueManyRollouts(
      Array.from({ length: ROLLOUTS }, (_, i) => ({
        input: i,
        // An attempt without heartbeat for 3 s is unresponsive and goes back to the queue.
        config: { unresponsiveSeconds: 3, maxAttempts: 5, retryCondition: ['unresponsive'] },
      })),
    );

    const ack = acknowledged();
    let finished = false;
    const running = runRunners(
      32,
      (i) => ({ endpoints: rotate(urls, i) }),
      () => finished,
      ack,
    );
    while (ack.succeeded.size < ROLLOUTS / 4) await sleep(20);
    await servers[1]!.kill();

    // Until every rollout succeeded (the dead server's attempts come back through the health check).
    const deadline = Date.now() + 90_000;
    let succeeded = 0;
    while (Date.now() < deadline) {
      const stats = await admin.statistics();
      succeeded = stats.rolloutsByStatus.succeeded ?? 0;
      if (succeeded === ROLLOUTS) break;
      await sleep(250);
    }
    finished = true;
    const clients = await running;
    expect(succeeded).toBe(ROLLOUTS);
    // Runners that started on the killed server moved on.
    for (const [i, client] of clients.entries()) if (i % 3 === 1) expect(client.url).not.toBe(urls[1]);

    const db = new pg.Client({ connectionString: POSTGRES_URL });
    await db.connect();
    try {
      const { rows } = await db.query(
        `SELECT r.rollout_id, r.status, (SELECT count(*)::int FROM ${schema}.agl_spans s
           WHERE s.rollout_id = r.rollout_id) AS spans
         FROM ${schema}.agl_rollouts r`,
      );
      const byId = new Map(rows.map((r) => [r.rollout_id as string, r]));
      for (const id of ack.succeeded) expect(byId.get(id)?.status).toBe('succeeded');
      for (const id of ack.spans.keys()) expect(byId.get(id)?.spans).toBeGreaterThanOrEqual(2);
    } finally {
      await db.end();
    }
    admin.close();
  }, 150_000);
});
