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
import { expectEachRolloutDequeuedOnce } from './exactlyOnce.ts';

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
    await expectEachRolloutDequeuedOnce(store, {
      rollouts: ROLLOUTS,
      processes: PROCESSES,
      consumersPerProcess: CONSUMERS_PER_PROCESS,
      script: WORKER,
      args: (label) => [POSTGRES_URL, schema, 'dequeue', String(CONSUMERS_PER_PROCESS), label],
    });
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
