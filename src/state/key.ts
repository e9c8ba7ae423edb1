import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidInputError } from '../errors.ts';
import { checkSchema, describeIssues } from './schema.ts';

/** Lifetime of a key's value: `run` values are reset by `startRun()`, `thread` values survive runs. */
export type KeyScope = 'run' | 'thread';

/**
 * How parallel batches that touch the key are merged: `exclusive` keys may be written by one batch only
 * (two writers are a `ParallelMergeConflictError`); `commutative` ops are concatenated in batch order.
 */
export type MergeStrategy = 'exclusive' | 'commutative';

/** What `defineStateKey` takes; `V` (value) and `U` (update) are inferred from `initial` and `apply`. */
export interface StateKeyDefinition<V, U> {
  /** Unique name, used in persisted data and error details. */
  key: string;
  /** Default `run`. */
  scope?: KeyScope;
  /** Default `exclusive`. */
  merge?: MergeStrategy;
  /** Whether `exportPersisted()` includes the key. Default true. */
  persistent?: boolean;
  /** Whether the value survives `uninstall` of the plugin that installed it. Default false. */
  retainOnUninstall?: boolean;
  /** A fresh initial value; called on install, `startRun()` (run scope) and restore of absent data. */
  initial: () => V;
  /** Returns the new value; must not mutate `value` (stored values are frozen). */
  apply: (value: V, update: U) => V;
  /** Any Standard Schema validator (zod, valibot, arktype), checked on apply and restore. Must be synchronous. */
  schema?: StandardSchemaV1<unknown, V>;
  /** Version of the value's shape, a positive integer (default 1); persisted beside the value. */
  version?: number;
  /** Turns a value persisted at an older `fromVersion` into the current shape. Required when `version > 1`. */
  migrate?: (oldValue: unknown, fromVersion: number) => V;
}

/** A typed state key, as returned by `defineStateKey`. Identity matters: stores check it is the installed one. */
export interface StateKey<V, U = V> {
  /** Unique name. */
  readonly key: string;
  /** Lifetime across runs. */
  readonly scope: KeyScope;
  /** Parallel merge rule. */
  readonly merge: MergeStrategy;
  /** Included in `exportPersisted()`. */
  readonly persistent: boolean;
  /** Kept when its plugin is uninstalled. */
  readonly retainOnUninstall: boolean;
  /** Version of the value's shape. */
  readonly version: number;
  /** Validator checked on apply and restore, if any. */
  readonly schema: StandardSchemaV1<unknown, V> | undefined;
  /** A fresh initial value. */
  initial(): V;
  /** Applies one update, returning the new value. */
  apply(value: V, update: U): V;
  /** Migrates a value persisted at an older version; undefined for version-1 keys without one. */
  readonly migrate: ((oldValue: unknown, fromVersion: number) => V) | undefined;
}

/**
 * Any state key, whatever its types (for collections of keys). `apply` is declared as a method, so
 * `StateKey<number, number>` is assignable to it.
 */
export type AnyStateKey = StateKey<unknown, never>;

/** The value type of a key: `StateValue<typeof Counter>` is `number`. */
export type StateValue<K> = K extends StateKey<infer V, infer _U> ? V : never;

/** The update type of a key. */
export type StateUpdate<K> = K extends StateKey<infer _V, infer U> ? U : never;

const KEY_NAME = /^[^\s\0][^\0]{0,255}$/;

/**
 * Declares a typed state key. `Value` is inferred from `initial`, `Update` from `apply`'s second
 * parameter (default: the value type), so `store.get(Counter)` is typed without casts. The definition is
 * checked now: a bad name, a non-integer version, a missing `migrate`, an async schema or an initial value
 * the schema refuses are `INVALID_INPUT` errors here rather than on the first commit.
 */
export function defineStateKey<V, U = V>(definition: StateKeyDefinition<V, U>): StateKey<V, U> {
  const { key } = definition;
  if (typeof key !== 'string' || !KEY_NAME.test(key)) {
    throw new InvalidInputError(
      `state key name ${JSON.stringify(key)} is invalid: use 1-256 characters, not starting with a space, without NUL`,
      { key },
    );
  }
  const scope = definition.scope ?? 'run';
  const merge = definition.merge ?? 'exclusive';
  if (scope !== 'run' && scope !== 'thread') {
    throw new InvalidInputError(`state key '${key}': scope must be 'run' or 'thread'`, { key, scope });
  }
  if (merge !== 'exclusive' && merge !== 'commutative') {
    throw new InvalidInputError(`state key '${key}': merge must be 'exclusive' or 'commutative'`, {
      key,
      merge,
    });
  }
  if (typeof definition.initial !== 'function' || typeof definition.apply !== 'function') {
    throw new InvalidInputError(`state key '${key}' needs 'initial' and 'apply' functions`, { key });
  }
  const version = definition.version ?? 1;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new InvalidInputError(`state key '${key}': version must be a positive integer`, { key, version });
  }
  if (version > 1 && typeof definition.migrate !== 'function') {
    throw new InvalidInputError(
      `state key '${key}' is at version ${version} but has no migrate(oldValue, fromVersion); data persisted at older versions could not be read`,
      { key, version },
    );
  }
  const schema = definition.schema;
  if (schema !== undefined) {
    if (typeof schema?.['~standard']?.validate !== 'function') {
      throw new InvalidInputError(`state key '${key}': schema is not a Standard Schema validator`, { key });
    }
    const check = checkSchema(schema, definition.initial(), key);
    if (!check.ok) {
      throw new InvalidInputError(
        `state key '${key}': its initial value does not match its schema: ${describeIssues(check.issues)}`,
        { key, issues: check.issues },
      );
    }
  }
  return Object.freeze({
    key,
    scope,
    merge,
    persistent: definition.persistent ?? true,
    retainOnUninstall: definition.retainOnUninstall ?? false,
    version,
    schema,
    initial: definition.initial,
    apply: definition.apply,
    migrate: definition.migrate,
  });
}
