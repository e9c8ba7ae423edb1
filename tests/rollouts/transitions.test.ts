// The state machine rules shared by every backend, as a table.
import { describe, expect, it } from 'vitest';
import type { RolloutConfig } from '../../src/index.ts';
import { attemptDeadline, healthVerdict, rolloutStatusFromAttempt } from '../../src/rollouts/transitions.ts';

const config = (over: Partial<RolloutConfig> = {}): RolloutConfig => ({
  timeoutSeconds: null,
  unresponsiveSeconds: null,
  maxAttempts: 1,
  retryCondition: [],
  ...over,
});

describe('rolloutStatusFromAttempt', () => {
  it.each([
    ['preparing', 1, config(), 'preparing'],
    ['running', 1, config(), 'running'],
    ['succeeded', 1, config(), 'succeeded'],
    ['failed', 1, config(), 'failed'],
    ['failed', 1, config({ maxAttempts: 2, retryCondition: ['failed'] }), 'requeuing'],
    ['failed', 2, config({ maxAttempts: 2, retryCondition: ['failed'] }), 'failed'],
    ['timeout', 1, config({ maxAttempts: 3, retryCondition: ['failed'] }), 'failed'],
    ['timeout', 2, config({ maxAttempts: 3, retryCondition: ['timeout'] }), 'requeuing'],
    ['unresponsive', 1, config({ maxAttempts: 2, retryCondition: ['unresponsive'] }), 'requeuing'],
  ] as const)('attempt %s #%i -> rollout %s', (status, sequenceId, cfg, expected) => {
    expect(rolloutStatusFromAttempt({ status, sequenceId }, cfg)).toBe(expected);
  });
});

describe('attemptDeadline and healthVerdict', () => {
  const attempt = { status: 'running' as const, startTime: 100, lastHeartbeatTime: 130 };

  it('takes the earlier of timeout (from start) and unresponsiveness (from the last heartbeat)', () => {
    expect(attemptDeadline(attempt, config({ timeoutSeconds: 60, unresponsiveSeconds: 10 }), true)).toBe(140);
    expect(attemptDeadline(attempt, config({ timeoutSeconds: 35, unresponsiveSeconds: 10 }), true)).toBe(135);
    expect(
      attemptDeadline({ ...attempt, lastHeartbeatTime: null }, config({ unresponsiveSeconds: 10 }), true),
    ).toBe(110);
    expect(attemptDeadline(attempt, config(), true)).toBeNull();
    expect(attemptDeadline(attempt, config({ timeoutSeconds: 1 }), false)).toBeNull();
    expect(
      attemptDeadline({ ...attempt, status: 'timeout' }, config({ timeoutSeconds: 1 }), true),
    ).toBeNull();
  });

  it('is strict at the boundary: exactly at the limit is still healthy', () => {
    const cfg = config({ timeoutSeconds: 60, unresponsiveSeconds: 10 });
    expect(healthVerdict(attempt, cfg, 140)).toBeNull();
    expect(healthVerdict(attempt, cfg, 140.001)).toBe('unresponsive');
    expect(healthVerdict(attempt, cfg, 160.001)).toBe('timeout');
  });
});
