/**
 * The rollout state machine as pure functions, shared by every backend (the PostgreSQL backend uses them
 * too), so the rules live in one place.
 */
import type { Attempt, AttemptStatus, RolloutConfig, RolloutStatus, Worker } from './types.ts';

/** True for succeeded, failed, cancelled: nothing more will happen to the rollout. */
export function isFinishedRollout(status: RolloutStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

/** True for queuing and requeuing: the rollout waits in the queue. */
export function isQueuedRollout(status: RolloutStatus): boolean {
  return status === 'queuing' || status === 'requeuing';
}

/** True for the statuses the health check watches (the reference's "running rollouts"). */
export function isActiveRollout(status: RolloutStatus): boolean {
  return status === 'preparing' || status === 'running';
}

/** True for attempt statuses that can still time out or go unresponsive. */
export function isLiveAttempt(status: AttemptStatus): boolean {
  return status === 'preparing' || status === 'running';
}

/** Attempt statuses that set the attempt's endTime (as in the reference). */
export function endsAttempt(status: AttemptStatus): boolean {
  return status === 'succeeded' || status === 'failed';
}

/**
 * The rollout status implied by its latest attempt: preparing/running/succeeded carry over; failed, timeout
 * and unresponsive requeue when the status is in `retryCondition` and attempts remain, else fail.
 */
export function rolloutStatusFromAttempt(
  attempt: Pick<Attempt, 'status' | 'sequenceId'>,
  config: RolloutConfig,
): RolloutStatus {
  const status = attempt.status;
  if (status === 'preparing' || status === 'running' || status === 'succeeded') return status;
  if (config.retryCondition.includes(status) && attempt.sequenceId < config.maxAttempts) return 'requeuing';
  return 'failed';
}

/**
 * The moment (epoch seconds) after which the health check must look at an attempt: the earlier of its
 * timeout (from start) and its unresponsiveness limit (from the last heartbeat, or the start when none).
 * null when nothing can expire. Storing this per attempt turns the reference's scan of every running
 * rollout into an indexed range lookup (`deadline < now`).
 */
export function attemptDeadline(
  attempt: Pick<Attempt, 'status' | 'startTime' | 'lastHeartbeatTime'>,
  config: RolloutConfig,
  isLatest: boolean,
): number | null {
  if (!isLatest || !isLiveAttempt(attempt.status)) return null;
  let deadline = Number.POSITIVE_INFINITY;
  if (config.timeoutSeconds !== null) deadline = attempt.startTime + config.timeoutSeconds;
  if (config.unresponsiveSeconds !== null) {
    deadline = Math.min(
      deadline,
      (attempt.lastHeartbeatTime ?? attempt.startTime) + config.unresponsiveSeconds,
    );
  }
  return deadline === Number.POSITIVE_INFINITY ? null : deadline;
}

/**
 * What the health check does to a live latest attempt at `nowSeconds`: `timeout` when it ran longer than
 * timeoutSeconds since its start, `unresponsive` when no heartbeat came for unresponsiveSeconds, else null.
 */
export function healthVerdict(
  attempt: Pick<Attempt, 'startTime' | 'lastHeartbeatTime'>,
  config: RolloutConfig,
  nowSeconds: number,
): 'timeout' | 'unresponsive' | null {
  if (config.timeoutSeconds !== null && nowSeconds - attempt.startTime > config.timeoutSeconds)
    return 'timeout';
  const since = attempt.lastHeartbeatTime ?? attempt.startTime;
  if (config.unresponsiveSeconds !== null && nowSeconds - since > config.unresponsiveSeconds)
    return 'unresponsive';
  return null;
}

/** A worker record with every field empty. */
export function emptyWorker(workerId: string): Worker {
  return {
    workerId,
    status: 'unknown',
    heartbeatStats: null,
    lastHeartbeatTime: null,
    lastDequeueTime: null,
    lastBusyTime: null,
    lastIdleTime: null,
    currentRolloutId: null,
    currentAttemptId: null,
  };
}

/**
 * A worker after one of its attempts changed: busy while it prepares or runs it, idle once it succeeded or
 * failed, unknown after a timeout or unresponsiveness (the runner may be gone).
 */
export function workerAfterAttempt(
  worker: Worker,
  attempt: Pick<Attempt, 'status' | 'rolloutId' | 'attemptId'>,
  nowSeconds: number,
  dequeued: boolean,
): Worker {
  const next: Worker = { ...worker };
  if (dequeued) next.lastDequeueTime = nowSeconds;
  if (attempt.status === 'succeeded' || attempt.status === 'failed') {
    next.status = 'idle';
    next.lastIdleTime = nowSeconds;
    next.currentRolloutId = null;
    next.currentAttemptId = null;
  } else if (attempt.status === 'timeout' || attempt.status === 'unresponsive') {
    next.status = 'unknown';
    next.lastIdleTime = nowSeconds;
    next.currentRolloutId = null;
    next.currentAttemptId = null;
  } else {
    next.status = 'busy';
    next.lastBusyTime = nowSeconds;
    next.currentRolloutId = attempt.rolloutId;
    next.currentAttemptId = attempt.attemptId;
  }
  return next;
}

/** A worker after a dequeue that found nothing: idle (idle time kept when it already was). */
export function workerAfterEmptyDequeue(worker: Worker, nowSeconds: number): Worker {
  return {
    ...worker,
    lastDequeueTime: nowSeconds,
    status: 'idle',
    lastIdleTime: worker.status === 'idle' && worker.lastIdleTime !== null ? worker.lastIdleTime : nowSeconds,
  };
}
