/**
 * Reverse patches between two JSON values: what turns a key's value after a save back into its value
 * before it. A save keeps one per rewritten key (`ReplacedValues.patches`, threadDelta.ts) instead of a
 * copy of the old value, so a 5 KB value of which a few characters or fields changed costs the history a
 * few bytes, not 5 KB (past revisions kept as deltas against the newer one, as RCS and git pack files
 * do). The current value is always stored whole, so loading a thread never applies a patch; only
 * `statesAt`, which walks back from the head, does.
 */
import { isDeepStrictEqual } from 'node:util';
import { type JsonValue, setOwn } from '../codec/index.ts';

/**
 * How to rebuild the old value from the new one:
 * - `w`: the old value whole;
 * - `s`: a string: keep the first p and the last q characters of the new one, put `middle` between;
 * - `a`: an array: keep the first p and the last q items of the new one, put the old `items` between;
 * - `e`: an array of the same length whose item at `index` alone changed: patch that item;
 * - `o`: an object: patch the keys listed in `o`, keep the others; `k`, when the old value's keys (or
 *   their order) differ from the new one's, lists the old keys in order.
 */
export type UndoPatch =
  | { w: JsonValue }
  | { s: [p: number, q: number, middle: string] }
  | { a: [p: number, q: number, items: JsonValue[]] }
  | { e: [index: number, patch: UndoPatch] }
  | { o: Record<string, UndoPatch>; k?: string[] };

/** A patch and the length of its JSON text. */
export interface SizedPatch {
  patch: UndoPatch;
  chars: number;
}

// Nesting followed before a subtree is compared whole. Each level of a patch is two levels of JSON, and
// a deep edit gains little over keeping its subtree whole.
const MAX_NESTING = 8;
// Strings shorter than this are kept whole: a splice of them saves nothing worth its bookkeeping.
const MIN_SPLICED = 64;
// Characters compared at once while looking for the common start and end of two strings.
const BLOCK = 256;

/**
 * A patch that rebuilds `old` from `value`, or undefined when the values are equal or the patch would not
 * be at most half the size of `old` itself (keep the old value whole then). `oldChars` is the length of
 * `old`'s JSON text. Each level compares its items once and follows only the first pair that differs,
 * so the work is at most MAX_NESTING times the values' size (a subtree deeper than that is compared
 * whole, its key order not compared).
 */
export function undoPatch(value: JsonValue, old: JsonValue, oldChars: number): SizedPatch | undefined {
  const patch = diff(value, old, 0, oldChars / 2);
  if (patch === null || 'w' in patch) return undefined;
  const chars = JSON.stringify(patch).length;
  return chars * 2 <= oldChars ? { patch, chars } : undefined;
}

/** The old value rebuilt from `value` and its patch; undefined when the patch does not fit `value`. */
export function applyUndoPatch(value: JsonValue, patch: UndoPatch): JsonValue | undefined {
  if ('w' in patch) return patch.w;
  if ('s' in patch) {
    const [p, q, middle] = patch.s;
    if (typeof value !== 'string' || typeof middle !== 'string' || !fits(p, q, value.length))
      return undefined;
    return value.slice(0, p) + middle + value.slice(value.length - q);
  }
  if ('a' in patch) {
    const [p, q, items] = patch.a;
    if (!Array.isArray(value) || !Array.isArray(items) || !fits(p, q, value.length)) return undefined;
    return [...value.slice(0, p), ...items, ...value.slice(value.length - q)];
  }
  if ('e' in patch) {
    const [index, inner] = patch.e;
    if (!Array.isArray(value) || !Number.isSafeInteger(index) || index < 0 || index >= value.length)
      return undefined;
    const item = applyUndoPatch(value[index] as JsonValue, inner);
    if (item === undefined) return undefined;
    const copy = [...value];
    copy[index] = item;
    return copy;
  }
  if (!isObject(value) || !isObject(patch.o)) return undefined;
  const keys = patch.k ?? Object.keys(value);
  if (!Array.isArray(keys)) return undefined;
  const rebuilt: Record<string, JsonValue> = {};
  let patched = 0;
  for (const key of keys) {
    const has = Object.hasOwn(value, key);
    let item: JsonValue | undefined = has ? (value[key] as JsonValue) : undefined;
    if (Object.hasOwn(patch.o, key)) {
      patched += 1;
      const inner = patch.o[key] as UndoPatch;
      // A key absent from the new value can only be restored whole.
      item = has ? applyUndoPatch(item as JsonValue, inner) : 'w' in inner ? inner.w : undefined;
    }
    if (item === undefined) return undefined;
    setOwn(rebuilt, key, item);
  }
  // A patched key the rebuilt object does not have: the patch is not of this value.
  return patched === Object.keys(patch.o).length ? rebuilt : undefined;
}

