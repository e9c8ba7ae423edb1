import { afterEach, describe, expect, it, vi } from 'vitest';
import { newAttemptId, newResourcesId, newRolloutId } from '../../src/rollouts/index.ts';

describe('rollout ids', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sort by creation time, whatever their random part', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const ids: string[] = [];
    for (let ms = 0; ms < 50; ms++) {
      vi.setSystemTime(Date.UTC(2026, 11, 5) + ms * 7);
      ids.push(newRolloutId());
    }
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(/^ro-[a-z0-9]{18}$/);
  });

  it('created in the same millisecond are still distinct', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.UTC(2026, 11, 5));
    const ids = new Set(Array.from({ length: 10_000 }, () => newRolloutId()));
    expect(ids.size).toBe(10_000);
  });

  it('keep the reference formats for attempts and resources', () => {
    expect(newAttemptId()).toMatch(/^at-[a-z0-9]{8}$/);
    expect(newResourcesId()).toMatch(/^rs-[a-z0-9]{12}$/);
  });
});
