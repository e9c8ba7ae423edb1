/**
 * PostgreSQL restarted under load, on a throwaway private cluster (never the shared server): while it is
 * down, requests get a coded 503 with Retry-After and /health/ready says so while /health/live does not;
 * the store's pool reconnects by itself once it is back; every rollout and span the server acknowledged
 * is stored, and the work completes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRolloutStore } from '../../src/rollouts/index.ts';
import { createServer, listenServer } from '../../src/server/index.ts';
import { type PrivatePostgres, privatePostgresPossible, startPrivatePostgres } from '../support/throwaway.ts';
import { acknowledged, runRunners } from './faultRunners.ts';

const possible = privatePostgresPossible();
if (!possible) {
  const message = 'PostgreSQL server binaries (initdb, pg_ctl) not found: the restart test cannot run';
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n*** SKIPPED: ${message} ***\n`);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ROLLOUTS = 400;

describe.skipIf(!possible)('PostgreSQL restarted mid-load', () => {
  let cluster: PrivatePostgres | undefined;
  afterAll(() => cluster?.destroy());

  it('answers 503 + Retry-After while it is down, recovers by itself and loses nothing acknowledged', async () => {
    cluster = await startPrivatePostgres();
    const store = new PostgresRolloutStore({
      connectionString: cluster.url,
      poolSize: 6,
      healthCheckIntervalMs: 200,
    });
    const app = await createServer({ rollouts: store });
    const url = await listenServer(app, { host: '127.0.0.1', port: 0 });
    try {
      const enqueue = await fetch(`${url}/v1/agl/queues/rollouts/enqueue`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rollouts: Array.from({ length: ROLLOUTS }, (_, i) => ({ input: i })) }),
      });
      expect(enqueue.status).toBeLessThan(300);

      const ack = acknowledged();
      let finished = false;
      const runners = runRunners(
        16,
        () => ({ url, retries: 2 }),
        () => finished,
        ack,
      );
      while (ack.succeeded.size < ROLLOUTS / 4) await sleep(20);

      cluster.stop();
      const dequeue = await fetch(`${url}/v1/agl/queues/rollouts/dequeue`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(dequeue.status).toBe(503);
      expect(dequeue.headers.get('retry-after')).toBe('1');
      expect(((await dequeue.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
      expect((await fetch(`${url}/health/ready`)).status).toBe(503);
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
      await sleep(1000);
      cluster.start();

      // The pool reconnects on its own: ready again, and the runners finish the queue.
      let ready = 0;
      for (let i = 0; i < 200 && ready !== 200; i++) {
        ready = (await fetch(`${url}/health/ready`)).status;
        if (ready !== 200) await sleep(100);
      }
      expect(ready).toBe(200);
      // Done when the queue is empty and no runner has finished anything for a second.
      const deadline = Date.now() + 60_000;
      let seen = -1;
      while (Date.now() < deadline) {
        const { queueLength } = await store.statistics();
        if (queueLength === 0 && ack.succeeded.size === seen) break;
        seen = ack.succeeded.size;
        await sleep(1000);
      }
      finished = true;
      await runners;
      // The outage is asserted above (the direct dequeue's 503). The runners' clients wait out each 503's
      // Retry-After before retrying, so they may ride the outage out without a step failing: no count of
      // failed steps is asserted.

      // Nothing acknowledged is lost.
      for (const id of ack.succeeded) expect((await store.getRolloutById(id))?.status).toBe('succeeded');
      for (const [rolloutId, attemptId] of ack.spans) {
        const spans = await store.querySpans(rolloutId, { attemptId });
        expect(spans.items.length).toBe(2);
      }
      // Rollouts whose dequeue committed while its answer was lost stay running (no timeout configured);
      // all others completed.
      const stats = await store.statistics();
      expect(stats.queueLength).toBe(0);
      expect(ack.succeeded.size).toBeGreaterThan(ROLLOUTS - 20);
    } finally {
      await app.close();
      await store.close();
    }
  }, 120_000);
});
