import { InvalidInputError } from '../../errors.ts';

export { part, parts } from '../../drivers/shared/idParts.ts';

/**
 * A checkpoint id written so that ascending id order is descending checkpoint order: each UTF-16 unit
 * `c` becomes `0xFFFF - c`, and `\uFFFF` ends the id. Listing a thread's checkpoints in the drivers' id
 * order then yields the newest first, so "latest checkpoint" is a one-document page and `list` with a
 * `limit` reads only what it returns. The terminator is above every mapped unit (ids hold no NUL, which
 * would map to `\uFFFF`), so a longer id sorts before its own prefix, as it sorts after it when ascending.
 */
export function descendingId(id: string): string {
  let out = '';
  for (let i = 0; i < id.length; i += 1) out += String.fromCharCode(0xffff - id.charCodeAt(i));
  return `${out}\uffff`;
}

/** The checkpoint id back from `descendingId`. */
export function fromDescendingId(encoded: string): string {
  let out = '';
  for (let i = 0; i < encoded.length - 1; i += 1) out += String.fromCharCode(0xffff - encoded.charCodeAt(i));
  return out;
}

/**
 * Throws `INVALID_INPUT` unless `value` is a usable identifier: a string without NUL (no driver can
 * store it) and without a `../` or `..\` segment (ids are often reused in file names and URLs by the
 * application around the saver; refusing traversal here keeps a hostile thread id from reaching them).
 */
export function checkIdentifier(field: string, value: unknown, allowEmpty = false): string {
  if (typeof value !== 'string' || (!allowEmpty && value.length === 0)) {
    throw new InvalidInputError(`${field} must be a non-empty string, got ${describe(value)}`, {
      [field]: value,
    });
  }
  if (value.includes('\0')) {
    throw new InvalidInputError(`${field} must not contain NUL characters`, { [field]: value });
  }
  if (/(^|[/\\])\.\.([/\\]|$)/.test(value)) {
    throw new InvalidInputError(`${field} must not contain a '..' path segment`, { [field]: value });
  }
  if (value.length > 256) {
    throw new InvalidInputError(`${field} must be at most 256 characters`, { [field]: value.slice(0, 64) });
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'an empty string' : typeof value;
}
