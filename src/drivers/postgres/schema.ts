import type { Pool } from 'pg';
import { MIGRATION_LOCK_CLASS, quoteIdentifier, schemaLockKey } from '../../shared/postgres/identifiers.ts';
import { inTransaction } from '../../shared/postgres/transaction.ts';

/**
 * Schema migrations, in order; the position is the version. Never edit a shipped entry: append one.
 *
 * - `value` and `metadata` are TEXT, not jsonb: jsonb reorders keys and drops duplicate ones, and the
 *   codec's output (including `__proto__` keys) must come back byte for byte.
 * - The key is `id_key`, the id's UTF-16 code units as bytes (see ../shared/idKey.ts), so the primary key orders
 *   ids exactly as JavaScript compares strings; `id` keeps the readable text for people using psql.
 * - Times are epoch ms from the store's own clock (never the server's `now()`), so an injected clock
 *   drives TTLs in tests and in simulations.
 * - The partial index holds only documents with a TTL: the sweep reads the due ones in expiry order and
 *   its cost follows the number of expiring documents, not the table size.
 * - `listeners` lists the backends LISTENing through this driver (see statements.ts for why writes
 *   notify only while it is non-empty).
 */
function migrations(s: string): string[] {
  return [
    `CREATE TABLE ${s}.documents (
       namespace  TEXT   NOT NULL COLLATE "C",
       id_key     BYTEA  NOT NULL,
       id         TEXT   NOT NULL,
       value      TEXT   NOT NULL,
       revision   BIGINT NOT NULL CHECK (revision > 0),
       created_at BIGINT NOT NULL,
       updated_at BIGINT NOT NULL,
       metadata   TEXT,
       expires_at BIGINT,
       PRIMARY KEY (namespace, id_key)
     );
     CREATE INDEX documents_expires_at ON ${s}.documents (expires_at) WHERE expires_at IS NOT NULL;`,
    `CREATE TABLE ${s}.listeners (pid INT PRIMARY KEY, since BIGINT NOT NULL);`,
    // A compressed or encrypted value goes to value_bytes (value is then NULL); storage is JSON with
    // its size, SHA-256, compression and key id.
    `ALTER TABLE ${s}.documents ADD COLUMN value_bytes BYTEA, ADD COLUMN storage TEXT;
     ALTER TABLE ${s}.documents ALTER COLUMN value DROP NOT NULL;`,
  ];
}

/** Number of the newest migration this version of the driver knows. */
export const SCHEMA_VERSION = migrations('s').length;

/**
 * Creates the schema and applies missing migrations. Several processes may start at once: each takes a
 * transaction-scoped advisory lock keyed by the schema name first, so exactly one of them migrates and
 * the others find the work done. An up-to-date schema is detected without the lock or any DDL, so a
 * role without CREATE privilege can use a schema an administrator prepared.
 */
export async function migrate(pool: Pool, schema: string): Promise<void> {
  const s = quoteIdentifier(schema);
  if ((await currentVersion(pool, schema)) >= SCHEMA_VERSION) return;
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [MIGRATION_LOCK_CLASS, schemaLockKey(schema)]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version INT PRIMARY KEY, applied_at BIGINT NOT NULL)`,
    );
    const { rows } = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${s}.schema_migrations`,
    );
    const applied = rows[0]?.version ?? 0;
    const all = migrations(s);
    for (let version = applied + 1; version <= all.length; version++) {
      await client.query(all[version - 1]!);
      await client.query(`INSERT INTO ${s}.schema_migrations (version, applied_at) VALUES ($1, $2)`, [
        version,
        Date.now(),
      ]);
    }
  });
}

async function currentVersion(pool: Pool, schema: string): Promise<number> {
  const table = `${quoteIdentifier(schema)}.schema_migrations`;
  const { rows } = await pool.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [
    table,
  ]);
  if (!rows[0]?.exists) return 0;
  const result = await pool.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${table}`);
  return result.rows[0]?.version ?? 0;
}
