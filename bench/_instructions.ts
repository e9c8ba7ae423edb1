/**
 * One run of the rollout scenario of bench/rollouts.ts (N runners: dequeue -> 2..20 spans -> succeeded),
 * for counting instructions, which stay repeatable on a loaded machine where timings do not:
 *
 *   ROOT=<checkout> BACKEND=memory|sqlite ROLLOUTS=1000 \
 *     valgrind --tool=callgrind npx node bench/_instructions.ts
 *
 * `ROOT` is the checkout whose `src/` is measured (this one by default), so the same script measures an
 * older commit checked out elsewhere. Run it with ROLLOUTS=0 too: the difference is the scenario's cost
 * without start-up. Prints rollouts/s and CPU microseconds per rollout (both noisy; the count is the figure).
 *
 * BACKEND=postgres runs the same scenario on PostgreSQL (AGENTSTATE_TEST_POSTGRES, a fresh schema dropped
 * after), for wall-clock passes: there the database's round trips, not this process's instructions, are
 * the cost, so compare two checkouts by interleaved passes (alternate order, median of per-pass ratios).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RolloutStore } from '../src/rollouts/index.ts';
import { attributePool, prng } from './_workload.ts';

const root = process.env.ROOT ?? new URL('..', import.meta.url).pathname;
const rollouts = await import(`${root}/src/rollouts/index.ts`);
const backend = process.env.BACKEND ?? 'memory';
const runners = Number(process.env.RUNNERS ?? 256);
const count = Number(process.env.ROLLOUTS ?? 1000);

// The same deterministic workload as bench/rollouts.ts.
const pool = attributePool(prng(7), 64);

const dir = mkdtempSync(join(tmpdir(), 'agentstate-instructions-'));
const postgresUrl = process.env.AGENTSTATE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `bench_instructions_${process.pid}`;
const store: RolloutStore =
  backend === 'sqlite'
    ? new rollouts.SqliteRolloutStore({ path: join(dir, 'rollouts.sqlite') })
    : backend === 'postgres'
      ? new rollouts.PostgresRolloutStore({ connectionString: postgresUrl, schema })
      : new rollouts.InMemoryRolloutStore({});
const random = prng(42);
for (let i = 0; i < count; i += 500) {
  const chunk = Math.min(500, count - i);
  await store.enqueueManyRollouts(Array.from({ length: chunk }, (_, j) => ({ input: { task: i + j } })));
}
const started = performance.now();
const cpu = process.cpuUsage();
await Promise.all(
  Array.from({ length: runners }, async (_, r) => {
    for (;;) {
      const rollout = await store.dequeueRollout({ workerId: `runner-${r}` });
      if (rollout === null) return;
      const spans = Array.from({ length: 2 + Math.floor(random() * 19) }, (_, s) => ({
        rolloutId: rollout.rolloutId,
        attemptId: rollout.attempt.attemptId,
        traceId: rollout.rolloutId,
        spanId: `span-${s}`,
        parentId: s === 0 ? null : 'span-0',
        name: s % 3 === 0 ? 'openai.chat' : 'tool.call',
        attributes: pool[(r + s) % pool.length]!,
        startTime: Date.now() / 1000,
        endTime: Date.now() / 1000,
      }));
      await store.addManySpans(spans);
      await store.updateAttempt(rollout.rolloutId, rollout.attempt.attemptId, { status: 'succeeded' });
    }
  }),
);
const used = process.cpuUsage(cpu);
const seconds = (performance.now() - started) / 1000;
// PostgreSQL: the round trips the store waited for, per rollout (statements sent together count once).
const stats = store.operationalStats?.();
const roundTrips =
  stats === undefined
    ? ''
    : `, ${(Object.values(stats.roundTrips).reduce((sum, e) => sum + e.roundTrips, 0) / Math.max(1, count)).toFixed(2)} round trips/rollout`;
console.log(
  `${backend}, ${runners} runners, ${count} rollouts: ${Math.round(count / seconds)} rollouts/s, ${Math.round((used.user + used.system) / Math.max(1, count))} CPU us/rollout${roundTrips}`,
);
await store.close();
rmSync(dir, { recursive: true, force: true });
// Loaded only here, so the other backends' counts do not include pg.
if (backend === 'postgres') await (await import('./_postgres.ts')).dropSchema(schema);
