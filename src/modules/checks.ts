/** Small argument checks shared by the built-in modules and managers. */

import { MAX_ID_LENGTH } from '../drivers/index.ts';
import { InvalidInputError } from '../errors.ts';
import { storableTextProblem } from '../shared/storableText.ts';

/** Throws `INVALID_INPUT` unless `value` is a non-empty string. */
export function requireNonEmptyString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidInputError(
      `${name} must be a non-empty string, got ${JSON.stringify(value) ?? String(value)}`,
      {
        [name]: value,
      },
    );
  }
}

/** Throws `INVALID_INPUT` unless `value` is a finite number > 0 (a duration in ms, a bound). */
export function requirePositive(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidInputError(`${name} must be a finite number greater than 0, got ${String(value)}`, {
      [name]: value,
    });
  }
}

/** Whether `value` is a plain object: an object literal or `Object.create(null)`, not an array or instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Throws `INVALID_INPUT` unless `value` is a plain object (a message, a context entry). */
export function requirePlainObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (!isPlainObject(value)) {
    throw new InvalidInputError(`${name} must be a plain object`, { [name]: typeof value });
  }
}

/** A `validate` function accepting only the given values. */
export function oneOf<T extends string>(values: readonly T[]): (value: unknown) => true | string {
  return (value) => values.includes(value as T) || `must be one of ${values.join(', ')}`;
}

/** A `validate` function for counters and bounds: safe integers >= `min`. */
export function integerAtLeast(min: number): (value: unknown) => true | string {
  return (value) =>
    (Number.isSafeInteger(value) && (value as number) >= min) || `must be an integer >= ${min}`;
}

/** A `validate` function for epoch-ms timestamps that may be null. */
export function timestampOrNull(value: unknown): true | string {
  return (
    value === null || (typeof value === 'number' && Number.isFinite(value)) || 'must be epoch ms or null'
  );
}

/** A `validate` function for epoch-ms timestamps. */
export function timestamp(value: unknown): true | string {
  return (typeof value === 'number' && Number.isFinite(value)) || 'must be epoch ms';
}

/** A `validate` function for ids: non-empty strings. */
export function nonEmptyString(value: unknown): true | string {
  return (typeof value === 'string' && value.length > 0) || 'must be a non-empty string';
}

/** A `validate` function for strings that may be null. */
export function stringOrNull(value: unknown): true | string {
  return value === null || typeof value === 'string' || 'must be a string or null';
}

/**
 * Throws `INVALID_INPUT` unless `value` can be a document id (managers save each module under its id): a
 * non-empty string of at most MAX_ID_LENGTH code units without NUL. Checked when the module is created, so
 * an id no store accepts never joins the manager and makes every later `saveAll` fail.
 */
export function requireModuleId(value: unknown, name: string): asserts value is string {
  requireNonEmptyString(value, name);
  const problem = storableTextProblem(value, MAX_ID_LENGTH);
  if (problem !== undefined) {
    throw new InvalidInputError(`${name} ${problem}`, {
      field: name,
      [name]: value.length > 64 ? `${value.slice(0, 64)}...` : value,
    });
  }
}
