import { UnknownKeyError } from '../errors.ts';
import type { AnyStateKey } from './key.ts';

/** The error for a key that is not installed, or a different key object that reuses an installed name. */
export function unknownKey(key: { key: string }, known: ReadonlyMap<string, AnyStateKey>): UnknownKeyError {
  const name = typeof key?.key === 'string' ? key.key : String(key);
  if (known.has(name)) {
    return new UnknownKeyError(
      `state key '${name}' is installed, but from another defineStateKey call; use the installed key object`,
      { key: name },
    );
  }
  return new UnknownKeyError(
    `state key '${name}' is not installed in this store; pass it to new StateStore({ keys }) or install() it`,
    { key: name, installed: [...known.keys()] },
  );
}
