/**
 * Reverse patches (src/state/undoPatch.ts): a patch made from a new value rebuilds the old value exactly,
 * is small when little changed, is refused when it would not save space, and a patch that does not fit
 * the value it is applied to is answered as such, never with a wrong value.
 */
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/codec/index.ts';
import { applyUndoPatch, type UndoPatch, undoPatch } from '../../src/state/undoPatch.ts';

const chars = (value: JsonValue) => JSON.stringify(value).length;

function roundTrip(value: JsonValue, old: JsonValue): UndoPatch | undefined {
  const sized = undoPatch(value, old, chars(old));
  if (sized === undefined) return undefined;
  const text = JSON.stringify(sized.patch);
  expect(sized.chars).toBe(text.length);
  // Through JSON, as it is stored: the old value back exactly, keys in their order.
  const rebuilt = applyUndoPatch(value, JSON.parse(text));
  expect(rebuilt).toEqual(old);
  expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(old));
  return sized.patch;
}

// A small deterministic generator (mulberry32), so a failure names a seed that reproduces it.
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(next: () => number, depth: number): JsonValue {
  const kind = Math.floor(next() * (depth > 3 ? 4 : 6));
  if (kind === 0) return Math.floor(next() * 100);
  if (kind === 1) return next() < 0.5;
  if (kind === 2) return null;
  if (kind === 3) return 'ab😀c'.repeat(Math.floor(next() * 40));
  if (kind === 4) return Array.from({ length: Math.floor(next() * 6) }, () => randomValue(next, depth + 1));
  const object: Record<string, JsonValue> = {};
  for (let i = Math.floor(next() * 6); i > 0; i--)
    object[`k${Math.floor(next() * 8)}`] = randomValue(next, depth + 1);
  return object;
}

// A copy of `value` with a few random edits at random places.
function mutate(value: JsonValue, next: () => number): JsonValue {
  if (next() < 0.15) return randomValue(next, 2);
  if (typeof value === 'string' && value.length > 0) {
    const at = Math.floor(next() * value.length);
    return value.slice(0, at) + (next() < 0.5 ? 'Z😀' : '') + value.slice(at + 1);
  }
  if (Array.isArray(value)) {
    const copy = value.map((item) => (next() < 0.3 ? mutate(item, next) : item));
    if (next() < 0.3) copy.splice(Math.floor(next() * (copy.length + 1)), 0, randomValue(next, 3));
    if (next() < 0.3 && copy.length > 0) copy.splice(Math.floor(next() * copy.length), 1);
    return copy;
  }
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) {
      if (next() < 0.15) continue;
      copy[key] = next() < 0.4 ? mutate(item, next) : item;
    }
    if (next() < 0.3) copy[`n${Math.floor(next() * 4)}`] = randomValue(next, 3);
    return copy;
  }
  return randomValue(next, 3);
}

