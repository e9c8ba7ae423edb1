import { isDeepStrictEqual } from 'node:util';
import { type JsonValue, setOwn } from '../codec/index.ts';
import { part, revisionSuffix } from '../shared/idParts.ts';
import { type UndoPatch, undoPatch } from './undoPatch.ts';

/**
 * Where one key's value is stored: a whole value written at one revision, or a list stored as chunks of
 * items, each written at the revision that appended it. Chunks follow a binary-counter rule (see
 * `planList`), so a list of n items has O(log n) chunks and each item is rewritten O(log n) times in
 * its life, never the whole history on every append.
 */
export type KeyLocation = { rev: number } | { chunks: Chunk[] } | { v: JsonValue };

// Values whose JSON is at most this long live in the head itself: a separate document costs more to
// write and read than the bytes it saves, and a state of many small keys stays one small record.
const INLINE_CHARS = 256;
// Whole values larger than that are overwritten in place, in one document per key (the batch is atomic,
// so no revision suffix is needed); only list chunks carry the revision that wrote them.
const WHOLE = 0;
// Strings up to this length are encoded to count their JSON text exactly (see charsOf).
const EXACT_STRING_CHARS = 4096;
/** What a save replaced is kept in its history record when its JSON is at most this long (threadSave.ts). */
export const UNDO_IN_HISTORY_CHARS = 2048;

/** A run of list items `[start, start + length)` stored in the document of revision `rev`. */
export interface Chunk {
  rev: number;
  start: number;
  length: number;
}

/** The head record of a delta-saved thread: small, rewritten (compare-and-set) on every save. */
export interface ThreadHead {
  format: 'delta';
  /** State revision of the saved state. */
  revision: number;
  /** Shape versions of keys above version 1. */
  versions?: Record<string, number>;
  /** Where each key's value lives. */
  keys: Record<string, KeyLocation>;
}

/**
 * The head as stored. The values kept in the head are one JSON text (`inline`): they are encoded already,
 * and as objects the driver's codec would walk every one of them again on every save (a state of 100
 * small keys spent most of a save there). Heads written before `inline` keep `{ v }` locations; both read.
 */
export interface StoredThreadHead {
  format: 'delta';
  revision: number;
  versions?: Record<string, number>;
  /** Locations of the keys not kept in the head. */
  keys: Record<string, KeyLocation>;
  /** JSON text of `{ key: value }` for the keys kept in the head. */
  inline?: string;
}

// JSON text of frozen encoded values. A store's export hands out the same frozen object for a key until
// its value changes (see StateStore.exportPersisted), so a save re-stringifies only the changed keys.
const jsonOfFrozen = new WeakMap<object, string>();

function jsonOf(value: JsonValue): string {
  if (typeof value !== 'object' || value === null || !Object.isFrozen(value)) return JSON.stringify(value);
  let text = jsonOfFrozen.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    jsonOfFrozen.set(value, text);
  }
  return text;
}

// The length of a value's JSON text; a string longer than `exactUpTo` counts its length plus the quotes, a
// lower bound that spares encoding it (escapes only lengthen it).
function charsOf(value: JsonValue, exactUpTo = EXACT_STRING_CHARS): number {
  if (typeof value === 'string' && value.length > exactUpTo) return value.length + 2;
  return jsonOf(value).length;
}

/** The stored form of a head. */
export function toStoredHead(head: ThreadHead): StoredThreadHead {
  const keys: Record<string, KeyLocation> = {};
  let inline = '';
  for (const key of Object.keys(head.keys)) {
    const location = head.keys[key] as KeyLocation;
    if ('v' in location) inline += `${inline === '' ? '{' : ','}${JSON.stringify(key)}:${jsonOf(location.v)}`;
    else setOwn(keys, key, location);
  }
  const stored: StoredThreadHead = { format: 'delta', revision: head.revision, keys };
  if (head.versions !== undefined) stored.versions = head.versions;
  if (inline !== '') stored.inline = `${inline}}`;
  return stored;
}

/** A head back from its stored form; `inline` that is not a JSON object throws (the caller reports it). */
export function fromStoredHead(stored: StoredThreadHead): ThreadHead {
  const head: ThreadHead = { format: 'delta', revision: stored.revision, keys: stored.keys };
  if (stored.versions !== undefined) head.versions = stored.versions;
  if (stored.inline === undefined) return head;
  const inline: unknown = JSON.parse(stored.inline);
  if (typeof inline !== 'object' || inline === null || Array.isArray(inline)) {
    throw new TypeError('the values kept in the head are not a JSON object');
  }
  const keys: Record<string, KeyLocation> = { ...stored.keys };
  for (const key of Object.keys(inline))
    setOwn(keys, key, { v: (inline as Record<string, JsonValue>)[key]! });
  head.keys = keys;
  return head;
}

