/**
 * Ids are keyed by their UTF-16 code units, big-endian, in a BYTEA column. PostgreSQL compares BYTEA
 * byte by byte, and big-endian UTF-16 bytes order exactly as JavaScript compares strings; a TEXT key
 * (even with the "C" collation) orders by code point instead, which differs for characters above U+FFFF,
 * and could not hold a lone surrogate at all (it would become U+FFFD, merging two distinct ids).
 * The same scheme as the SQLite driver, so both list in the same order and accept the same ids.
 */

/** The key of an id: its UTF-16 code units, big-endian. */
export function idKey(id: string): Buffer {
  return Buffer.from(id, 'utf16le').swap16();
}

/** The id a key was made from, lone surrogates included. */
export function idFromKey(key: Uint8Array): string {
  return Buffer.from(key).swap16().toString('utf16le');
}

/** The smallest key above every key that starts with `prefix`; undefined when there is none (all 0xFF). */
export function keyUpperBound(prefix: Buffer): Buffer | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const bound = Buffer.from(prefix.subarray(0, i + 1));
      bound[i] = bound[i]! + 1;
      return bound;
    }
  }
  return undefined;
}