describe('reverse patches', () => {
  it('rebuild the old value exactly from the new one, for random values and edits', () => {
    let patched = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const next = random(seed);
      const old = randomValue(next, 0);
      const value = mutate(old, next);
      try {
        if (roundTrip(value, old) !== undefined) patched += 1;
      } catch (error) {
        throw new Error(`seed ${seed}: ${(error as Error).message}`);
      }
    }
    // Enough of them are patches (not the old value whole) for the check to mean something.
    expect(patched).toBeGreaterThan(300);
  });

  it('are a few bytes when a few characters of a large string changed', () => {
    const old = `channel 3 at step 13: ${'x'.repeat(5000)}`;
    const value = `channel 3 at step 23: ${'x'.repeat(5000)}`;
    const patch = roundTrip(value, old);
    expect(patch).toEqual({ s: [18, 5003, '1'] });
  });

  it('follow a change into nested objects and arrays', () => {
    const messages = Array.from({ length: 50 }, (_, i) => ({
      role: 'user',
      content: `message ${i} `.repeat(20),
    }));
    const old = { messages, summary: 's'.repeat(500), turns: 50 };
    const edited = messages.map((m, i) => (i === 20 ? { ...m, content: `${m.content}!` } : m));
    const value = { messages: edited, summary: old.summary, turns: 51, added: true };
    const patch = roundTrip(value, old);
    expect(patch).toBeDefined();
    expect(JSON.stringify(patch).length).toBeLessThan(160);
    // Items inserted in the middle of a list: only the old middle is kept.
    const inserted = {
      ...old,
      messages: [...messages.slice(0, 10), { role: 'tool', content: 'x' }, ...messages.slice(10)],
    };
    expect(roundTrip(inserted, old)).toEqual({ o: { messages: { a: [10, 40, []] } } });
    // A key removed and one added: the old keys come back in their order.
    const { summary, ...rest } = old;
    const reordered = { extra: 'x'.repeat(10), ...rest };
    expect(roundTrip(reordered, { ...old, summary })).toMatchObject({ k: ['messages', 'summary', 'turns'] });
  });

  it('are refused for equal values', () => {
    const value = { a: 'x'.repeat(500), b: [1, 2, 3] };
    expect(undoPatch(value, structuredClone(value), chars(value))).toBeUndefined();
  });

  it('keep the old value whole when a patch would not be at most half its size', () => {
    expect(roundTrip('b'.repeat(1000), 'a'.repeat(1000))).toBeUndefined();
    expect(roundTrip(5, 'a'.repeat(1000))).toBeUndefined();
    expect(roundTrip({ a: 'x'.repeat(100) }, { b: 'y'.repeat(100) })).toBeUndefined();
    // Strings shorter than the splice threshold are kept whole inside a patch.
    expect(
      roundTrip({ big: 'z'.repeat(1000), small: 'new' }, { big: 'z'.repeat(1000), small: 'old' }),
    ).toEqual({
      o: { small: { w: 'old' } },
    });
  });

  it('never split a surrogate pair between what is kept and what is stored', () => {
    const base = 'q'.repeat(100);
    for (const [value, old] of [
      [`${base}😀${base}`, `${base}😃${base}`], // same high half, different low half
      [`${base}\u{1F600}x${base}`, `${base}\u{1F680}x${base}`],
      [`${base}a😀${base}`, `${base}b😀${base}`],
    ] as const) {
      const patch = roundTrip(value, old) as { s: [number, number, string] };
      expect(patch.s[2]).toBe(old.slice(patch.s[0], old.length - patch.s[1]));
      expect(patch.s[2]).toBe(Buffer.from(patch.s[2], 'utf8').toString('utf8')); // no lone half
    }
  });

  it('keep keys named __proto__ as data', () => {
    const old = JSON.parse(`{"__proto__": {"polluted": ${JSON.stringify('p'.repeat(200))}}, "a": 1}`);
    const value = JSON.parse('{"a": 1}');
    const rebuilt = applyUndoPatch(value, JSON.parse(JSON.stringify(undoPatch(value, old, 10_000)?.patch)));
    expect(Object.hasOwn(rebuilt as object, '__proto__')).toBe(true);
    expect(rebuilt).toEqual(old);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('answer undefined for a patch that does not fit the value', () => {
    expect(applyUndoPatch('short', { s: [3, 4, 'x'] })).toBeUndefined();
    expect(applyUndoPatch([1, 2], { a: [1, 2, []] })).toBeUndefined();
    expect(applyUndoPatch([1, 2], { e: [2, { w: 0 }] })).toBeUndefined();
    expect(applyUndoPatch(7, { o: {} })).toBeUndefined();
    expect(applyUndoPatch({ a: 1 }, { o: {}, k: ['a', 'missing'] })).toBeUndefined();
    expect(applyUndoPatch({}, { o: { gone: { s: [0, 0, 'x'] } } })).toBeUndefined();
    expect(applyUndoPatch('text', { a: [0, 0, []] })).toBeUndefined();
  });
});
