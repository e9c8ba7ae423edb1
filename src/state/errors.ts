import { UnknownKeyError } from '../errors.ts';
import type { AnyStateKey } from './key.ts';

/**
 * Whether `key` is the key object installed under its name. A missing key (`undefined`) must not match
 * the `undefined` a map returns for an absent name.
 */
export function isInstalled(known: ReadonlyMap<string, AnyStateKey>, key: unknown): boolean {
  const name = (key as { key?: unknown } | null | undefined)?.key;
  return typeof name === 'string' && known.get(name) === key;
}

/** The error for a key that is not installed, or a different key object that reuses an installed name. */
export function unknownKey(key: { key: string }, known: ReadonlyMap<string, AnyStateKey>): UnknownKeyError {
  if (typeof key?.key !== 'string') {
    return new UnknownKeyError(
      `expected a state key made by defineStateKey, got ${String(key)}; check the key's import`,
      { key: String(key) },
    );
  }
  const name = key.key;
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
