import { InvalidInputError } from '../errors.ts';

/**
 * A whole-number option (a cap, a timeout in ms): `value`, or `fallback` when absent; INVALID_INPUT naming
 * `field` unless it is a safe integer >= `min`.
 */
export function integerOption(
  value: number | undefined,
  fallback: number,
  field: string,
  min: number,
): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new InvalidInputError(`${field} must be an integer >= ${min}`, { field, value: n });
  }
  return n;
}
