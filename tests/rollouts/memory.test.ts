// Behaviour only the memory backend has: the span byte budget and isolation from caller objects.
import { describe, expect, it } from 'vitest';
import { CapacityExceededError, InMemoryRolloutStore, type SpanInput } from '../../src/index.ts';
import { ManualClock } from '../support/clock.ts';

function spans(rolloutId: string, attemptId: string, prefix: string, count: number, size = 200): SpanInput[] {
  return Array.from({ length: count }, (_, i) => ({
    rolloutId,
    attemptId,
    traceId: 't',
    spanId: `${prefix}${i}`,
    name: 'x',
    attributes: { payload: 'p'.repeat(size) },
  }));
}

describe('InMemoryRolloutStore', () => {
  it('refuses spans beyond its byte budget, stores nothing of the batch, and keeps running rollouts intact', async () => {
    const store = new InMemoryRolloutStore({ maxSpanBytes: 8000, healthCheckIntervalMs: 0 });
    const r = await store.startRollout({ input: 1 });
    const first = await store.addManySpans(spans(r.rolloutId, r.attempt.attemptId, 'a', 10));
    expect(first.inserted).toBe(10);
    const before = (await store.statistics()).spanBytes!;
    await expect(store.addManySpans(spans(r.rolloutId, r.attempt.attemptId, 'b', 20))).rejects.toBeInstanceOf(
      CapacityExceededError,
    );
    const stats = await store.statistics();
    expect(stats.totalSpans).toBe(10);
    expect(stats.spanBytes).toBe(before);
    expect((await store.querySpans(r.rolloutId)).total).toBe(10);
    await store.close();
  });

  it('with evictFinishedSpans, frees room from finished rollouts only, oldest first', async () => {
    const clock = new ManualClock();
    const store = new InMemoryRolloutStore({
      maxSpanBytes: 12_000,
      evictFinishedSpans: true,
      now: clock.now,
      healthCheckIntervalMs: 0,
    });
    const old = await store.startRollout({ input: 'old' });
    await store.addManySpans(spans(old.rolloutId, old.attempt.attemptId, 'o', 10));
    await store.updateAttempt(old.rolloutId, 'latest', { status: 'succeeded' });
    clock.advance(1000);
    const running = await store.startRollout({ input: 'running' });
    await store.addManySpans(spans(running.rolloutId, running.attempt.attemptId, 'r', 10));
    await store.addManySpans(spans(running.rolloutId, running.attempt.attemptId, 'n', 10));
    expect((await store.querySpans(old.rolloutId)).total).toBe(0);
    expect((await store.querySpans(running.rolloutId)).total).toBe(20);
    expect((await store.statistics()).evictedSpans).toBe(10);
    // Only running spans are left: the next batch that does not fit is refused, nothing is evicted.
    await expect(
      store.addManySpans(spans(running.rolloutId, running.attempt.attemptId, 'z', 30)),
    ).rejects.toBeInstanceOf(CapacityExceededError);
    expect((await store.querySpans(running.rolloutId)).total).toBe(20);
    await store.close();
  });

  it('never shares objects with callers', async () => {
    const store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    const input = { list: [1] };
    const r = await store.enqueueRollout({ input, metadata: { a: 1 } });
    input.list.push(2);
    (r.metadata as Record<string, unknown>).a = 99;
    const read = await store.getRolloutById(r.rolloutId);
    expect(read?.input).toEqual({ list: [1] });
    expect(read?.metadata).toEqual({ a: 1 });
    (read!.input as { list: number[] }).list.push(3);
    expect((await store.getRolloutById(r.rolloutId))?.input).toEqual({ list: [1] });
    await store.close();
  });

  it('refuses a bad budget', () => {
    expect(() => new InMemoryRolloutStore({ maxSpanBytes: 0 })).toThrow(/maxSpanBytes/);
    expect(() => new InMemoryRolloutStore({ healthCheckIntervalMs: -1 })).toThrow(/healthCheckIntervalMs/);
  });
});
