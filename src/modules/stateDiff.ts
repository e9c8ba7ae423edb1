/** Structural difference between two saved states (snapshots or `stateDict()` results). */
import { type Codec, indexPath, type JsonValue, propertyPath, TAG } from '../codec/index.ts';

/** One difference: a value added, removed or changed at `path` (`$.memory.items[3]`). */
export interface StateDifference {
  /** Where, as a JSONPath-like string. */
  path: string;
  /** What happened at that path. */
  kind: 'added' | 'removed' | 'changed';
  /** The value before (absent for `added`). */
  before?: unknown;
  /** The value after (absent for `removed`). */
  after?: unknown;
}

/**
 * Compares two states. Both are encoded with the codec first, so a Date, Map or registered class compares
 * by its stored form; such tagged values are leaves (reported whole). Plain objects and arrays are
 * descended into; arrays compare by index.
 */
export function diffStates(before: unknown, after: unknown, codec: Codec): StateDifference[] {
  return diffEncodedStates(codec.encode(before), codec.encode(after), codec);
}

/** `diffStates` on values already in the codec's encoded form (as snapshots are kept). */
export function diffEncodedStates(before: JsonValue, after: JsonValue, codec: Codec): StateDifference[] {
  const out: StateDifference[] = [];
  walk(before, after, '$', codec, out);
  return out;
}

function walk(a: JsonValue, b: JsonValue, path: string, codec: Codec, out: StateDifference[]): void {
  if (Array.isArray(a) && Array.isArray(b)) {
    const shared = Math.min(a.length, b.length);
    for (let i = 0; i < shared; i++) walk(a[i]!, b[i]!, indexPath(path, i), codec, out);
    for (let i = shared; i < b.length; i++)
      out.push({ path: indexPath(path, i), kind: 'added', after: codec.decode(b[i]) });
    for (let i = shared; i < a.length; i++)
      out.push({ path: indexPath(path, i), kind: 'removed', before: codec.decode(a[i]) });
    return;
  }
  if (isContainer(a) && isContainer(b)) {
    for (const key of Object.keys(a)) {
      const child = propertyPath(path, key);
      if (Object.hasOwn(b, key)) walk(a[key]!, b[key]!, child, codec, out);
      else out.push({ path: child, kind: 'removed', before: codec.decode(a[key]) });
    }
    for (const key of Object.keys(b)) {
      if (!Object.hasOwn(a, key))
        out.push({ path: propertyPath(path, key), kind: 'added', after: codec.decode(b[key]) });
    }
    return;
  }
  if (!sameJson(a, b)) out.push({ path, kind: 'changed', before: codec.decode(a), after: codec.decode(b) });
}

// A plain object that is not a codec tag: safe to descend into key by key.
function isContainer(value: JsonValue): value is { [key: string]: JsonValue } {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !Object.hasOwn(value, TAG);
}

// Deep equality of encoded values. Object fields compare by name, not by order: two objects that list the
// same fields in another order are the same state (comparing JSON text reported them as changed). Arrays,
// including a Map's or Set's entry list, compare in order.
function sameJson(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i]!, b[i]!)) return false;
    return true;
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (!Object.hasOwn(b, key) || !sameJson(a[key]!, b[key]!)) return false;
  return true;
}
