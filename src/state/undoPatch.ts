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
 * - `o`: an object: patch the keys listed (a key the save added is in `d`, deleted).
 */
export type UndoPatch =
  | { w: JsonValue }
  | { s: [p: number, q: number, middle: string] }
  | { a: [p: number, q: number, items: JsonValue[]] }
  | { e: [index: number, patch: UndoPatch] }
  | { o: Record<string, UndoPatch>; d?: string[] };

// Nesting followed before a subtree is kept whole (values are at most 512 deep, see codec/depth.ts).
const MAX_NESTING = 32;
// Strings shorter than this are kept whole: a splice of them saves nothing worth its bookkeeping.
const MIN_SPLICED = 64;
// Characters compared at once while looking for the common start and end of two strings.
const BLOCK = 256;

/**
 * A patch that rebuilds `old` from `value`, or undefined when it would not be at most half the size of
 * `old` itself (keep the old value whole then). `oldChars` is the length of `old`'s JSON text.
 */
export function undoPatch(value: JsonValue, old: JsonValue, oldChars: number): UndoPatch | undefined {
  const patch = diff(value, old, 0);
  if ('w' in patch) return undefined;
  return JSON.stringify(patch).length * 2 <= oldChars ? patch : undefined;
}

/** The old value rebuilt from `value` and its patch; undefined when the patch does not fit `value`. */
export function applyUndoPatch(value: JsonValue, patch: UndoPatch): JsonValue | undefined {
  if ('w' in patch) return patch.w;
  if ('s' in patch) {
    const [p, q, middle] = patch.s;
    if (typeof value !== 'string' || !fits(p, q, value.length)) return undefined;
    return value.slice(0, p) + middle + value.slice(value.length - q);
  }
  if ('a' in patch) {
    const [p, q, items] = patch.a;
    if (!Array.isArray(value) || !fits(p, q, value.length)) return undefined;
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
  if (!isObject(value)) return undefined;
  const copy: Record<string, JsonValue> = { ...value };
  for (const key of patch.d ?? []) delete copy[key];
  for (const key of Object.keys(patch.o)) {
    const inner = patch.o[key] as UndoPatch;
    // A key absent from the new value can only be restored whole.
    const item = Object.hasOwn(value, key) ? applyUndoPatch(value[key] as JsonValue, inner) : wholeOf(inner);
    if (item === undefined) return undefined;
    setOwn(copy, key, item);
  }
  return copy;
}

function diff(value: JsonValue, old: JsonValue, nesting: number): UndoPatch {
  if (nesting > MAX_NESTING) return { w: old };
  if (typeof value === 'string' && typeof old === 'string') return diffStrings(value, old);
  if (Array.isArray(value) && Array.isArray(old)) return diffArrays(value, old, nesting);
  if (isObject(value) && isObject(old)) return diffObjects(value, old, nesting);
  return { w: old };
}

function diffStrings(value: string, old: string): UndoPatch {
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
  return { s: [p, q, old.slice(p, old.length - q)] };
}

function diffArrays(value: JsonValue[], old: JsonValue[], nesting: number): UndoPatch {
  const most = Math.min(value.length, old.length);
  let p = 0;
  while (p < most && same(value[p] as JsonValue, old[p] as JsonValue)) p += 1;
  let q = 0;
  while (q < most - p && same(value[value.length - 1 - q] as JsonValue, old[old.length - 1 - q] as JsonValue))
    q += 1;
  if (value.length === old.length && old.length - p - q === 1) {
    const inner = diff(value[p] as JsonValue, old[p] as JsonValue, nesting + 1);
    if (!('w' in inner)) return { e: [p, inner] };
  }
  return { a: [p, q, old.slice(p, old.length - q)] };
}

function diffObjects(
  value: Record<string, JsonValue>,
  old: Record<string, JsonValue>,
  nesting: number,
): UndoPatch {
  const patches: Record<string, UndoPatch> = {};
  const added: string[] = [];
  for (const key of Object.keys(value)) if (!Object.hasOwn(old, key)) added.push(key);
  for (const key of Object.keys(old)) {
    const before = old[key] as JsonValue;
    if (!Object.hasOwn(value, key)) setOwn(patches, key, { w: before });
    else if (!same(value[key] as JsonValue, before))
      setOwn(patches, key, diff(value[key] as JsonValue, before, nesting + 1));
  }
  return added.length > 0 ? { o: patches, d: added } : { o: patches };
}

function same(a: JsonValue, b: JsonValue): boolean {
  return a === b || (typeof a === 'object' && a !== null && isDeepStrictEqual(a, b));
}

function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function wholeOf(patch: UndoPatch): JsonValue | undefined {
  return 'w' in patch ? patch.w : undefined;
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
