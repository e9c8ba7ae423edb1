import { hash } from 'node:crypto';
import type { Codec } from '../codec/index.ts';
import { propertyPath, TAG } from '../codec/index.ts';
import { UnsupportedValueError } from '../errors.ts';

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
  const path = propertyPath('$', key);
  const encoded = codec.encode(value, path);
  try {
    return entryFromJson(key, JSON.stringify(encoded));
  } catch (error) {
    // The runtime caps a string at about 2^29 UTF-16 units (~512 MB); a value whose JSON text is longer
    // cannot be written or read back, and the raw RangeError would not say which key it was.
    if (!(error instanceof RangeError)) throw error;
    throw new UnsupportedValueError(
      `cannot store the value at ${path}: its JSON text is longer than the largest string this runtime can build (${error.message}); store it elsewhere and keep a reference here`,
      { path, key },
      { cause: error },
    );
  }
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
