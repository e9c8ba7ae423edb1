/**
 * Ids are stored with a sort key: the id as UTF-16 big-endian bytes. SQLite compares BLOBs with memcmp,
 * and big-endian UTF-16 bytes compare exactly like JavaScript compares strings (by UTF-16 code unit).
 * Text columns would compare UTF-8 bytes (code point order), which differs for characters above U+FFFF,
 * and better-sqlite3 would replace a lone surrogate with U+FFFD, silently merging two distinct ids.
 */

/** The sort key of an id: its UTF-16 code units, big-endian. */
export function idKey(id: string): Buffer {
  const bytes = Buffer.from(id, 'utf16le');
  bytes.swap16();
  return bytes;
}

/** The id a sort key was made from (lone surrogates included). */
export function idFromKey(key: Uint8Array): string {
  const bytes = Buffer.from(key);
  bytes.swap16();
  return bytes.toString('utf16le');
}

/**
 * The smallest key greater than every key starting with `prefix`, or undefined when there is none
 * (prefix of only 0xFF bytes). Lets a prefix scan stop at the end of the prefix instead of the namespace.
 */
export function prefixUpperBound(prefix: Buffer): Buffer | undefined {
  const bound = Buffer.from(prefix);
  for (let i = bound.length - 1; i >= 0; i--) {
    if (bound[i]! < 0xff) {
      bound[i] = bound[i]! + 1;
      return bound.subarray(0, i + 1);
    }
  }
  return undefined;
}