// The patch from `value` back to `old`, null when they are equal. `room` is about how many characters of
// old text the patch may still hold: a string splice beyond it is not built (the caller refuses it).
function diff(value: JsonValue, old: JsonValue, nesting: number, room: number): UndoPatch | null {
  if (value === old) return null;
  if (typeof value === 'string' && typeof old === 'string') return diffStrings(value, old, room);
  const arrays = Array.isArray(value) && Array.isArray(old);
  const objects = !arrays && isObject(value) && isObject(old);
  if (!arrays && !objects) return { w: old };
  if (nesting >= MAX_NESTING) return isDeepStrictEqual(value, old) ? null : { w: old };
  return arrays
    ? diffArrays(value as JsonValue[], old as JsonValue[], nesting, room)
    : diffObjects(value as Record<string, JsonValue>, old as Record<string, JsonValue>, nesting, room);
}

function diffStrings(value: string, old: string, room: number): UndoPatch {
  if (old.length < MIN_SPLICED) return { w: old };
  const most = Math.min(value.length, old.length);
  // Whole blocks first (a slice comparison is a memory compare), then character by character.
  let p = 0;
  while (p + BLOCK <= most && value.slice(p, p + BLOCK) === old.slice(p, p + BLOCK)) p += BLOCK;
  while (p < most && value.charCodeAt(p) === old.charCodeAt(p)) p += 1;
  let q = 0;
  const tail = (s: string, from: number, length: number) =>
    s.slice(s.length - from - length, s.length - from);
  while (q + BLOCK <= most - p && tail(value, q, BLOCK) === tail(old, q, BLOCK)) q += BLOCK;
  while (q < most - p && value.charCodeAt(value.length - 1 - q) === old.charCodeAt(old.length - 1 - q))
    q += 1;
  // Never split a surrogate pair: the middle is stored as JSON text, where a lone half is not kept.
  if (p > 0 && isHighSurrogate(old.charCodeAt(p - 1))) p -= 1;
  if (q > 0 && isLowSurrogate(old.charCodeAt(old.length - q))) q -= 1;
  if (old.length - p - q > room) return { w: old };
  return { s: [p, q, old.slice(p, old.length - q)] };
}

function diffArrays(value: JsonValue[], old: JsonValue[], nesting: number, room: number): UndoPatch | null {
  const most = Math.min(value.length, old.length);
  // The common start, keeping the patch of the first item that differs (for one changed item).
  let p = 0;
  let first: UndoPatch | null = null;
  for (; p < most; p += 1) {
    first = diff(value[p] as JsonValue, old[p] as JsonValue, nesting + 1, room);
    if (first !== null) break;
  }
  if (p === value.length && p === old.length) return null;
  // The common end, compared whole (no patch is needed of its items) and never reaching back to the
  // pair at p already compared: every item is visited once at this level, and only the one at p deeper.
  const end = value.length === old.length && p < most ? most - p - 1 : most - p;
  let q = 0;
  while (q < end && same(value[value.length - 1 - q] as JsonValue, old[old.length - 1 - q] as JsonValue))
    q += 1;
  if (value.length === old.length && old.length - p - q === 1 && first !== null && !('w' in first)) {
    return { e: [p, first] };
  }
  return { a: [p, q, old.slice(p, old.length - q)] };
}

function diffObjects(
  value: Record<string, JsonValue>,
  old: Record<string, JsonValue>,
  nesting: number,
  room: number,
): UndoPatch | null {
  const patches: Record<string, UndoPatch> = {};
  let changed = false;
  const oldKeys = Object.keys(old);
  for (const key of oldKeys) {
    const before = old[key] as JsonValue;
    const patch = Object.hasOwn(value, key)
      ? diff(value[key] as JsonValue, before, nesting + 1, room)
      : { w: before };
    if (patch === null) continue;
    setOwn(patches, key, patch);
    changed = true;
  }
  const newKeys = Object.keys(value);
  const sameKeys = newKeys.length === oldKeys.length && newKeys.every((key, i) => key === oldKeys[i]);
  if (!changed && sameKeys) return null;
  return sameKeys ? { o: patches } : { o: patches, k: oldKeys };
}

function same(a: JsonValue, b: JsonValue): boolean {
  return a === b || (typeof a === 'object' && a !== null && isDeepStrictEqual(a, b));
}

function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fits(p: unknown, q: unknown, length: number): boolean {
  return (
    Number.isSafeInteger(p) &&
    Number.isSafeInteger(q) &&
    (p as number) >= 0 &&
    (q as number) >= 0 &&
    (p as number) + (q as number) <= length
  );
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
