import { describe, expect, it } from 'vitest';
import { hashKey, SlotIndex } from '../../src/ttl/slotIndex.ts';

describe('SlotIndex', () => {
  it('finds every key through growth, removals, tombstone rebuilds and slot reuse', () => {
    const index = new SlotIndex(4, Number.POSITIVE_INFINITY);
    const live = new Map<string, number>();
    let seed = 11;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 20_000; round++) {
      const key = `k${Math.floor(random() * 3000)}`;
      const slot = index.find(key);
      expect(slot).toBe(live.get(key) ?? -1);
      if (slot < 0) {
        const added = index.add(key);
        expect(index.keys[added]).toBe(key);
        expect([...live.values()]).not.toContain(added);
        live.set(key, added);
      } else if (random() < 0.6) {
        index.remove(slot);
        expect(index.keys[slot]).toBeUndefined();
        live.delete(key);
      }
    }
    for (const [key, slot] of live) expect(index.find(key)).toBe(slot);
    expect([...index.slots()].sort((a, b) => a - b)).toEqual([...live.values()].sort((a, b) => a - b));
    expect(index.find('never-added')).toBe(-1);
  });

  it('stays correct when keys collide: long keys that differ only between hash samples', () => {
    const prefix = 'p'.repeat(40);
    const suffix = 's'.repeat(40);
    // 200 characters: the middle is sampled, so most of these keys hash alike and share a probe run.
    const keys = Array.from({ length: 300 }, (_, i) => `${prefix}${String(i).padStart(120, '0')}${suffix}`);
    const index = new SlotIndex(16, Number.POSITIVE_INFINITY);
    const slots = keys.map((key) => index.add(key));
    keys.forEach((key, i) => {
      expect(index.find(key)).toBe(slots[i]);
    });
    for (let i = 0; i < keys.length; i += 2) index.remove(slots[i]!);
    keys.forEach((key, i) => {
      expect(index.find(key)).toBe(i % 2 === 0 ? -1 : slots[i]);
    });
  });

  it('hashes short keys in full and spreads them over the low bits', () => {
    expect(hashKey('a')).not.toBe(hashKey('b'));
    expect(hashKey('key:1')).toBe(hashKey(`key:${1}`));
    const buckets = new Set<number>();
    for (let i = 0; i < 1000; i++) buckets.add(hashKey(`key:${i}`) & 1023);
    expect(buckets.size).toBeGreaterThan(550);
  });

  it('grows no further than its maximum', () => {
    const index = new SlotIndex(2, 5);
    for (let i = 0; i < 5; i++) index.add(`k${i}`);
    expect(index.capacity).toBe(5);
  });
});
