/**
 * The stores behind `agentstate serve`: by default one SQLite file, `<data>/agentstate.db`, holding both
 * the documents and the rollouts (so one consistent file is all a backup needs); with `--postgres`, the
 * documents live in PostgreSQL.
 */
import { join } from 'node:path';
import { createPostgresStore, createSqliteStore, type DocumentStore } from '../drivers/index.ts';
import { type RolloutStore, SqliteRolloutStore } from '../rollouts/index.ts';

/** Default data directory. */
export const DEFAULT_DATA_DIR = './.agentstate';
/** The database file inside the data directory. */
export const DATABASE_FILE = 'agentstate.db';

/** Where `serve` keeps data. */
export interface StoreConfig {
  /** Data directory for SQLite. */
  data: string;
  /** PostgreSQL connection string, when given. */
  postgres?: string | undefined;
}

/** The opened stores and a description for the start-up line. */
export interface OpenedStores {
  documents: DocumentStore;
  rollouts: RolloutStore;
  description: string;
}

/** Path of the SQLite database in a data directory. */
export const databasePath = (data: string): string => join(data, DATABASE_FILE);

/** Opens the stores. */
export async function openStores(config: StoreConfig): Promise<OpenedStores> {
  const path = databasePath(config.data);
  const rollouts = new SqliteRolloutStore({ path });
  if (config.postgres) {
    const documents = createPostgresStore({ connectionString: config.postgres });
    return { documents, rollouts, description: `documents in PostgreSQL, rollouts in ${path}` };
  }
  const documents = createSqliteStore({ path });
  return { documents, rollouts, description: `SQLite ${path}` };
}
