import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { InvalidInputError } from '../errors.ts';
import { idKey, keyUpperBound } from '../shared/idKey.ts';
import { postgresFailure } from '../shared/postgres/failure.ts';
import { channelFor, checkSchemaName } from '../shared/postgres/identifiers.ts';
import { createDocumentStore } from './kernel/documentStore.ts';
import { pageOf } from './kernel/pages.ts';
import { writePostgres } from './postgres/batch.ts';
import { ChannelListener } from './postgres/listener.ts';
import { createPool } from './postgres/pool.ts';
import { statementNamer } from './postgres/preparedNames.ts';
import { listQuery, storedRow } from './postgres/rows.ts';
import { migrate } from './postgres/schema.ts';
import { buildStatements, DOCUMENT_COLUMNS, type DocumentRow } from './postgres/statements.ts';
import type { OptionSchemaOf } from './shared/optionSchema.ts';
import type { DocumentStore, DriverOptions } from './types.ts';

/** Options of `createPostgresStore`: a connection string or a pool, and the schema that holds the store. */
export interface PostgresStoreOptions extends DriverOptions {
  /** `postgres://user@host:5432/db`: the store creates its own pool and closes it on `close()`. */
  connectionString?: string;
  /** A pool you own: the store borrows connections and never ends it. The first `watch` keeps one
   *  connection for LISTEN until `close()`, so size the pool for it. */
  pool?: Pool;
  /** Schema holding the store's tables (default `agentstate`); one store per schema. Created if missing. */
  schema?: string;
  /** Size of the pool the store creates from `connectionString` (default 10). */
  poolSize?: number;
  /** Most expired documents one sweep statement removes; the sweep repeats until none are due (default 1000). */
  sweepBatchSize?: number;
  /**
   * `statement_timeout` of every connection of the pool the store creates, ms (default 60000; 0 = none).
   * A pool you pass keeps its own settings.
   */
  statementTimeoutMs?: number;
}

/** The options of `createPostgresStore` beyond `DriverOptions`, by kind (the persistence config derives its own from them). */
export const POSTGRES_STORE_OPTIONS = {
  connectionString: 'string',
  pool: 'code',
  schema: 'string',
  poolSize: 'positiveWholeNumber',
  sweepBatchSize: 'positiveWholeNumber',
  statementTimeoutMs: 'wholeNumber',
} as const satisfies OptionSchemaOf<Omit<PostgresStoreOptions, keyof DriverOptions>>;

const SPEC = { name: 'postgres', label: 'postgres', options: POSTGRES_STORE_OPTIONS };

/**
 * A `DocumentStore` on PostgreSQL: the system of record when many processes or machines share state.
 *
 * - One schema per store (tables `documents`, `listeners`, `schema_migrations`), created and migrated
 *   on first use under an advisory lock, so processes starting together do not collide.
 * - Compare-and-set is a single statement (`INSERT ... ON CONFLICT DO UPDATE ... WHERE`, or `UPDATE ...
 *   WHERE revision = $expected`), so concurrent writers on any number of connections or machines can
 *   never both win; an expired row counts as absent. A batch is one transaction (see postgres/batch.ts).
 * - `watch` sees every committed change, from this process or any other, through LISTEN/NOTIFY: each
 *   write notifies inside its own transaction (delivered on commit, in commit order). Local writes take
 *   the same path (each watcher sees an event exactly once), and a write resolves after this store's
 *   watchers have received its events. Writes skip NOTIFY while no store watches the schema, because
 *   notifying commits are serialised database-wide (see postgres/statements.ts). A watcher whose
 *   connection drops is reconnected; events sent meanwhile are lost (NOTIFY is a feed, not a log).
 * - `list` orders ids exactly as JavaScript compares strings (UTF-16 code units), like every other
 *   driver: the key column holds the id as UTF-16 bytes (see shared/idKey.ts).
 * - Expired documents are invisible at once and deleted by a background sweep that reads only the due
 *   rows through a partial index (the seeds scan every key), and reports them as `expire` events.
 */
