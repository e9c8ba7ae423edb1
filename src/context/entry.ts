import { hash } from 'node:crypto';
import type { Codec } from '../codec/index.ts';
import { propertyPath } from '../codec/index.ts';
import { TAG } from '../codec/tags.ts';

/**
 * One key of a context in its stored form, kept from `set` until the key changes again. Encoding at
 * `set` validates the value there (a function or a cycle fails at the call that caused it, naming the
 * key) and means `save()` never re-encodes unchanged keys: it only joins cached bytes.
 */
export interface Entry {
  /** UTF-8 of `"key":<encoded value>`: the key's line in the file, without indentation. */
  readonly bytes: Buffer;
  /** Offset in `bytes` where the encoded value starts. */
  readonly valueStart: number;
  /** SHA-256 of `bytes`; the file checksum is computed over these, so save hashes only changed keys. */
  readonly digest: Buffer;
}

/** Encodes `value` for `key`, throwing `UnsupportedValueError` with the path `$.key...` if it cannot. */
export function encodeEntry(codec: Codec, key: string, value: unknown): Entry {
  return entryFromJson(key, JSON.stringify(codec.encode(value, propertyPath('$', key))));
}

/** Builds an entry from a key and its already encoded JSON text. */
export function entryFromJson(key: string, valueJson: string): Entry {
  const keyJson = JSON.stringify(key);
  const bytes = Buffer.from(`${keyJson}:${valueJson}`, 'utf8');
  return {
    bytes,
    valueStart: Buffer.byteLength(keyJson, 'utf8') + 1,
    // One-shot hash: no Hash object per entry.
    digest: hash('sha256', bytes, 'buffer'),
  };
}

const TAG_MARK = `"${TAG}"`;

/**
 * Whether encoded JSON text may hold a codec tag. Without one it is plain JSON: already the value, and
 * never malformed, so the codec walk can be skipped. (A `"$t"` inside a string is escaped as `\"$t\"`.)
 */
export function mayHoldTags(valueJson: string): boolean {
  return valueJson.includes(TAG_MARK);
}

/** Decodes an entry into a fresh value: every call returns a new copy the caller may mutate. */
export function decodeEntry(codec: Codec, key: string, entry: Entry): unknown {
  const text = entry.bytes.toString('utf8', entry.valueStart);
  const json: unknown = JSON.parse(text);
  // Skipping the codec walk for plain JSON halves the cost of `get`.
  return mayHoldTags(text) ? codec.decode(json, propertyPath('$', key)) : json;
}
