/**
 * The operations of one group-commit batch on PostgreSQL run side by side on the pipelined connection: a
 * batch waits for the database about as often as one operation does, not once per operation. When two of
 * them touched the same rollout, the batch is re-run one operation at a time, so the result is the one of
 * running them in order; a failing operation still fails alone.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresRolloutStore } from '../../src/rollouts/index.ts';
import type { AttemptedRollout, SpanInput } from '../../src/rollouts/types.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();

function span(rollout: AttemptedRollout, spanId: string): SpanInput {
  return {
    rolloutId: rollout.rolloutId,
    attemptId: rollout.attempt.attemptId,
    traceId: 't',
    spanId,
    name: 'step',
  };
}

describe.skipIf(!pgOk)('PostgreSQL group commit: operations side by side', () => {
  const schemas: string[] = [];
  let store: PostgresRolloutStore;
  beforeEach(() => {
    const schema = uniqueName('batch_ops');
    schemas.push(schema);
    store = new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema, healthCheckIntervalMs: 0 });
  });
  afterEach(async () => {
    await store.close();
  });
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });

  async function running(count: number): Promise<AttemptedRollout[]> {
    await store.enqueueManyRollouts(Array.from({ length: count }, (_, i) => ({ input: i })));
    return store.dequeueManyRollouts({ limit: count, workerId: 'w' });
  }

  it('waits for PostgreSQL a few times for a whole batch of span writes, not once per write', async () => {
    const rollouts = await running(32);
    const before = store.operationalStats().roundTrips.addManySpans?.roundTrips ?? 0;
    const results = await Promise.all(rollouts.map((r) => store.addManySpans([span(r, 'a'), span(r, 'b')])));
    expect(results.every((r) => r.inserted === 2)).toBe(true);
    const stats = store.operationalStats().roundTrips.addManySpans!;
    expect(stats.operations).toBe(32);
    // One after the other, each write took 4 (read, sequence ids, insert, heartbeat): 128 for the batch.
    expect(stats.roundTrips - before).toBeLessThanOrEqual(6);
    for (const r of rollouts) {
      const spans = await store.querySpans(r.rolloutId);
      expect(spans.items.map((s) => [s.spanId, s.sequenceId])).toEqual([
        ['a', 1],
        ['b', 2],
      ]);
      expect((await store.getRolloutById(r.rolloutId))?.status).toBe('running');
    }
  });

  it('gives the result of running them in order when operations of one batch touch the same rollout', async () => {
    const [r] = await running(1);
    // Calls of one turn share one health check, then one batch. Side by side, the second would read the
    // attempt before the first wrote it and write back its old status.
    const [finished, noted] = await Promise.all([
      store.updateAttempt(r!.rolloutId, r!.attempt.attemptId, { status: 'succeeded' }),
      store.updateAttempt(r!.rolloutId, r!.attempt.attemptId, { metadata: { note: 'x' } }),
    ]);
    expect(finished.status).toBe('succeeded');
    expect(noted).toMatchObject({ status: 'succeeded', metadata: { note: 'x' } });
    expect(await store.getLatestAttempt(r!.rolloutId)).toMatchObject({
      status: 'succeeded',
      metadata: { note: 'x' },
    });
    expect((await store.getRolloutById(r!.rolloutId))?.status).toBe('succeeded');
  });

  it('fails only the operation that fails among operations running side by side', async () => {
    const rollouts = await running(8);
    const settled = await Promise.allSettled(
      rollouts.map((r, i) =>
        i === 3
          ? store.addManySpans([{ ...span(r, 'a'), attemptId: 'at-missing' }])
          : i === 5
            ? store.updateAttempt(r.rolloutId, r.attempt.attemptId, { status: 'succeeded' })
            : store.addManySpans([span(r, 'a')]),
      ),
    );
    expect(settled.map((s) => s.status)).toEqual(
      rollouts.map((_, i) => (i === 3 ? 'rejected' : 'fulfilled')),
    );
    expect((settled[3] as PromiseRejectedResult).reason).toMatchObject({ code: 'NOT_FOUND' });
    for (const [i, r] of rollouts.entries()) {
      const expected = i === 3 || i === 5 ? [] : ['a'];
      expect((await store.querySpans(r.rolloutId)).items.map((s) => s.spanId)).toEqual(expected);
    }
    expect((await store.getRolloutById(rollouts[5]!.rolloutId))?.status).toBe('succeeded');
  });

  it('hands every queued rollout out once to dequeues of one batch, in queue order', async () => {
    const queued = await store.enqueueManyRollouts(Array.from({ length: 20 }, (_, i) => ({ input: i })));
    const taken = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.dequeueRollout({ workerId: `w-${i}` })),
    );
    expect(taken.map((r) => r?.rolloutId)).toEqual(queued.map((r) => r.rolloutId));
    const workers = await store.queryWorkers({ limit: 50 });
    expect(workers.items.filter((w) => w.status === 'busy')).toHaveLength(20);
  });
});
