/**
 * The embedded SQLite file (documents and rollouts, as `agentstate serve` keeps them) as one backup source.
 *
 * Backup reads every section inside one read transaction on a connection of its own, so documents and
 * rollouts come from a single snapshot while writers go on (WAL). Documents are read through the
 * DocumentStore interface (./documentSource.ts), rollout tables with bounded keyset pages.
 *
 * Restore never writes the live file: it copies it with SQLite's online backup API to a side file,
 * applies the sections there (documents as exact rows and every table in one transaction, streamed through
 * bounded multi-row INSERTs, see ./sqlDocuments.ts), closes it, and renames
 * it over the original. A crash or `kill -9` at any moment leaves either the old file or the new one. The
 * database must not be open elsewhere during a restore (stop the server); a process that had it open keeps
 * reading the old file until it reopens it.
 */
import { existsSync, statSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { type Codec, codec as defaultCodec, type JsonValue } from '../../codec/index.ts';
import { createSqliteStore, type DocumentStore, type DriverOptions } from '../../drivers/index.ts';
import { AgentStateError } from '../../errors.ts';
import { SqliteRolloutStore } from '../../rollouts/index.ts';
import { loadPackage } from '../../shared/optionalPackage.ts';
import { sqliteRunner } from '../sql.ts';
import { documentStoreSource } from './documentSource.ts';
import { portableRow, ROLLOUT_TABLES, rolloutTable } from './rolloutTables.ts';
import type { BackupReadSession, BackupSource, SectionRef } from './source.ts';
import { emptyRestoreResult } from './source.ts';
import { restoreSqlDocuments, storageSettings } from './sqlDocuments.ts';
import { restoreTables } from './tableRestore.ts';

// better-sqlite3 is loaded when a SQLite backup runs, not when agentstate is imported (a native module).
const sqlite = (): typeof Database => loadPackage<typeof Database>('better-sqlite3', 'sqliteSource');

/** Options of `sqliteSource`. */
export interface SqliteSourceOptions {
  /** The database file. */
  path: string;
  /** Table of the documents (default `agentstate_documents`). */
  documentsTable?: string;
  /** Source name in the backup (default `sqlite`). */
  name?: string;
  /** Codec of the documents (default: the package codec). */
  codec?: Codec;
  /** How the documents are stored (compression, checksums, encryption keys): as the store is opened with. */
  storage?: Pick<DriverOptions, 'compression' | 'compressAboveBytes' | 'verifyChecksums' | 'encryption'>;
}

/** Rows per page when reading a table. */
const PAGE = 1000;
/** Documents are never swept while a backup or restore has the file open: the sweep would write. */
const NO_SWEEP = 2 ** 31 - 1;

function tableNames(db: Database.Database): Set<string> {
  const rows = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{
    name: string;
  }>;
  return new Set(rows.map((r) => r.name));
}

function documentsOn(db: Database.Database, options: SqliteSourceOptions): DocumentStore {
  return createSqliteStore({
    ...options.storage,
    database: db,
    sweepIntervalMs: NO_SWEEP,
    ...(options.documentsTable ? { table: options.documentsTable } : {}),
    ...(options.codec ? { codec: options.codec } : {}),
  });
}

/** The SQLite file as a `BackupSource` (see the module comment for the restore swap). */
export function sqliteSource(options: SqliteSourceOptions): BackupSource {
  const { path } = options;
  const documentsTable = options.documentsTable ?? 'agentstate_documents';
  const name = options.name ?? 'sqlite';
  return {
    name,
    backend: 'sqlite',
    holds: ['documents', 'rollouts'],

    async openRead(): Promise<BackupReadSession> {
      const db = new (sqlite())(path, { fileMustExist: true });
      const tables = tableNames(db);
      const documents = tables.has(documentsTable) ? documentsOn(db, options) : undefined;
      // One read transaction for every section: the first read fixes the snapshot.
      db.exec('BEGIN');
      const docs = documents
        ? documentStoreSource({
            store: documents,
            namespaces: async () =>
              (
                db.prepare(`SELECT DISTINCT namespace FROM ${documentsTable}`).all() as Array<{
                  namespace: string;
                }>
              ).map((r) => r.namespace),
            ...(options.codec ? { codec: options.codec } : {}),
          })
        : undefined;
      const docSession = docs ? await docs.openRead() : undefined;
      return {
        async sections() {
          const refs: SectionRef[] = docSession ? await docSession.sections() : [];
          for (const table of ROLLOUT_TABLES)
            if (tables.has(table.name)) refs.push({ kind: 'table', collection: table.name });
          return refs;
        },
        async *records(section) {
          if (section.kind === 'documents') {
            if (docSession) yield* docSession.records(section);
            return;
          }
          const table = rolloutTable(section.collection)!;
          const columns = table.columns.map(([c]) => c).join(', ');
          const page = db.prepare(
            `SELECT rowid AS _rowid, ${columns} FROM ${table.name} WHERE rowid > ? ORDER BY rowid LIMIT ${PAGE}`,
          );
          let after = 0;
          for (;;) {
            const rows = page.all(after) as Array<Record<string, unknown>>;
            for (const row of rows) yield portableRow(table, row) as JsonValue;
            if (rows.length < PAGE) return;
            after = Number(rows[rows.length - 1]!._rowid);
          }
        },
        async close() {
          if (db.inTransaction) db.exec('COMMIT');
          await documents?.close();
          db.close();
        },
      };
    },

    async restore(plan) {
      const side = `${dirname(path)}/.${basename(path)}.restoring-${process.pid}`;
      const clear = async () => {
        for (const suffix of ['', '-wal', '-shm', '-journal']) await rm(`${side}${suffix}`, { force: true });
      };
      await clear();
      if (existsSync(path)) {
        const source = new (sqlite())(path, { fileMustExist: true });
        try {
          await source.backup(side);
        } finally {
          source.close();
        }
      }
      const result = emptyRestoreResult();
      try {
        // Creates the rollout schema (and its version row) on the side file when the original had none.
        await new SqliteRolloutStore({ path: side }).close();
        const db = new (sqlite())(side);
        try {
          // Creates the documents table when missing (and validates the storage options as the store does).
          await documentsOn(db, options).close();
          // Documents (exact rows) and rollout tables in one transaction on the side file.
          db.exec('BEGIN IMMEDIATE');
          try {
            await restoreSqlDocuments(
              {
                sql: sqliteRunner(db),
                dialect: 'sqlite',
                table: documentsTable,
                settings: storageSettings(options.storage),
                codec: options.codec ?? defaultCodec,
                now: Date.now(),
                where: `SQLite table ${documentsTable}`,
              },
              plan,
              plan.sections.filter((s) => s.kind === 'documents'),
              result,
            );
            const tableSections = plan.sections.filter((s) => s.kind === 'table');
            if (tableSections.length > 0)
              await restoreTables(sqliteRunner(db), { ...plan, sections: tableSections }, result);
            db.exec('COMMIT');
          } catch (error) {
            db.exec('ROLLBACK');
            throw error;
          }
          // Folds the WAL into the file so the side file is complete on its own before the swap.
          db.pragma('wal_checkpoint(TRUNCATE)');
          db.pragma('journal_mode = DELETE');
        } finally {
          db.close();
        }
        const handle = await open(side, 'r');
        await handle.sync();
        await handle.close();
        // A WAL beside the original would be replayed into the new file: someone still has it open.
        if (existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0) {
          throw new AgentStateError(
            'FORBIDDEN',
            `${path} is open in another process (it has a WAL); stop it and restore again`,
            {
              backup: plan.backup,
              path,
            },
          );
        }
        await rm(`${path}-shm`, { force: true });
        await rm(`${path}-wal`, { force: true });
        await rename(side, path);
        const dir = await open(dirname(path), 'r');
        // Some platforms cannot fsync a directory (Windows: EPERM/EISDIR); the restored file itself is synced.
        await dir.sync().catch(() => {});
        await dir.close();
        return result;
      } finally {
        await clear();
      }
    },
  };
}