/** What a thread looked like when last loaded or saved: the head and the encoded values it points to. */
export interface ThreadBase {
  documentRevision: number;
  head: ThreadHead | undefined;
  /** The encoded values by key (a Map, or the saved state's own extensions: see `valuesOf`). */
  values: { get(key: string): JsonValue | undefined };
}

/** One value document to write (`value`) or delete (`value` undefined). */
export interface ValueWrite {
  key: string;
  rev: number;
  value?: JsonValue;
}

/** The writes of one save: value documents and the new head. */
export interface DeltaPlan {
  head: ThreadHead;
  writes: ValueWrite[];
  /** Keys written whole, and keys that only had items appended. */
  changed: string[];
  appended: string[];
  /**
   * What the save replaced, so a past revision can be rebuilt from the current one; undefined when the
   * base does not say (a thread created, or a whole-state head of an earlier release).
   */
  replaced: ReplacedValues | undefined;
  /** About the length of `replaced`'s JSON text, added up from its parts (0 when undefined). */
  replacedChars: number;
}

/**
 * The values one save replaced: undoing a save turns the state after it into the state before it. Kept
 * per save (for the revisions retention keeps), so the history can show any retained revision's values.
 */
export interface ReplacedValues {
  /** Keys the save rewrote or removed, with their encoded value before it. */
  before: Record<string, JsonValue>;
  /**
   * Keys the save rewrote where a reverse patch from the new value is at most half the old one's size,
   * in place of a copy in `before`. Only in records kept in a history record (see `wholeReplaced`).
   */
  patches?: Record<string, UndoPatch>;
  /** Keys the save created (absent before it). */
  created: string[];
  /** Lists the save only appended to, with their length before it. */
  lengths: Record<string, number>;
}

/**
 * The values of a saved state as a base's lookup, without copying them (a state of 100 keys spent a tenth
 * of a save copying them into a Map). The caller keeps `extensions` unchanged: `ThreadSession` freezes the
 * export it saves, and `ThreadStateRepository.save` drops the base.
 */
export function valuesOf(extensions: Readonly<Record<string, JsonValue>>): ThreadBase['values'] {
  return { get: (key) => (Object.hasOwn(extensions, key) ? extensions[key] : undefined) };
}

/**
 * `replaced` with every patch turned back into the old value whole (from `base`): the form of a record
 * kept in a document of its own, which releases that knew no patches read too (they would undo a save
 * without its patched keys and answer a wrong state).
 */
export function wholeReplaced(replaced: ReplacedValues, base: ThreadBase): ReplacedValues {
  if (replaced.patches === undefined) return replaced;
  const before = { ...replaced.before };
  for (const key of Object.keys(replaced.patches)) setOwn(before, key, base.values.get(key) as JsonValue);
  return { before, created: replaced.created, lengths: replaced.lengths };
}

/** The id of a key's value document at a revision. */
export function valueId(threadId: string, key: string, rev: number): string {
  return part(threadId) + part(key) + revisionSuffix(rev);
}

/**
 * Plans a save of `extensions` over `base` at revision `rev`: unchanged keys (the same encoded object,
 * as `exportPersisted` reuses them, or an equal value) are not written; a list that only grew gets one
 * chunk of the new items; anything else is written whole, and the documents it replaces are deleted.
 */
