/**
 * A PostgreSQL schema (documents and rollouts, as `agentstate serve --postgres` keeps them) as one source.
 *
 * Rollout tables are read inside one REPEATABLE READ transaction through server-side cursors (a bounded
 * number of rows in memory, one snapshot for every table); documents through the DocumentStore interface.
 * Restore applies the documents in one transaction (the driver's batch) and all rollout tables in one
 * more, so each is all or nothing; a failure between the two leaves the documents restored and the
 * rollouts as they were, and running the restore again completes it.
 */
import type pg from 'pg';
import type { Codec, JsonValue } from '../../codec/index.ts';
import { createPostgresStore, type DocumentStore, type DriverOptions } from '../../drivers/index.ts';
import { checkSchemaName, quoteIdentifier } from '../../drivers/postgres/identifiers.ts';
import { PostgresRolloutStore } from '../../rollouts/index.ts';
import { postgresRunner } from '../sql.ts';
import { documentStoreSource } from './documentSource.ts';
import { portableRow, ROLLOUT_TABLES, rolloutTable } from './rolloutTables.ts';
import type { BackupReadSession, BackupSource, SectionRef } from './source.ts';
import { emptyRestoreResult } from './source.ts';
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
  return {
    name: options.name ?? 'postgres',
    backend: 'postgres',
    holds: ['documents', 'rollouts'],

    async openRead(): Promise<BackupReadSession> {
      const client = await pool.connect();
      const documents = openDocuments();
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const tables = await existing(client);
        const docs = documentStoreSource({
          store: documents,
          namespaces: async () =>
            tables.has('documents')
              ? (
                  await client.query<{ namespace: string }>(`SELECT DISTINCT namespace FROM ${s}.documents`)
                ).rows.map((r) => r.namespace)
              : [],
          ...(options.codec ? { codec: options.codec } : {}),
        });
        const docSession = await docs.openRead();
        return {
          async sections() {
            const refs: SectionRef[] = await docSession.sections();
            for (const table of ROLLOUT_TABLES)
              if (tables.has(table.name)) refs.push({ kind: 'table', collection: table.name });
            return refs;
          },
          async *records(section) {
            if (section.kind === 'documents') {
              yield* docSession.records(section);
              return;
            }
            const table = rolloutTable(section.collection)!;
            const select = table.columns
              .map(([c, type]) => (type === 'json' ? `${c}::text AS ${c}` : c))
              .join(', ');
            await client.query(
              `DECLARE backup_cursor NO SCROLL CURSOR FOR SELECT ${select} FROM ${s}.${table.name} ORDER BY ${table.order}`,
            );
            try {
              for (;;) {
                const { rows } = await client.query(`FETCH ${FETCH} FROM backup_cursor`);
                for (const row of rows) yield portableRow(table, row) as JsonValue;
                if (rows.length < FETCH) break;
              }
            } finally {
              await client.query('CLOSE backup_cursor');
            }
          },
          async close() {
            await client.query('COMMIT').catch(() => {});
            client.release();
            await documents.close();
          },
        };
      } catch (error) {
        client.release();
        await documents.close();
        throw error;
      }
    },

    async restore(plan) {
      const result = emptyRestoreResult();
      const docSections = plan.sections.filter((x) => x.kind === 'documents');
      if (docSections.length > 0) {
        const documents = openDocuments();
        try {
          const docs = documentStoreSource({
            store: documents,
            namespaces: [],
            ...(options.codec ? { codec: options.codec } : {}),
          });
          Object.assign(result, await docs.restore({ ...plan, sections: docSections }));
        } finally {
          await documents.close();
        }
      }
      const tableSections = plan.sections.filter((x) => x.kind === 'table');
      if (tableSections.length === 0) return result;
      // Creates the rollout schema when the target has none yet (the store migrates on first use).
      const rollouts = new PostgresRolloutStore({ pool, schema });
      await rollouts.statistics();
      await rollouts.close();
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await restoreTables(postgresRunner(client, schema), { ...plan, sections: tableSections }, result);
        // New resource writes must order after the restored ones.
        await client.query(
          `SELECT setval('${s.replace(/'/g, "''")}.agl_resources_write_seq', GREATEST((SELECT MAX(write_seq) FROM ${s}.agl_resources), 1))`,
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
      return result;
    },
  };
}
