import type { Codec, JsonValue } from '../codec/index.ts';
import { AgentStateError, CorruptStateError, errorMessage, InvalidInputError } from '../errors.ts';
import { deepFreeze } from './freeze.ts';
import type { AnyStateKey } from './key.ts';
import { checkSchema, describeIssues } from './schema.ts';

// How a key's value gets into the store: applied, initial or restored. Each path validates with the key's
// schema and freezes the result, and each names the key in its error.

/** Validates (when the key has a schema) and freezes a value; `fail` builds the error for a refusal. */
function accept(
  def: AnyStateKey,
  value: unknown,
  freeze: boolean,
  fail: (issues: string, details: Record<string, unknown>) => AgentStateError,
): unknown {
  if (def.schema) {
    const check = checkSchema(def.schema, value, def.key);
    if (!check.ok) throw fail(describeIssues(check.issues), { key: def.key, issues: check.issues });
    // A schema may normalise (strip unknown fields, coerce); the store keeps what it returns.
    value = check.value;
  }
  if (freeze) deepFreeze(value);
  return value;
}

/** `def.apply(current, update)`, validated and frozen. An `apply` that throws is reported with the key. */
export function applyUpdate(
  def: AnyStateKey,
  current: unknown,
  update: unknown,
  freeze: boolean,
  opIndex: number,
): unknown {
  let next: unknown;
  try {
    next = (def.apply as (value: unknown, update: unknown) => unknown)(current, update);
  } catch (error) {
    if (error instanceof AgentStateError) throw error;
    const hint =
      error instanceof TypeError ? ' (state values are frozen: return a new value instead of mutating)' : '';
    throw new InvalidInputError(
      `apply of state key '${def.key}' threw at op ${opIndex}: ${errorMessage(error)}${hint}`,
      { key: def.key, opIndex },
      { cause: error },
    );
  }
  return accept(def, next, freeze, (issues, details) => {
    return new InvalidInputError(
      `update of state key '${def.key}' gives a value its schema refuses: ${issues}`,
      {
        ...details,
        opIndex,
      },
    );
  });
}

/** A fresh `def.initial()`, validated and frozen. */
export function initialValue(def: AnyStateKey, freeze: boolean): unknown {
  return accept(def, def.initial(), freeze, (issues, details) => {
    return new InvalidInputError(
      `initial value of state key '${def.key}' does not match its schema: ${issues}`,
      details,
    );
  });
}

/** Decodes, migrates, validates and freezes one persisted value. Every failure is `CORRUPT_STATE` naming the key. */
export function restoredValue(
  def: AnyStateKey,
  encoded: JsonValue,
  fromVersion: number,
  codec: Codec,
  freeze: boolean,
): unknown {
  const path = `$.extensions[${JSON.stringify(def.key)}]`;
  let value: unknown;
  try {
    value = codec.decode(encoded, path);
  } catch (error) {
    throw new CorruptStateError(
      `persisted value of state key '${def.key}' cannot be decoded: ${errorMessage(error)}`,
      { key: def.key, path, ...(error instanceof AgentStateError && { reason: error.code }) },
      { cause: error },
    );
  }
  if (fromVersion > def.version) {
    throw new CorruptStateError(
      `persisted value of state key '${def.key}' is at version ${fromVersion}, newer than this key's version ${def.version}; upgrade the code that defines the key`,
      { key: def.key, persistedVersion: fromVersion, version: def.version },
    );
  }
  if (fromVersion < def.version) {
    try {
      value = def.migrate!(value, fromVersion);
    } catch (error) {
      throw new CorruptStateError(
        `migration of state key '${def.key}' from version ${fromVersion} to ${def.version} failed: ${errorMessage(error)}`,
        { key: def.key, persistedVersion: fromVersion, version: def.version },
        { cause: error },
      );
    }
  }
  return accept(def, value, freeze, (issues, details) => {
    return new CorruptStateError(
      `persisted value of state key '${def.key}' does not match its schema: ${issues}`,
      {
        ...details,
        path,
      },
    );
  });
}
