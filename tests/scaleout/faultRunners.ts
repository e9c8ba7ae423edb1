/**
 * Runners for the fault tests: dequeue -> 2 spans -> succeeded through AgentStateClient, going on through
 * failures (a step that still fails after the client's own retries is tried again after a pause), and
 * recording only what the servers acknowledged, so a test can check that none of it was lost.
 */
import { AgentStateClient, type AgentStateClientOptions } from '../../src/client/index.ts';
import { AgentStateError } from '../../src/errors.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Failures of the servers or the database, worth trying again; anything else is the step's own answer.
const RETRYABLE = new Set(['UNAVAILABLE', 'INTERNAL', 'TIMEOUT', 'CLOSED']);

/** What the servers acknowledged. */
export interface Acknowledged {
  /** Rollouts whose attempt was acknowledged as succeeded. */
  succeeded: Set<string>;
  /** Span batches acknowledged: rolloutId -> attemptId. */
  spans: Map<string, string>;
  /** Steps that failed after the client's retries and were tried again. */
  failures: number;
  /** Rollouts given up because a server refused a step (the attempt was taken over after a fault). */
  refused: number;
}

/** An empty record. */
export function acknowledged(): Acknowledged {
  return { succeeded: new Set(), spans: new Map(), failures: 0, refused: 0 };
}

/**
 * Retries `step` while it fails for a retryable reason, until it succeeds, or undefined once `stop()` is
 * true; other errors are thrown.
 */
async function persist<T>(
  ack: Acknowledged,
  stop: () => boolean,
  step: () => Promise<T>,
): Promise<T | undefined> {
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (!(error instanceof AgentStateError) || !RETRYABLE.has(error.code)) throw error;
      ack.failures++;
      if (stop()) return undefined;
      await sleep(100);
    }
  }
}

/** Runs `count` runners until `stop()` is true; each runner's client options come from `options(i)`. */
export async function runRunners(
  count: number,
  options: (runner: number) => AgentStateClientOptions,
  stop: () => boolean,
  ack: Acknowledged,
): Promise<AgentStateClient[]> {
  const clients = Array.from(
    { length: count },
    (_, runner) => new AgentStateClient({ retryDelayMs: 50, maxRetryDelayMs: 500, ...options(runner) }),
  );
  await Promise.all(
    clients.map(async (client, runner) => {
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
        try {
          if ((await persist(ack, stop, () => client.addManySpans(spans))) === undefined) break;
          ack.spans.set(rollout.rolloutId, attemptId);
          const update = () =>
            client.updateAttempt(rollout.rolloutId, attemptId, { status: 'succeeded', workerId });
          if ((await persist(ack, stop, update)) === undefined) break;
          ack.succeeded.add(rollout.rolloutId);
        } catch {
          ack.refused++;
        }
      }
      client.close();
    }),
  );
  return clients;
}
