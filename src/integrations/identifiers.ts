import { InvalidInputError } from '../errors.ts';

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
