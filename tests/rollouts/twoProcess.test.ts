/**
 * Many consumers in two OS processes share one SQLite rollout store: every rollout is dequeued exactly
 * once (BEGIN IMMEDIATE serializes the queue head across processes).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteRolloutStore } from '../../src/rollouts/index.ts';
import { startLineChild } from '../support/lineChild.ts';
import { tempDir } from './backends.ts';

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
    const enqueued = await store.enqueueManyRollouts(
      Array.from({ length: ROLLOUTS }, (_, i) => ({ input: i })),
    );
    const children = Array.from({ length: PROCESSES }, (_, i) =>
      startLineChild(WORKER, [path, String(CONSUMERS_PER_PROCESS), `p${i}`]),
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
});
