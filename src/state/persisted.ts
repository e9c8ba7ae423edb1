import type { JsonValue } from '../codec/index.ts';
import { InvalidInputError } from '../errors.ts';

/**
 * The persisted form of a store (the seed's `PersistedState`): the revision and the codec-encoded values
 * of `persistent` keys by name. `versions` names the shape version of keys above version 1, so a later
 * release can migrate them; absent means version 1.
 */
export interface PersistedState {
  /** Store revision when exported. */
  revision: number;
  /** Encoded values by key name. */
  extensions: Record<string, JsonValue>;
  /** Shape versions of keys whose version is not 1. */
  versions?: Record<string, number>;
}

/** What `restore` did. */
export interface RestoreReport {
  /** The store's revision now (the persisted one). */
  revision: number;
  /** Keys whose value came from the persisted data. */
  restored: string[];
  /** Persistent keys absent from the data, reset to their initial value. */
  reset: string[];
  /** Keys in the data this store does not know: kept aside, exported again, adopted by a later `install`. */
  unknownKeys: string[];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Throws `INVALID_INPUT` unless `value` has the shape of a `PersistedState`. */
export function checkPersistedState(value: unknown): asserts value is PersistedState {
  if (!isPlainObject(value)) {
    throw new InvalidInputError('persisted state must be an object { revision, extensions }', {});
  }
  const { revision, extensions, versions } = value;
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
    throw new InvalidInputError(
      `persisted state revision must be a non-negative integer, got ${String(revision)}`,
      {
        revision,
      },
    );
  }
  if (!isPlainObject(extensions)) {
    throw new InvalidInputError('persisted state extensions must be an object of encoded values by key', {});
  }
  if (versions === undefined) return;
  if (!isPlainObject(versions)) {
    throw new InvalidInputError('persisted state versions must be an object of positive integers by key', {});
  }
  for (const key of Object.keys(versions)) {
    const version = versions[key];
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
      throw new InvalidInputError(`persisted version of state key '${key}' must be a positive integer`, {
        key,
        version,
      });
    }
  }
}
