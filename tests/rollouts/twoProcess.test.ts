/**
 * Many consumers in two OS processes share one SQLite rollout store: every rollout is dequeued exactly
 * once (BEGIN IMMEDIATE serializes the queue head across processes).
 */
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { SqliteRolloutStore } from '../../src/rollouts/index.ts';
import { tempDir } from './backends.ts';
import { expectEachRolloutDequeuedOnce } from './exactlyOnce.ts';

const WORKER = new URL('./fixtures/dequeueWorker.ts', import.meta.url).pathname;
const ROLLOUTS = 2000;
const PROCESSES = 2;
const CONSUMERS_PER_PROCESS = 8;

describe('SqliteRolloutStore across two processes', () => {
  const temp = tempDir('agentstate-rollouts-2p-');
  afterAll(() => temp.remove());

  it(`hands each of ${ROLLOUTS} rollouts to exactly one of ${PROCESSES * CONSUMERS_PER_PROCESS} consumers`, async () => {
    const path = join(temp.dir, 'shared.sqlite');
    const store = new SqliteRolloutStore({ path, healthCheckIntervalMs: 0 });
    await expectEachRolloutDequeuedOnce(store, {
      rollouts: ROLLOUTS,
      processes: PROCESSES,
      consumersPerProcess: CONSUMERS_PER_PROCESS,
      script: WORKER,
      args: (label) => [path, String(CONSUMERS_PER_PROCESS), label],
    });
    await store.close();
  }, 60_000);
});
