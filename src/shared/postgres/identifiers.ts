import { createHash } from 'node:crypto';
import { sha256 } from '../../codec/index.ts';
import { InvalidInputError } from '../../errors.ts';

/** PostgreSQL truncates identifiers (schema, channel names) to this many bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63;

// A deliberately small alphabet: the schema name is interpolated into SQL (quoted), used in a channel
// name and shown in logs, so nothing that needs escaping or case folding is accepted.
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Throws `INVALID_INPUT` unless `schema` is a plain identifier of at most 63 bytes, not reserved (`pg_`). */
export function checkSchemaName(schema: unknown): asserts schema is string {
  if (
    typeof schema !== 'string' ||
    schema.length > MAX_IDENTIFIER_BYTES ||
    !SCHEMA_NAME.test(schema) ||
    schema.toLowerCase().startsWith('pg_')
  ) {
    throw new InvalidInputError(
      `invalid PostgreSQL schema name ${JSON.stringify(schema)}: use 1-${MAX_IDENTIFIER_BYTES} letters, digits or '_', not starting with a digit or 'pg_'`,
      { schema },
    );
  }
}

/** Quotes an identifier for SQL text (`"a""b"`), so even a validated name is never parsed as SQL. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The LISTEN/NOTIFY channel of a schema (`prefix` tells the stores of one schema apart). Channels are per database, so the schema name keeps stores
 * apart; a name that would pass 63 bytes gets a hash suffix instead of being cut (PostgreSQL would
 * silently truncate it and two long schema names could then share a channel).
 */
export function channelFor(schema: string, prefix = 'agentstate_'): string {
  const channel = `${prefix}${schema}`;
  if (Buffer.byteLength(channel) <= MAX_IDENTIFIER_BYTES) return channel;
  const hash = sha256(schema).slice(0, 16);
  return `${channel.slice(0, MAX_IDENTIFIER_BYTES - hash.length - 1)}_${hash}`;
}

/**
 * A 32-bit advisory-lock key derived from a schema name: the second key of the lock that serialises
 * migrations of one schema (first key: `MIGRATION_LOCK_CLASS`), and the rollout store's sweep lock.
 */
export function schemaLockKey(schema: string): number {
  return createHash('sha256').update(schema).digest().readInt32BE(0);
}

/** First key of the migration advisory lock: ASCII "agst", so it does not collide with other apps' locks. */
export const MIGRATION_LOCK_CLASS = 0x61677374;
