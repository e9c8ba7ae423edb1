/**
 * The body of the two-process queue tests (SQLite and PostgreSQL): fills the queue, lets consumer processes
 * drain it and checks that every rollout was handed to exactly one consumer, with both processes taking part.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { RolloutStore } from '../../src/rollouts/index.ts';
import { startLineChild } from '../support/lineChild.ts';

/** The run: how many rollouts, how many processes of how many consumers, and how a process starts. */
export interface ConsumerRun {
  rollouts: number;
  processes: number;
  consumersPerProcess: number;
  /** The child script (it runs ./fixtures/consumeQueue.ts). */
  script: string;
  /** The child's argv for the process labelled `label`. */
  args(label: string): string[];
}

/** Enqueues `run.rollouts` rollouts into `store`, runs the consumer processes and checks the outcome. */
export async function expectEachRolloutDequeuedOnce(store: RolloutStore, run: ConsumerRun): Promise<void> {
  const { rollouts, processes, consumersPerProcess } = run;
  const enqueued = await store.enqueueManyRollouts(
    Array.from({ length: rollouts }, (_, i) => ({ input: i })),
  );
  const children = Array.from({ length: processes }, (_, i) => startLineChild(run.script, run.args(`p${i}`)));
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.child.stdin.write('go\n');
  // Each process has taken its first rollout before any drains the rest: both take part, whatever the load.
  // (A child that exits first ends the wait: `done` then fails with its stderr.)
  const waiting = () =>
    !children.every((c) => c.lines.includes('started')) && children.every((c) => c.child.exitCode === null);
  while (waiting()) await sleep(5);
  for (const c of children) c.child.stdin.write('all\n');
  await Promise.all(children.map((c) => c.done));

  const perProcess = children.map((c) => JSON.parse(c.lines.at(-1)!) as string[]);
  const all = perProcess.flat();
  expect(all).toHaveLength(rollouts);
  expect(new Set(all).size).toBe(rollouts);
  expect(new Set(all)).toEqual(new Set(enqueued.map((r) => r.rolloutId)));
  // Both processes took part, so the test really exercised cross-process contention.
  for (const taken of perProcess) expect(taken.length).toBeGreaterThan(0);

  const stats = await store.statistics();
  expect(stats).toMatchObject({
    totalRollouts: rollouts,
    totalAttempts: rollouts,
    totalSpans: rollouts,
    queueLength: 0,
  });
  expect(stats.rolloutsByStatus).toEqual({ succeeded: rollouts });
  expect((await store.queryWorkers()).total).toBe(processes * consumersPerProcess);
}
