import type { Database } from 'better-sqlite3';
import { InvalidInputError } from '../../errors.ts';

/** Durability of a commit: see `SqliteStoreOptions.synchronous`. */
export type SqliteSynchronous = 'NORMAL' | 'FULL';

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Throws `INVALID_INPUT` unless `table` is a plain SQL identifier (it is spliced into statements). */
export function checkTableName(table: string): void {
  if (!TABLE_NAME.test(table)) {
    throw new InvalidInputError(
      `invalid SQLite table name ${JSON.stringify(table)}: use letters, digits and '_' (at most 63)`,
      { table },
    );
  }
}

/**
 * Connection settings. WAL lets readers run beside the one writer and makes a commit a single append to
 * the WAL file; busy_timeout makes a second process wait for the write lock instead of failing at once.
 */
export function configureConnection(
  db: Database,
  synchronous: SqliteSynchronous,
  busyTimeoutMs: number,
): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  if (!db.memory && !db.readonly) db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
}

/**
 * One table for every namespace. `id_key` (UTF-16BE bytes, see ../shared/idKey.ts) is the ordered key; `id` keeps
 * the readable text for people inspecting the file. The partial index on `expires_at` holds only
 * documents with a TTL, so the sweep reads the due ones instead of scanning the table (the seeds scan
 * every key on each sweep).
 */
export function createSchema(db: Database, table: string): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS ${table} (
      namespace TEXT NOT NULL,
      id_key BLOB NOT NULL,
      id TEXT NOT NULL,
      value TEXT NOT NULL,
      revision INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      metadata TEXT,
      expires_at INTEGER,
      PRIMARY KEY (namespace, id_key)
    );
    CREATE INDEX IF NOT EXISTS ${table}_expires_at ON ${table} (expires_at) WHERE expires_at IS NOT NULL;
  `);
  addStorageColumn(db, table);
}

/**
 * `storage` (JSON: size, SHA-256, compression, key id) came after the first release: added to older
 * tables in place. A compressed or encrypted value is stored as a BLOB in `value` (TEXT affinity keeps
 * BLOBs as they are); a plain one stays readable TEXT.
 */
function addStorageColumn(db: Database, table: string): void {
  const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`).all();
  if (columns.some((c) => c.name === 'storage')) return;
  try {
    db.exec(`ALTER TABLE ${table} ADD COLUMN storage TEXT`);
  } catch (error) {
    // Another process added it between the check and the ALTER.
    if (!/duplicate column/i.test((error as Error).message)) throw error;
  }
}

/** The rows due for the sweep (parameters: now, limit); answered from the partial `expires_at` index. */
export function dueRowsSql(table: string): string {
  return `SELECT rowid FROM ${table} WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?`;
}
