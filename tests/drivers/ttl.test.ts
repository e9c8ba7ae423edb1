import { describe, expect, it } from 'vitest';
import { expiryTime, MAX_TTL_MS, wholeMilliseconds } from '../../src/drivers/kernel/ttl.ts';
import { checkTtlMs } from '../../src/drivers/shared/validate.ts';

describe('TTL arithmetic (one rule for every driver)', () => {
  it('adds the TTL rounded up to whole milliseconds', () => {
    expect(expiryTime(1000, 1000)).toBe(2000);
    expect(expiryTime(1000, 0.2)).toBe(1001);
    expect(expiryTime(1000, 1.5)).toBe(1002);
  });

  it('caps the expiry at MAX_SAFE_INTEGER, the same bound TtlStore uses', () => {
    expect(MAX_TTL_MS).toBe(Number.MAX_SAFE_INTEGER);
    expect(expiryTime(Date.UTC(2026, 0, 1), MAX_TTL_MS)).toBe(Number.MAX_SAFE_INTEGER);
    expect(expiryTime(MAX_TTL_MS - 10, 100)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('accepts ttlMs in (0, MAX_SAFE_INTEGER], fractions included, and refuses the rest', () => {
    for (const ttlMs of [0.1, 1, 1.5, MAX_TTL_MS]) expect(() => checkTtlMs(ttlMs)).not.toThrow();
    for (const ttlMs of [0, -1, 2 ** 53, Number.POSITIVE_INFINITY, Number.NaN, '10', null]) {
      expect(() => checkTtlMs(ttlMs)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
  });

  it('reads a store clock in whole milliseconds', () => {
    expect(wholeMilliseconds(() => 1000.9)()).toBe(1000);
    expect(wholeMilliseconds(Date.now)).toBe(Date.now);
  });
});
