/**
 * The PostgreSQL rollout store across OS processes: 16 consumers in 2 processes share one queue and every
 * rollout is dequeued exactly once (FOR UPDATE SKIP LOCKED); a waiter is woken by a write made in another
 * process (NOTIFY inside the writing transaction, LISTEN in the waiting store), with no timer that could
 * have found it instead.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRolloutStore } from '../../src/rollouts/index.ts';
import { startLineChild } from '../support/lineChild.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const WORKER = new URL('./fixtures/postgresWorker.ts', import.meta.url).pathname;
const ROLLOUTS = 2000;
const PROCESSES = 2;
const CONSUMERS_PER_PROCESS = 8;

const pgOk = await postgresAvailable();

describe.skipIf(!pgOk)('PostgresRolloutStore across two processes', () => {
  const schemas: string[] = [];
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });

  it(`hands each of ${ROLLOUTS} rollouts to exactly one of ${PROCESSES * CONSUMERS_PER_PROCESS} consumers`, async () => {
    const schema = uniqueName('rollouts_2p');
    schemas.push(schema);
    const store = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema,
      healthCheckIntervalMs: 0,
    });
    const enqueued = await store.enqueueManyRollouts(
      Array.from({ length: ROLLOUTS }, (_, i) => ({ input: i })),
    );
    const children = Array.from({ length: PROCESSES }, (_, i) =>
      startLineChild(WORKER, [POSTGRES_URL, schema, 'dequeue', String(CONSUMERS_PER_PROCESS), `p${i}`]),
    );
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.child.stdin.write('go\n');
    await Promise.all(children.map((c) => c.done));

    const perProcess = children.map((c) => JSON.parse(c.lines.at(-1)!) as string[]);
    const all = perProcess.flat();
    expect(all).toHaveLength(ROLLOUTS);
    expect(new Set(all).size).toBe(ROLLOUTS);
    expect(new Set(all)).toEqual(new Set(enqueued.map((r) => r.rolloutId)));
    // Both processes took part, so the test really exercised cross-process contention.
    for (const taken of perProcess) expect(taken.length).toBeGreaterThan(0);

    const stats = await store.statistics();
    expect(stats).toMatchObject({
      totalRollouts: ROLLOUTS,
      totalAttempts: ROLLOUTS,
      totalSpans: ROLLOUTS,
      queueLength: 0,
    });
    expect(stats.rolloutsByStatus).toEqual({ succeeded: ROLLOUTS });
    expect((await store.queryWorkers()).total).toBe(PROCESSES * CONSUMERS_PER_PROCESS);
    await store.close();
  }, 60_000);

  it('wakes waitForRollouts on a write made by another process', async () => {
    const schema = uniqueName('rollouts_wake');
    schemas.push(schema);
    // No health-check timer, and a safety re-check far beyond the test's timeout: only NOTIFY can wake it.
    const store = new PostgresRolloutStore({
      connectionString: POSTGRES_URL,
      schema,
      healthCheckIntervalMs: 0,
      waitRecheckIntervalMs: 600_000,
    });
    const rollout = await store.startRollout({ input: 'remote' });
    const wait = store.waitForRollouts({ rolloutIds: [rollout.rolloutId], timeoutMs: 60_000 });
    // Let the wait register (LISTEN active, first read done) before the other process writes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const child = startLineChild(WORKER, [POSTGRES_URL, schema, 'finish', rollout.rolloutId]);
    await child.done;
    const [done] = await wait;
    expect(done).toMatchObject({ rolloutId: rollout.rolloutId, status: 'succeeded' });
    await store.close();
  }, 15_000);
});
