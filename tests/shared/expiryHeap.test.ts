import { describe, expect, it } from 'vitest';
import { ExpiryHeap } from '../../src/shared/expiryHeap.ts';

describe('ExpiryHeap', () => {
  it('pops due items in time order and only those, reusing slots across pushes', () => {
    const heap = new ExpiryHeap();
    const times = Array.from({ length: 500 }, (_, i) => (i * 7919) % 1000);
    for (const at of times) heap.push({ at, namespace: 'n', id: String(at) });
    expect(heap.size).toBe(500);
    const popped: number[] = [];
    for (let item = heap.popDue(499); item; item = heap.popDue(499)) popped.push(item.at);
    expect(popped).toEqual(times.filter((t) => t <= 499).sort((a, b) => a - b));
    // Freed slots are reused: the new items are popped with their own data.
    heap.push({ at: 1, namespace: 'm', id: 'again' });
    expect(heap.popDue(1)).toEqual({ at: 1, namespace: 'm', id: 'again' });
    expect(heap.popDue(499)).toBeUndefined();
    expect(heap.size).toBe(500 - popped.length);
    heap.clear();
    expect(heap.size).toBe(0);
    expect(heap.popDue(Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });
});
