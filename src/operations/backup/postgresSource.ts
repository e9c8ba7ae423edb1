/**
 * A PostgreSQL schema (documents and rollouts, as `agentstate serve --postgres` keeps them) as one source.
 *
 * A backup reads documents and every rollout table on ONE connection inside one REPEATABLE READ, READ ONLY
 * transaction, through server-side cursors (a bounded number of rows in memory): the backup is one
 * consistent point in time. A restore applies documents and every rollout table in ONE transaction,
 * streaming the backup's records into bounded multi-row INSERTs; a crash anywhere leaves the old state.
 */
import type pg from 'pg';
import { type Codec, codec as defaultCodec, type JsonValue } from '../../codec/index.ts';
import {
  createPostgresStore,
  type DocumentStore,
  type DriverOptions,
  migratePostgresDocuments,
} from '../../drivers/index.ts';
import { PostgresRolloutStore } from '../../rollouts/index.ts';
import { checkSchemaName, quoteIdentifier } from '../../shared/postgres/identifiers.ts';
import { inTransaction } from '../../shared/postgres/transaction.ts';
import { postgresRunner } from '../sql.ts';
import { portableRow, ROLLOUT_TABLES, rolloutTable } from './rolloutTables.ts';
import type { BackupReadSession, BackupSource, SectionRef } from './source.ts';
import { emptyRestoreResult } from './source.ts';
import {
  documentRecordOfRow,
  restoreSqlDocuments,
  SQL_DOCUMENT_COLUMNS,
  type SqlDocumentRow,
  storageSettings,
} from './sqlDocuments.ts';
import { restoreTables } from './tableRestore.ts';

/** Options of `postgresSource`. */
export interface PostgresSourceOptions {
  /** A pool you own (not ended by the source). */
  pool: pg.Pool;
  /** Schema of the tables (default `agentstate`). */
  schema?: string;
  /** Source name in the backup (default `postgres`). */
  name?: string;
  /** Codec of the documents (default: the package codec). */
  codec?: Codec;
  /** How the documents are stored (compression, checksums, encryption keys): as the store is opened with. */
  storage?: Pick<DriverOptions, 'compression' | 'compressAboveBytes' | 'verifyChecksums' | 'encryption'>;
}

/** Rows fetched per cursor round trip. */
const FETCH = 1000;

/** The PostgreSQL schema as a `BackupSource`. */
export function postgresSource(options: PostgresSourceOptions): BackupSource {
  const schema = options.schema ?? 'agentstate';
  checkSchemaName(schema);
  const s = quoteIdentifier(schema);
  const { pool } = options;
  const openDocuments = (): DocumentStore =>
    createPostgresStore({
      ...options.storage,
      pool,
      schema,
      sweepIntervalMs: 2 ** 31 - 1,
      ...(options.codec ? { codec: options.codec } : {}),
    });
  const existing = async (client: pg.PoolClient | pg.Pool) => {
    const { rows } = await client.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    );
    return new Set(rows.map((r) => r.table_name));
  };
  const where = `schema ${schema}`;
  const settings = storageSettings(options.storage);
  const codec = options.codec ?? defaultCodec;
  return {
    name: options.name ?? 'postgres',
    backend: 'postgres',
    holds: ['documents', 'rollouts'],

    async openRead(): Promise<BackupReadSession> {
      // Validates the storage options exactly as the store would (an unknown compression is refused).
      await openDocuments().close();
      const client = await pool.connect();
      try {
        // One snapshot for documents and every rollout table, all read on this connection.
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const tables = await existing(client);
        return {
          async sections() {
            const refs: SectionRef[] = [];
            if (tables.has('documents')) {
              const { rows } = await client.query<{ namespace: string }>(
                `SELECT DISTINCT namespace FROM ${s}.documents ORDER BY namespace`,
              );
              for (const r of rows) refs.push({ kind: 'documents', collection: r.namespace });
            }
            for (const table of ROLLOUT_TABLES)
              if (tables.has(table.name)) refs.push({ kind: 'table', collection: table.name });
            return refs;
          },
          async *records(section) {
            if (section.kind === 'documents') {
              // Documents whose TTL ran out are not live (the driver's reads skip them too).
              const query = `SELECT ${SQL_DOCUMENT_COLUMNS.postgres} FROM ${s}.documents WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id_key`;
              for await (const row of cursorRows(client, query, [section.collection, Date.now()]))
                yield documentRecordOfRow(
                  row as unknown as SqlDocumentRow,
                  section.collection,
                  where,
                  settings,
                  codec,
                ) as unknown as JsonValue;
              return;
            }
            const table = rolloutTable(section.collection)!;
            const select = table.columns
              .map(([c, type]) => (type === 'json' ? `${c}::text AS ${c}` : c))
              .join(', ');
            const query = `SELECT ${select} FROM ${s}.${table.name} ORDER BY ${table.order}`;
            for await (const row of cursorRows(client, query, [])) yield portableRow(table, row) as JsonValue;
          },
          async close() {
            // Ends a read-only snapshot: nothing to commit, so a failure here loses nothing (the
            // connection is released either way).
            await client.query('COMMIT').catch(() => {});
            client.release();
          },
        };
      } catch (error) {
        client.release();
        throw error;
      }
    },

    async restore(plan) {
      const result = emptyRestoreResult();
      // Creates both schemas when the target has none yet, before the restore's transaction.
      await openDocuments().close();
      await migratePostgresDocuments(pool, schema);
      const rollouts = new PostgresRolloutStore({ pool, schema });
      await rollouts.statistics();
      await rollouts.close();
      // Documents and every rollout table in ONE transaction: a crash anywhere leaves the old state.
      await inTransaction(pool, async (client) => {
        const sql = postgresRunner(client, schema);
        const docSections = plan.sections.filter((x) => x.kind === 'documents');
        await restoreSqlDocuments(
          { sql, dialect: 'postgres', table: 'documents', settings, codec, now: Date.now(), where },
          plan,
          docSections,
          result,
        );
        const tableSections = plan.sections.filter((x) => x.kind === 'table');
        if (tableSections.length > 0) {
          await restoreTables(sql, { ...plan, sections: tableSections }, result);
          // New resource writes must order after the restored ones.
          await client.query(
            `SELECT setval('${s.replace(/'/g, "''")}.agl_resources_write_seq', GREATEST((SELECT MAX(write_seq) FROM ${s}.agl_resources), 1))`,
          );
        }
      });
      return result;
    },
  };
}

/** The rows of a query through a server-side cursor, `FETCH` rows at a time, on the caller's transaction. */
async function* cursorRows(
  client: pg.PoolClient,
  query: string,
  params: unknown[],
): AsyncIterable<Record<string, unknown>> {
  await client.query(`DECLARE backup_cursor NO SCROLL CURSOR FOR ${query}`, params);
  try {
    for (;;) {
      const { rows } = await client.query(`FETCH ${FETCH} FROM backup_cursor`);
      yield* rows;
      if (rows.length < FETCH) break;
    }
  } finally {
    await client.query('CLOSE backup_cursor');
  }
}
