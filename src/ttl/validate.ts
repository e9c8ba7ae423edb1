import { InvalidInputError } from '../errors.ts';
import { MAX_TTL_MS } from '../shared/maxTtl.ts';

/** Throws `INVALID_INPUT` unless `key` is a string. */
export function checkKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string') {
    throw new InvalidInputError(`${what} must be a string, got ${describe(key)}`, { key: describe(key) });
  }
}

/** Throws `INVALID_INPUT` unless `ttlMs` is a number in (0, MAX_TTL_MS]; the error names the key. */
export function checkTtl(ttlMs: unknown, key: string): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !(ttlMs > 0 && ttlMs <= MAX_TTL_MS)) {
    throw new InvalidInputError(
      `ttlMs of '${key}' must be a number of ms greater than 0 and at most ${MAX_TTL_MS}, got ${describe(ttlMs)} (omit it for no expiry; use delete() to remove a key)`,
      { key, ttlMs: describe(ttlMs) },
    );
  }
}

/** Throws `INVALID_INPUT` unless `options` is omitted or an object (a bare ttl number would be ignored). */
export function checkTtlOptions(options: unknown, key: string): void {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidInputError(
      `options of '${key}' must be an object such as { ttlMs: 1000 }, got ${describe(options)}`,
      { key, options: describe(options) },
    );
  }
}

/** Throws `INVALID_INPUT` unless `by` is a finite number. */
export function checkStep(by: unknown, key: string): asserts by is number {
  if (typeof by !== 'number' || !Number.isFinite(by)) {
    throw new InvalidInputError(`increment of '${key}' needs a finite number, got ${describe(by)}`, {
      key,
      by: describe(by),
    });
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  return typeof value;
}

/** The `limit` of `scanKeys`, checked: a whole number >= 1. */
export function scanLimit(limit: unknown): number {
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidInputError('limit must be a whole number >= 1', { field: 'limit', value: limit });
  }
  return limit;
}
