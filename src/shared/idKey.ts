/**
 * Ordered keys for document ids: the id's UTF-16 code units, big-endian. SQLite (BLOB, memcmp) and
 * PostgreSQL (BYTEA) compare such bytes exactly as JavaScript compares strings (by UTF-16 code unit). A text
 * key would order by code point instead, which differs for characters above U+FFFF, and the drivers would
 * replace a lone surrogate with U+FFFD, silently merging two distinct ids. Both SQL drivers use this one
 * scheme, so they list in the same order and accept the same ids.
 */

/** The key of an id: its UTF-16 code units, big-endian. */
export function idKey(id: string): Buffer {
  return Buffer.from(id, 'utf16le').swap16();
}

/** The id a key was made from, lone surrogates included. */
export function idFromKey(key: Uint8Array): string {
  return Buffer.from(key).swap16().toString('utf16le');
}

/**
 * The smallest key above every key that starts with `prefix`; undefined when there is none (all 0xFF).
 * Lets a prefix scan stop at the end of the prefix instead of the end of the namespace.
 */
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
