// A runner's spans often arrive after its attempt ended (an OTLP batch exporter flushes after the runner
// reported the status, or the attempt timed out while the runner kept working). Such a span is stored and
// counts as a heartbeat, but it must not take a rollout waiting for its retry out of the queue.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AttemptedRollout, RolloutStore } from '../../src/index.ts';
import type { RolloutStoreFactory } from '../conformance/rolloutStore.ts';
import { ManualClock } from '../support/clock.ts';
import { memoryRolloutFactory, sqliteRolloutFactory } from './backends.ts';
import { postgresRolloutFactory } from './postgresBackend.ts';

const SEC = 1000;

function lateSpan(rollout: AttemptedRollout, spanId: string) {
  return {
    rolloutId: rollout.rolloutId,
    attemptId: rollout.attempt.attemptId,
    traceId: 't',
    spanId,
    name: 'late',
  };
}

for (const factory of [
  memoryRolloutFactory,
  sqliteRolloutFactory,
  postgresRolloutFactory,
] as RolloutStoreFactory[]) {
  describe.skipIf(!(await factory.available()))(`late spans of an ended attempt: ${factory.name}`, () => {
    let clock: ManualClock;
    let store: RolloutStore;
    let cleanup: () => Promise<unknown>;

    beforeEach(async () => {
      clock = new ManualClock(Date.UTC(2026, 0, 1));
      const fixture = await factory.create({ now: clock.now, healthCheckIntervalMs: 0 });
      store = fixture.store;
      cleanup = fixture.cleanup;
    });
    afterEach(() => cleanup());

    it('a span of a timed-out attempt leaves the rollout queued for its retry', async () => {
      await store.enqueueRollout({
        input: 1,
        config: { timeoutSeconds: 10, maxAttempts: 2, retryCondition: ['timeout'] },
      });
      const first = (await store.dequeueRollout())!;
      clock.advance(11 * SEC);
      await store.runHealthCheck();
      expect((await store.getRolloutById(first.rolloutId))?.status).toBe('requeuing');
      expect(await store.addSpan(lateSpan(first, 'late'))).not.toBeNull();
      expect((await store.getLatestAttempt(first.rolloutId))?.status).toBe('timeout');
      expect((await store.getRolloutById(first.rolloutId))?.status).toBe('requeuing');
      const retry = await store.dequeueRollout();
      expect(retry?.rolloutId).toBe(first.rolloutId);
      expect(retry?.attempt.sequenceId).toBe(2);
    });

    it('a span sent after the runner reported failure leaves the rollout queued for its retry', async () => {
      await store.enqueueRollout({ input: 1, config: { maxAttempts: 2, retryCondition: ['failed'] } });
      const first = (await store.dequeueRollout())!;
      await store.updateAttempt(first.rolloutId, first.attempt.attemptId, { status: 'failed' });
      expect(await store.addSpan(lateSpan(first, 'flushed'))).not.toBeNull();
      expect((await store.getRolloutById(first.rolloutId))?.status).toBe('requeuing');
      expect((await store.dequeueRollout())?.attempt.sequenceId).toBe(2);
    });
  });
}
