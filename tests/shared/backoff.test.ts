import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/shared/backoff.ts';

describe('Backoff', () => {
  it('doubles up to the cap, each delay jittered within [step/2, step)', () => {
    const backoff = new Backoff(100, 400);
    const steps = [100, 200, 400, 400];
    for (const step of steps) {
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(step / 2);
      expect(delay).toBeLessThan(step);
    }
    backoff.reset();
    expect(backoff.next()).toBeLessThan(100);
  });
});
