import { describe, expect, it } from 'vitest';
import { ExpiryQueue } from '../../src/ttl/expiryQueue.ts';

function drain(queue: ExpiryQueue): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  while (queue.length > 0) {
    out.push([queue.peekTime(), queue.peekSlot()]);
    queue.pop();
  }
  return out;
}

describe('ExpiryQueue', () => {
  it('keeps times a run cannot hold (fractions, beyond 2^32 ms) exact and in order', () => {
    const queue = new ExpiryQueue();
    const far = 2 ** 32 + 5;
    queue.push(10, 1);
    queue.push(far, 2);
    queue.push(20.5, 3);
    queue.push(30, 4);
    queue.push(2 ** 32 - 1, 5);
    expect(drain(queue)).toEqual([
      [10, 1],
      [20.5, 3],
      [30, 4],
      [2 ** 32 - 1, 5],
      [far, 2],
    ]);
  });

  it('pops in time order, whatever order items arrive in, across growth', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const queue = new ExpiryQueue();
    const items: Array<[number, number]> = [];
    for (let i = 0; i < 20_000; i++) {
      // Mostly increasing times (the common case) with some out-of-order ones.
      const time = random() < 0.8 ? i * 10 : Math.floor(random() * 200_000);
      queue.push(time, i);
      items.push([time, i]);
      if (i % 7 === 0) {
        const [t, s] = [queue.peekTime(), queue.peekSlot()];
        queue.pop();
        const at = items.findIndex(([it, is]) => it === t && is === s);
        expect(at).toBeGreaterThanOrEqual(0);
        expect(Math.min(...items.map(([it]) => it))).toBe(t);
        items.splice(at, 1);
      }
    }
    const drained = drain(queue);
    expect(drained.map(([t]) => t)).toEqual([...items.map(([t]) => t)].sort((a, b) => a - b));
    expect(drained.map(([, s]) => s).sort((a, b) => a - b)).toEqual(
      items.map(([, s]) => s).sort((a, b) => a - b),
    );
    expect(queue.peekTime()).toBe(Number.POSITIVE_INFINITY);
  });

  it('rebuilds from arbitrary items and keeps accepting pushes', () => {
    const queue = new ExpiryQueue();
    queue.rebuild(new Float64Array([5, 3, 9, 1]), new Uint32Array([50, 30, 90, 10]), 4);
    queue.push(4, 40);
    queue.push(100, 1000);
    expect(drain(queue)).toEqual([
      [1, 10],
      [3, 30],
      [4, 40],
      [5, 50],
      [9, 90],
      [100, 1000],
    ]);
  });
});

describe('ExpiryQueue with several TTL classes', () => {
  it('pops interleaved in-order classes in time order, and popDue takes exactly the due items', () => {
    const queue = new ExpiryQueue();
    const items: Array<[number, number]> = [];
    // Six classes written interleaved as time goes on (each class in order on its own), plus a few strays.
    for (let i = 0; i < 6_000; i++) {
      const time = Math.floor(i / 6) + ((i % 6) + 1) * 1_000;
      queue.push(time, i);
      items.push([time, i]);
      if (i % 500 === 0) {
        queue.push(i % 7, 100_000 + i);
        items.push([i % 7, 100_000 + i]);
      }
    }
    const count = queue.popDue(2_500);
    const due = [...queue.dueSlots.subarray(0, count)].sort((a, b) => a - b);
    const expected = items.filter(([t]) => t <= 2_500).map(([, s]) => s);
    expect(due).toEqual(expected.sort((a, b) => a - b));
    expect(queue.length).toBe(items.length - count);
    expect(queue.peekTime()).toBe(Math.min(...items.filter(([t]) => t > 2_500).map(([t]) => t)));
    const rest = drain(queue).map(([t]) => t);
    expect(rest).toEqual(
      items
        .filter(([t]) => t > 2_500)
        .map(([t]) => t)
        .sort((a, b) => a - b),
    );
    expect(queue.popDue(Number.MAX_SAFE_INTEGER)).toBe(0);
  });
});