export function planDelta(
  base: ThreadBase,
  extensions: Record<string, JsonValue>,
  versions: Record<string, number> | undefined,
  revision: number,
  rev: number,
): DeltaPlan {
  const keys: Record<string, KeyLocation> = {};
  const writes: ValueWrite[] = [];
  const changed: string[] = [];
  const appended: string[] = [];
  const previous = base.head?.keys ?? {};
  // Without a head the base's values are unknown (nothing to undo to): no record of replaced values.
  let replaced: ReplacedValues | undefined =
    base.head === undefined ? undefined : { before: {}, created: [], lengths: {} };
  // The record's JSON length, counted as it is built (encoding it whole to find out costs what the values
  // in it do): each entry's key, quotes and separators, and its value.
  let replacedChars = 48;
  // `value` undefined: the key was removed, its old value is kept whole.
  const keepOld = (key: string, old: JsonValue | undefined, value?: JsonValue) => {
    if (replaced === undefined) return;
    if (old === undefined) {
      replaced = undefined;
      return;
    }
    const oldChars = charsOf(old);
    // Past the history record's bound the record is kept whole (wholeReplaced): no patch is worth making.
    const sized =
      value === undefined || replacedChars > UNDO_IN_HISTORY_CHARS
        ? undefined
        : undoPatch(value, old, oldChars);
    replacedChars += key.length + 4 + (sized?.chars ?? oldChars);
    if (sized === undefined) {
      setOwn(replaced.before, key, old);
      return;
    }
    replaced.patches ??= {};
    setOwn(replaced.patches, key, sized.patch);
  };
  for (const key of Object.keys(extensions)) {
    const value = extensions[key] as JsonValue;
    const old = base.values.get(key);
    const location = Object.hasOwn(previous, key) ? previous[key] : undefined;
    if (location !== undefined && old !== undefined && (old === value || isDeepStrictEqual(old, value))) {
      setOwn(keys, key, location);
      continue;
    }
    if (location !== undefined && 'chunks' in location && Array.isArray(value) && Array.isArray(old)) {
      const grown = planList(key, location.chunks, old, value, rev);
      if (grown !== undefined) {
        setOwn(keys, key, { chunks: grown.chunks });
        writes.push(...grown.writes);
        appended.push(key);
        if (replaced !== undefined) setOwn(replaced.lengths, key, (old as JsonValue[]).length);
        replacedChars += key.length + 20;
        continue;
      }
    }
    // Written whole: inline when small, a list starts a new chunk series, anything else is one document.
    let next: KeyLocation;
    if (charsOf(value, INLINE_CHARS) <= INLINE_CHARS) next = { v: value };
    else if (Array.isArray(value)) next = { chunks: [{ rev, start: 0, length: value.length }] };
    else next = { rev: WHOLE };
    setOwn(keys, key, next);
    const kept = new Set(documentsOf(next));
    if (!('v' in next)) writes.push({ key, rev: 'rev' in next ? WHOLE : rev, value });
    changed.push(key);
    if (location === undefined) {
      replaced?.created.push(key);
      replacedChars += key.length + 3;
    } else keepOld(key, old, value);
    if (location !== undefined) {
      for (const stale of documentsOf(location)) if (!kept.has(stale)) writes.push({ key, rev: stale });
    }
  }
  for (const key of Object.keys(previous)) {
    if (Object.hasOwn(extensions, key)) continue;
    changed.push(key);
    keepOld(key, base.values.get(key));
    for (const stale of documentsOf(previous[key] as KeyLocation)) writes.push({ key, rev: stale });
  }
  const head: ThreadHead = { format: 'delta', revision, keys };
  if (versions !== undefined && Object.keys(versions).length > 0) head.versions = versions;
  return {
    head,
    writes,
    changed,
    appended,
    replaced,
    replacedChars: replaced === undefined ? 0 : replacedChars,
  };
}

// The items appended to `old`, as a chunk plan; undefined when `value` is not `old` plus items at its end.
function planList(
  key: string,
  chunks: Chunk[],
  old: JsonValue[],
  value: JsonValue[],
  rev: number,
): { chunks: Chunk[]; writes: ValueWrite[] } | undefined {
  if (value.length <= old.length) return undefined;
  // Item by item: the store's export reuses the encoded items of a list that only grew, so identity
  // settles almost every item; an equal item that is not the same object is compared deeply.
  for (let i = 0; i < old.length; i += 1)
    if (old[i] !== value[i] && !isDeepStrictEqual(old[i], value[i])) return undefined;
  const { chunks: next, merged } = appendChunk(chunks, old.length, value.length - old.length, rev);
  const writes: ValueWrite[] = merged.map((stale) => ({ key, rev: stale }));
  const tail = next[next.length - 1]!;
  writes.push({ key, rev, value: value.slice(tail.start, tail.start + tail.length) });
  return { chunks: next, writes };
}

/**
 * Adds the chunk `[start, start + length)` written at `rev` to a list's chunks. Binary counter: a chunk
 * at least as long as the one before it is merged into it, so lengths halve from the first chunk to the
 * last and there are at most log2(n) + 1 chunks. Returns the new chunks (the last one, at `rev`, is the
 * one to write: it holds every item from its `start`) and the revisions of chunks merged away (delete).
 */
export function appendChunk(
  chunks: readonly Chunk[],
  start: number,
  length: number,
  rev: number,
): { chunks: Chunk[]; merged: number[] } {
  const next = [...chunks, { rev, start, length }];
  const merged: number[] = [];
  while (next.length >= 2 && next[next.length - 1]!.length >= next[next.length - 2]!.length) {
    const last = next.pop()!;
    const before = next.pop()!;
    if (before.rev !== rev) merged.push(before.rev);
    if (last.rev !== rev) merged.push(last.rev);
    next.push({ rev, start: before.start, length: before.length + last.length });
  }
  return { chunks: next, merged };
}

/** The revisions of the value documents a location points to. */
export function documentsOf(location: KeyLocation): number[] {
  if ('v' in location) return [];
  return 'rev' in location ? [location.rev] : location.chunks.map((chunk) => chunk.rev);
}
