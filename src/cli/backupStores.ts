/**
 * The stores `agentstate backup` and `agentstate check` work on: the SQLite file of the data directory,
 * or with `--postgres` the PostgreSQL schema, exactly as `agentstate serve` keeps them.
 */

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createPostgresStore, createSqliteStore, type DocumentStore } from '../drivers/index.ts';
import { NotFoundError } from '../errors.ts';
import {
  type BackupSource,
  postgresRunner,
  postgresSource,
  type SqlRunner,
  sqliteRunner,
  sqliteSource,
} from '../operations/index.ts';
import { PostgresRolloutStore, type RolloutStore, SqliteRolloutStore } from '../rollouts/index.ts';
import { databasePath } from './stores.ts';

/** Where the data is. */
export interface DataLocation {
  data: string;
  postgres?: string | undefined;
  postgresSchema?: string | undefined;
}

/** Default directory of backup files: `<data>/backups`. */
export const backupDir = (location: DataLocation, dir: string | undefined): string =>
  resolve(dir ?? join(location.data, 'backups'));

/** The backup source for the data, and how to release it. */
export function openBackupSource(location: DataLocation): { source: BackupSource; close(): Promise<void> } {
  if (location.postgres) {
    const pool = new pg.Pool({ connectionString: location.postgres, max: 4 });
    return {
      source: postgresSource({
        pool,
        ...(location.postgresSchema ? { schema: location.postgresSchema } : {}),
      }),
      close: () => pool.end(),
    };
  }
  return { source: sqliteSource({ path: databasePath(resolve(location.data)) }), close: async () => {} };
}

/** The stores and raw SQL access a consistency check needs. */
export interface CheckStores {
  documents: DocumentStore;
  rollouts: RolloutStore;
  sql: SqlRunner;
  documentsTable: string;
  close(): Promise<void>;
}

/** Opens the data for `agentstate check`. */
export function openCheckStores(location: DataLocation): CheckStores {
  if (location.postgres) {
    const pool = new pg.Pool({ connectionString: location.postgres, max: 4 });
    const schema = location.postgresSchema ?? 'agentstate';
    const documents = createPostgresStore({ pool, schema });
    const rollouts = new PostgresRolloutStore({ pool, schema });
    return {
      documents,
      rollouts,
      sql: postgresRunner(pool, schema),
      documentsTable: 'documents',
      async close() {
        await documents.close();
        await rollouts.close();
        await pool.end();
      },
    };
  }
  const path = databasePath(resolve(location.data));
  if (!existsSync(path)) throw new NotFoundError(`no database at ${path}; check --data`, { path });
  const documents = createSqliteStore({ path });
  const rollouts = new SqliteRolloutStore({ path });
  const db = new Database(path);
  return {
    documents,
    rollouts,
    sql: sqliteRunner(db),
    documentsTable: 'agentstate_documents',
    async close() {
      await documents.close();
      await rollouts.close();
      db.close();
    },
  };
}