export function createPostgresStore(options: PostgresStoreOptions = {}): DocumentStore {
  return createDocumentStore(SPEC, options, ({ hub, now, reportError, onError }) => {
    const schema = options.schema ?? 'agentstate';
    checkSchemaName(schema);
    if (!options.pool && !options.connectionString) {
      throw new InvalidInputError('createPostgresStore needs a connectionString or a pool', { schema });
    }
    const sweepBatchSize = options.sweepBatchSize ?? 1000;
    const ownsPool = !options.pool;
    const pool =
      options.pool ?? createPool(options, (error) => reportError(error, 'idle connection', { schema }));
    const channel = channelFor(schema);
    const origin = randomBytes(8).toString('hex');
    const sql = buildStatements(schema, channel, origin);
    const listener = new ChannelListener(pool, channel, origin, (event) => hub.emit(event), {
      // Registered watchers make writes notify (see postgres/statements.ts); the table needs the schema.
      afterListen: async (client) => {
        await ready();
        await client.query(sql.registerListener, [now()]);
      },
      beforeUnlisten: async (client) => {
        await client.query(sql.unregisterListener);
      },
      onReconnect: () => hub.reset(),
      ...(onError && { onError }),
    });
    let [seq, closed, initialised] = [0, false, false];
    let migrated: Promise<void> | undefined;
    let sweeping: Promise<number> | undefined;
    function ready(): Promise<void> {
      migrated ??= migrate(pool, schema).then(
        () => {
          initialised = true;
        },
        (error: unknown) => {
          migrated = undefined; // let the next call retry (server down at startup)
          throw error;
        },
      );
      return migrated;
    }
    const prepared = statementNamer();
    const writer = {
      pool,
      schema,
      sql,
      prepared,
      nextSeq: () => ++seq,
      watching: () => hub.active,
      expectOwn: (mySeq: number) => listener.expect(mySeq),
      forget: (mySeq: number) => listener.forget(mySeq),
    };
    async function sweep(): Promise<number> {
      await ready();
      await pool.query(sql.pruneListeners);
      const t = now();
      let removed = 0;
      for (;;) {
        const { rowCount } = await pool.query(sql.sweep, [t, sweepBatchSize]);
        removed += rowCount ?? 0;
        if ((rowCount ?? 0) < sweepBatchSize || closed) return removed;
      }
    }
    return {
      where: `schema ${schema}`,
      whereDetails: { schema },
      // LISTEN/NOTIFY delivers this store's writes too (once, in commit order).
      feedsOwnWrites: true,
      async read(namespace, id, t) {
        await ready();
        const { rows } = await pool.query<DocumentRow>(prepared(sql.get, [namespace, idKey(id), t]));
        return rows[0] && storedRow(rows[0]);
      },
      async readMany(namespace, ids, t) {
        await ready();
        const query = prepared(sql.getMany, [namespace, ids.map(idKey), t]);
        return (await pool.query<DocumentRow & { id_key: Buffer }>(query)).rows.map(storedRow);
      },
      async touch(namespace, id, expiresAt, t) {
        await ready();
        const { rowCount } = await pool.query(prepared(sql.touch, [namespace, idKey(id), t, expiresAt]));
        return (rowCount ?? 0) > 0;
      },
      async write(ops, t) {
        await ready();
        return writePostgres(writer, ops, t);
      },
      async scan(namespace, { limit, after, prefix }, t) {
        await ready();
        const low = idKey(prefix);
        const upper = prefix === '' ? undefined : keyUpperBound(low);
        const afterKey = after === undefined ? undefined : idKey(after);
        const query = listQuery(sql.table, DOCUMENT_COLUMNS, namespace, t, afterKey, low, upper, limit);
        const { rows } = await pool.query<DocumentRow & { id_key: Buffer }>(query);
        return pageOf(rows.map(storedRow), limit, (row) => row.id!);
      },
      async namespaces({ limit, after }) {
        await ready();
        const { rows } = await pool.query<{ namespace: string }>(sql.namespaces, [after ?? '', limit + 1]);
        return pageOf(
          rows.map((row) => row.namespace),
          limit,
          (name) => name,
        );
      },
      // The timer never creates the schema: it only sweeps a store that has been used. One sweep at a time.
      sweep(_t, background) {
        if (background && (!initialised || sweeping)) return 0;
        sweeping ??= sweep().finally(() => {
          sweeping = undefined;
        });
        return sweeping;
      },
      startFeed: () => listener.start(),
      failure: (error, operation, details) =>
        postgresFailure(error, `postgres store (schema ${schema})`, closed, {
          operation,
          ...details,
          schema,
        }),
      async close() {
        closed = true;
        await sweeping?.catch(() => {});
        await listener.close();
        if (ownsPool) await pool.end();
      },
    };
  });
}
