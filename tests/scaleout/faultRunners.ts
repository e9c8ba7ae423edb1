/**
 * Runners for the fault tests: enqueue -> dequeue -> 2 spans -> succeeded through AgentStateClient, going on
 * through failures (a step that still fails after the client's own retries is tried again after a pause),
 * and recording only what the server acknowledged, so a test can check that none of it was lost.
 */
import { AgentStateClient, type AgentStateClientOptions } from '../../src/client/index.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the servers acknowledged. */
export interface Acknowledged {
  /** Rollouts whose attempt was acknowledged as succeeded. */
  succeeded: Set<string>;
  /** Span batches acknowledged: rolloutId -> attemptId. */
  spans: Map<string, string>;
  /** Steps that failed after the client's retries and were tried again. */
  failures: number;
}

/** Retries `step` until it succeeds or `stop()` says so; counts failures. */
async function persist<T>(
  ack: Acknowledged,
  stop: () => boolean,
  step: () => Promise<T>,
): Promise<T | undefined> {
  for (;;) {
    try {
      return await step();
    } catch {
      ack.failures++;
      if (stop()) return undefined;
      await sleep(100);
    }
  }
}

/** Runs `count` runners until `stop()` is true; each runner's options come from `options(i)`. */
export async function runRunners(
  count: number,
  options: (runner: number) => AgentStateClientOptions,
  stop: () => boolean,
  ack: Acknowledged,
): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async (_, runner) => {
      const client = new AgentStateClient({ retryDelayMs: 50, maxRetryDelayMs: 500, ...options(runner) });
      const workerId = `runner-${runner}`;
      while (!stop()) {
        const rollout = await persist(ack, stop, () => client.dequeueRollout({ workerId }));
        if (rollout === undefined) break;
        if (rollout === null) {
          await sleep(50);
          continue;
        }
        const { attemptId } = rollout.attempt;
        const spans = [1, 2].map((sequenceId) => ({
          rolloutId: rollout.rolloutId,
          attemptId,
          sequenceId,
          traceId: `t-${rollout.rolloutId}`,
          spanId: `s-${attemptId}-${sequenceId}`,
          name: `step-${sequenceId}`,
          attributes: { runner },
        }));
        if ((await persist(ack, stop, () => client.addManySpans(spans))) === undefined) break;
        ack.spans.set(rollout.rolloutId, attemptId);
        const done = await persist(ack, stop, () =>
          client.updateAttempt(rollout.rolloutId, attemptId, { status: 'succeeded', workerId }),
        );
        if (done === undefined) break;
        ack.succeeded.add(rollout.rolloutId);
      }
      client.close();
    }),
  );
}

/** An empty record. */
export function acknowledged(): Acknowledged {
  return { succeeded: new Set(), spans: new Map(), failures: 0 };
}
