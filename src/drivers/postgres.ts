import { createHash, randomBytes } from 'node:crypto';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { type Codec, codec as defaultCodec, type JsonValue } from '../codec/index.ts';
import { type AgentStateError, ClosedError, InvalidInputError, UnavailableError } from '../errors.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { idFromKey, idKey, keyUpperBound } from '../shared/idKey.ts';
import { loadPackage } from '../shared/optionalPackage.ts';
import { checkOut } from '../shared/postgres/checkout.ts';
import { postgresFailure } from '../shared/postgres/failure.ts';
import { channelFor, checkSchemaName } from '../shared/postgres/identifiers.ts';
import { statementTimeoutMs } from '../shared/postgres/statementTimeout.ts';
import { ChannelListener } from './postgres/listener.ts';
import { migrate } from './postgres/schema.ts';
import {
  buildStatements,
  CONFLICT_MARKER,
  DOCUMENT_COLUMNS,
  type DocumentRow,
} from './postgres/statements.ts';
import { ChangeHub } from './shared/changeHub.ts';
import { batchOutcome, parseStoredJson, putResult, valuePath } from './shared/documents.ts';
import { getManyInChunks } from './shared/getMany.ts';
import type { OptionSchemaOf } from './shared/optionSchema.ts';
import { packPayload, payloadSettings, unpackPayload } from './shared/payload.ts';
import { revisionConflict } from './shared/revisionConflict.ts';
import { startSweepTimer } from './shared/sweepTimer.ts';
import {
  checkBatch,
  checkDeleteOptions,
  checkDocumentKey,
  checkList,
  checkNamespaceList,
  checkPutOptions,
  checkWatchNamespace,
  pageOf,
} from './shared/validate.ts';
import type {
  BatchOperation,
  BatchResult,
  DeleteOptions,
  DocumentStore,
  DriverOptions,
  ListOptions,
  ListPage,
  NamespaceListOptions,
  NamespacePage,
  PutOptions,
  StorageInfo,
  StoredDocument,
  Subscription,
  WatchOptions,
} from './types.ts';

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

// A serialized put, ready to send: encoding happens before any SQL so bad values change nothing.
interface EncodedPut {
  value: string | null;
  valueBytes: Buffer | null;
  storage: StorageInfo;
  metadata: string | null;
  expiresAt: number | null;
  // The encoded trees, kept to build the returned document without parsing the text again.
  valueJson: JsonValue;
  metadataJson: JsonValue | undefined;
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

/**
 * A `DocumentStore` on PostgreSQL: the system of record when many processes or machines share state.
 *
 * - One schema per store (tables `documents`, `listeners`, `schema_migrations`), created and migrated
 *   on first use under an advisory lock, so processes starting together do not collide.
 * - Compare-and-set is a single statement (`INSERT ... ON CONFLICT DO UPDATE ... WHERE`, or `UPDATE ...
 *   WHERE revision = $expected`), so concurrent writers on any number of connections or machines can
 *   never both win; an expired row counts as absent. A batch is one transaction.
 * - `watch` sees every committed change, from this process or any other, through LISTEN/NOTIFY: each
 *   write notifies inside its own transaction (delivered on commit, in commit order). Local writes take
 *   the same path (each watcher sees an event exactly once), and a write resolves after this store's
 *   watchers have received its events. Writes skip NOTIFY while no store watches the schema, because
 *   notifying commits are serialised database-wide (see postgres/statements.ts). A watcher whose
 *   connection drops is reconnected; events sent meanwhile are lost (NOTIFY is a feed, not a log).
 * - `list` orders ids exactly as JavaScript compares strings (UTF-16 code units), like every other
 *   driver: the key column holds the id as UTF-16 bytes (see shared/idKey.ts). A TEXT key with the
 *   "C" collation would order by code point (UTF-8 bytes), which puts U+E000-U+FFFF before characters
 *   above U+FFFF where JavaScript puts them after, and could not store lone surrogates.
 * - Expired documents are invisible at once and deleted by a background sweep that reads only the due
 *   rows through a partial index (the seeds scan every key), and reports them as `expire` events.
 */
export function createPostgresStore(options: PostgresStoreOptions = {}): DocumentStore {
  const settings = payloadSettings(options, 'postgres', POSTGRES_STORE_OPTIONS);
  const schema = options.schema ?? 'agentstate';
  checkSchemaName(schema);
  if (!options.pool && !options.connectionString) {
    throw new InvalidInputError('createPostgresStore needs a connectionString or a pool', { schema });
  }
  const codec: Codec = options.codec ?? defaultCodec;
  const clock = options.now ?? Date.now;
  const sweepBatchSize = options.sweepBatchSize ?? 1000;
  const ownsPool = !options.pool;
  const pool: Pool =
    options.pool ??
    new (loadPackage<typeof import('pg')>('pg', 'createPostgresStore').Pool)({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      // A batch sends its statements without waiting for each answer (see pipelinedWrites).
      pipeline: true,
      statement_timeout: statementTimeoutMs(options.statementTimeoutMs),
      // Idle connections never keep the process alive; an open store with watchers does.
      allowExitOnIdle: true,
    });
  // An idle connection that drops (server restart) must not crash the process; the next query reconnects.
  if (ownsPool) pool.on('error', () => {});
  const channel = channelFor(schema);
  const origin = randomBytes(8).toString('hex');
  const sql = buildStatements(schema, channel, origin);
  const hub = new ChangeHub();
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
  });
  let seq = 0;
  let closed = false;
  let migrated: Promise<void> | undefined;
  let initialised = false;
  let sweeping: Promise<number> | undefined;

  // The timer never creates the schema: it only sweeps a store that has been used. A sweep cut short by
  // close() is not worth a warning.
  const sweepTimer = startSweepTimer(options.sweepIntervalMs, 'postgres', () =>
    !initialised || closed || sweeping
      ? undefined
      : sweepExpired().catch((error: unknown) => {
          if (!closed) throw error;
        }),
  );

  function open(): void {
    if (closed) throw new ClosedError(`the postgres store (schema ${schema}) is closed`, { schema });
  }

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

  // The store's fixed statements run as named prepared statements: each connection parses and plans one
  // once, not on every call. The names come from the texts, of which there is a fixed, small set.
  const statementNames = new Map<string, string>();
  function prepared(text: string, values: unknown[]): QueryConfig {
    let name = statementNames.get(text);
    if (name === undefined) {
      name = `agentstate_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      statementNames.set(text, name);
    }
    return { name, text, values };
  }

  // Whole milliseconds: the columns are BIGINT and clocks may return fractions.
  const now = (): number => Math.floor(clock());

  function encodePut(namespace: string, id: string, value: unknown, opts: PutOptions | undefined, t: number) {
    const valueJson = codec.encode(value, valuePath(namespace, id));
    const metadataJson = opts?.metadata === undefined ? undefined : codec.encode(opts.metadata, '$.metadata');
    const packed = packPayload(JSON.stringify(valueJson), settings);
    const encoded: EncodedPut = {
      valueJson,
      metadataJson,
      value: packed.text ?? null,
      valueBytes: packed.text === undefined ? Buffer.from(packed.bytes) : null,
      storage: packed.storage,
      metadata: metadataJson === undefined ? null : JSON.stringify(metadataJson),
      // Rounded up so a document never expires before its TTL; capped to stay a safe integer.
      expiresAt:
        opts?.ttlMs === undefined ? null : Math.min(t + Math.ceil(opts.ttlMs), Number.MAX_SAFE_INTEGER),
    };
    return encoded;
  }

  function parseStored(text: string, namespace: string, id: string, column: string): unknown {
    return codec.decode(parseStoredJson(text, namespace, id, column, `schema ${schema}`, { schema }));
  }

  function rowToDocument<V>(namespace: string, id: string, row: DocumentRow): StoredDocument<V> {
    const storage =
      row.storage === null ? undefined : (parseStored(row.storage, namespace, id, 'storage') as StorageInfo);
    const stored = row.value ?? row.value_bytes ?? '';
    const text = unpackPayload(stored, storage?.checksum, settings, {
      namespace,
      id,
      where: `schema ${schema}`,
    });
    return {
      namespace,
      id,
      value: parseStored(text, namespace, id, 'value') as V,
      revision: Number(row.revision),
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
      ...(row.metadata !== null && {
        metadata: parseStored(row.metadata, namespace, id, 'metadata') as Record<string, unknown>,
      }),
      ...(row.expires_at !== null && { expiresAt: Number(row.expires_at) }),
      ...(storage !== undefined && { storage }),
    };
  }

  // Turns driver and network failures into AgentStateErrors with a code; ours pass through.
  function failure(error: unknown, details: Record<string, unknown>): AgentStateError {
    return postgresFailure(error, `postgres store (schema ${schema})`, closed, { ...details, schema });
  }

  type Queryable = Pick<PoolClient, 'query'>;

  async function liveRevision(db: Queryable, namespace: string, id: string, t: number): Promise<number> {
    const { rows } = await db.query<{ revision: string }>(prepared(sql.revision, [namespace, idKey(id), t]));
    return rows[0] ? Number(rows[0].revision) : 0;
  }

  // The statement of one put: an upsert, a create-only insert (expected 0) or a compare-and-set update.
  function putStatement(
    namespace: string,
    id: string,
    put: EncodedPut,
    expected: number | undefined,
    t: number,
    mySeq: number,
  ): { text: string; params: unknown[] } {
    const params: unknown[] = [
      namespace,
      idKey(id),
      id,
      put.value,
      t,
      put.metadata,
      put.expiresAt,
      mySeq,
      put.valueBytes,
      JSON.stringify(put.storage),
    ];
    let text = sql.upsert;
    if (expected === 0) text = sql.create;
    else if (expected !== undefined) {
      text = sql.update;
      params.push(expected);
    }
    return { text, params };
  }

  // One put as one statement (plus a read of the actual revision only when it conflicts).
  async function writePut(
    db: Queryable,
    namespace: string,
    id: string,
    put: EncodedPut,
    expected: number | undefined,
    t: number,
    mySeq: number,
  ): Promise<{ revision: number; createdAt: number }> {
    const { text, params } = putStatement(namespace, id, put, expected, t, mySeq);
    const { rows } = await db.query<{ revision: string; created_at: string }>(prepared(text, params));
    const row = rows[0];
    if (!row) throw revisionConflict(namespace, id, expected ?? 0, await liveRevision(db, namespace, id, t));
    return { revision: Number(row.revision), createdAt: Number(row.created_at) };
  }

  // One delete; returns the deleted revision, or 0 when there was nothing live to delete.
  async function writeDelete(
    db: Queryable,
    namespace: string,
    id: string,
    expected: number | undefined,
    t: number,
    mySeq: number,
  ): Promise<number> {
    // Delete-if-absent (expected 0) deletes nothing by definition: it only checks that nothing is there.
    if (expected === 0) {
      const actual = await liveRevision(db, namespace, id, t);
      if (actual !== 0) throw revisionConflict(namespace, id, 0, actual);
      return 0;
    }
    for (;;) {
      const { rows } =
        expected === undefined
          ? await db.query<{ revision: string }>(prepared(sql.delete, [namespace, idKey(id), t, mySeq]))
          : await db.query<{ revision: string }>(
              prepared(sql.deleteAt, [namespace, idKey(id), t, mySeq, expected]),
            );
      if (rows[0]) return Number(rows[0].revision);
      if (expected === undefined) return 0;
      const actual = await liveRevision(db, namespace, id, t);
      if (actual !== expected) throw revisionConflict(namespace, id, expected, actual);
      // Deleted and re-created up to the expected revision between the two statements: try again.
    }
  }

  // The writes of a batch one statement at a time (a pool passed in without pg's `pipeline` mode).
  async function sequentialWrites(
    client: PoolClient,
    operations: BatchOperation[],
    encoded: Array<EncodedPut | undefined>,
    t: number,
    seqs: number[],
  ): Promise<number[]> {
    await client.query('BEGIN');
    const revisions: number[] = [];
    for (const [index, op] of operations.entries()) {
      const mySeq = ++seq;
      const expected = op.options?.expectedRevision;
      if (op.type === 'put') {
        const written = await writePut(client, op.namespace, op.id, encoded[index]!, expected, t, mySeq);
        seqs.push(mySeq);
        revisions.push(written.revision);
      } else {
        const revision = await writeDelete(client, op.namespace, op.id, expected, t, mySeq);
        if (revision > 0) seqs.push(mySeq);
        revisions.push(revision);
      }
    }
    return revisions;
  }

  /**
   * A whole batch on a pipelined connection (pg's `pipeline` mode), where a batch whose answers need no
   * look (puts, compare-and-set puts, unconditional deletes) costs one round trip: BEGIN, every statement
   * and COMMIT are sent at once. Compare-and-set puts use the `...OrFail` statements, so a conflict aborts
   * the transaction and the COMMIT that follows it rolls back; the actual revision is then read for the
   * error. Returns undefined, having sent nothing, when the batch needs the answers before COMMIT (a
   * conditional delete, or a watcher here that waits for this batch's own events).
   */
  async function oneTripBatch(
    client: PoolClient,
    operations: BatchOperation[],
    encoded: Array<EncodedPut | undefined>,
    t: number,
  ): Promise<number[] | undefined> {
    if (hub.active) return undefined;
    if (operations.some((op) => op.type === 'delete' && op.options?.expectedRevision !== undefined)) {
      return undefined;
    }
    const answers: Array<Promise<{ rows: Array<{ revision: string }>; command?: string }>> = [
      client.query('BEGIN'),
    ];
    for (const [index, op] of operations.entries()) {
      const mySeq = ++seq;
      if (op.type === 'put') {
        const expected = op.options?.expectedRevision;
        const statement = putStatement(op.namespace, op.id, encoded[index]!, expected, t, mySeq);
        if (expected === 0) statement.text = sql.createOrFail;
        else if (expected !== undefined) statement.text = sql.updateOrFail;
        answers.push(client.query(prepared(statement.text, statement.params)));
      } else answers.push(client.query(prepared(sql.delete, [op.namespace, idKey(op.id), t, mySeq])));
    }
    const committed = client.query('COMMIT');
    // Every answer is awaited below; a failed statement fails the ones after it, which must not go unhandled.
    for (const answer of answers) answer.catch(() => {});
    committed.catch(() => {});
    const settled = await Promise.allSettled(answers);
    const commit = await committed; // after a failed statement PostgreSQL answers COMMIT with a rollback
    const failed = settled.findIndex((answer) => answer.status === 'rejected');
    if (failed >= 0) {
      const error = (settled[failed] as PromiseRejectedResult).reason as Error;
      const op = operations[failed - 1];
      if (op?.type === 'put' && String(error.message).includes(CONFLICT_MARKER)) {
        throw revisionConflict(
          op.namespace,
          op.id,
          op.options?.expectedRevision ?? 0,
          await liveRevision(client, op.namespace, op.id, t),
        );
      }
      throw error;
    }
    if ((commit as { command?: string }).command !== 'COMMIT') {
      throw new UnavailableError('the batch transaction was rolled back by the server', { schema });
    }
    return settled.slice(1).map((answer) => {
      const row = (answer as PromiseFulfilledResult<{ rows: Array<{ revision: string }> }>).value.rows[0];
      return row ? Number(row.revision) : 0;
    });
  }

  /**
   * The writes of a batch on a pipelined connection when their answers decide whether to commit: BEGIN and
   * the first statement of every operation are sent at once (one round trip instead of one each), then the
   * answers are checked in order; an operation whose compare-and-set found another revision reads the
   * actual one (inside the still open transaction) and fails the batch, and a conditional delete that met
   * a concurrent delete-and-recreate falls back to `writeDelete`'s loop. The caller commits.
   */
  async function pipelinedWrites(
    client: PoolClient,
    operations: BatchOperation[],
    encoded: Array<EncodedPut | undefined>,
    t: number,
    seqs: number[],
  ): Promise<number[]> {
    const pending: Array<Promise<{ rows: Array<{ revision: string }> }>> = [client.query('BEGIN')];
    const opSeqs: number[] = [];
    for (const [index, op] of operations.entries()) {
      const mySeq = ++seq;
      opSeqs.push(mySeq);
      const expected = op.options?.expectedRevision;
      const key = idKey(op.id);
      let statement: { text: string; params: unknown[] };
      if (op.type === 'put')
        statement = putStatement(op.namespace, op.id, encoded[index]!, expected, t, mySeq);
      else if (expected === 0) statement = { text: sql.revision, params: [op.namespace, key, t] };
      else if (expected === undefined)
        statement = { text: sql.delete, params: [op.namespace, key, t, mySeq] };
      else statement = { text: sql.deleteAt, params: [op.namespace, key, t, mySeq, expected] };
      pending.push(client.query<{ revision: string }>(prepared(statement.text, statement.params)));
    }
    for (const answer of pending) answer.catch(() => {});
    for (const answer of pending) await answer;
    const revisions: number[] = [];
    for (const [index, op] of operations.entries()) {
      const row = (await pending[index + 1]!).rows[0];
      const expected = op.options?.expectedRevision;
      const mySeq = opSeqs[index]!;
      if (op.type === 'put') {
        if (!row) {
          throw revisionConflict(
            op.namespace,
            op.id,
            expected ?? 0,
            await liveRevision(client, op.namespace, op.id, t),
          );
        }
        seqs.push(mySeq);
        revisions.push(Number(row.revision));
        continue;
      }
      let revision: number;
      if (expected === 0) {
        const actual = row ? Number(row.revision) : 0;
        if (actual !== 0) throw revisionConflict(op.namespace, op.id, 0, actual);
        revision = 0;
      } else if (row) revision = Number(row.revision);
      else if (expected === undefined) revision = 0;
      else revision = await writeDelete(client, op.namespace, op.id, expected, t, mySeq);
      if (revision > 0) seqs.push(mySeq);
      revisions.push(revision);
    }
    return revisions;
  }

  async function sweepExpired(): Promise<number> {
    open();
    if (sweeping) return sweeping;
    sweeping = (async () => {
      await ready();
      await pool.query(sql.pruneListeners);
      const t = now();
      let removed = 0;
      for (;;) {
        const { rowCount } = await pool.query(sql.sweep, [t, sweepBatchSize]);
        removed += rowCount ?? 0;
        if ((rowCount ?? 0) < sweepBatchSize || closed) return removed;
      }
    })()
      .catch((error: unknown) => {
        throw failure(error, { operation: 'sweepExpired' });
      })
      .finally(() => {
        sweeping = undefined;
      });
    return sweeping;
  }

  // Registers a wait for this store's own event when someone here watches (see ChannelListener.expect).
  function expectOwn(mySeq: number): Promise<void> | undefined {
    return hub.active ? listener.expect(mySeq) : undefined;
  }

  return {
    name: 'postgres',

    async get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
      open();
      checkDocumentKey(namespace, id);
      try {
        await ready();
        const { rows } = await pool.query<DocumentRow>(prepared(sql.get, [namespace, idKey(id), now()]));
        return rows[0] && rowToDocument<V>(namespace, id, rows[0]);
      } catch (error) {
        throw failure(error, { operation: 'get', namespace, id });
      }
    },

    async getMany<V>(
      namespace: string,
      ids: readonly string[],
    ): Promise<Array<StoredDocument<V> | undefined>> {
      open();
      try {
        await ready();
        const t = now();
        return await getManyInChunks<V>(namespace, ids, async (chunk) => {
          const { rows } = await pool.query<DocumentRow & { id_key: Buffer }>(
            prepared(sql.getMany, [namespace, chunk.map(idKey), t]),
          );
          return rows.map((row) => rowToDocument<V>(namespace, idFromKey(row.id_key), row));
        });
      } catch (error) {
        throw failure(error, { operation: 'getMany', namespace });
      }
    },

    async put<V>(namespace: string, id: string, value: V, opts?: PutOptions): Promise<StoredDocument<V>> {
      open();
      checkDocumentKey(namespace, id);
      checkPutOptions(opts, namespace, id);
      const t = now();
      const encoded = encodePut(namespace, id, value, opts, t);
      const mySeq = ++seq;
      try {
        await ready();
        const own = expectOwn(mySeq);
        let written: { revision: number; createdAt: number };
        try {
          written = await writePut(pool, namespace, id, encoded, opts?.expectedRevision, t, mySeq);
        } catch (error) {
          listener.forget(mySeq);
          throw error;
        }
        await own;
        return putResult<V>(
          codec,
          namespace,
          id,
          {
            ...written,
            updatedAt: t,
            storage: encoded.storage,
            ...(encoded.expiresAt !== null && { expiresAt: encoded.expiresAt }),
          },
          encoded.valueJson,
          encoded.metadataJson,
        );
      } catch (error) {
        throw failure(error, { operation: 'put', namespace, id });
      }
    },

    async touch(namespace: string, id: string, ttlMs: number): Promise<boolean> {
      open();
      checkDocumentKey(namespace, id);
      checkPutOptions({ ttlMs }, namespace, id);
      const t = now();
      const expiresAt = Math.min(t + Math.ceil(ttlMs), Number.MAX_SAFE_INTEGER);
      try {
        await ready();
        const { rowCount } = await pool.query(prepared(sql.touch, [namespace, idKey(id), t, expiresAt]));
        return (rowCount ?? 0) > 0;
      } catch (error) {
        throw failure(error, { operation: 'touch', namespace, id });
      }
    },

    async delete(namespace: string, id: string, opts?: DeleteOptions): Promise<boolean> {
      open();
      checkDocumentKey(namespace, id);
      checkDeleteOptions(opts, namespace, id);
      const mySeq = ++seq;
      try {
        await ready();
        const own = expectOwn(mySeq);
        let revision: number;
        try {
          revision = await writeDelete(pool, namespace, id, opts?.expectedRevision, now(), mySeq);
        } catch (error) {
          listener.forget(mySeq);
          throw error;
        }
        if (revision === 0) listener.forget(mySeq);
        await own;
        return revision > 0;
      } catch (error) {
        throw failure(error, { operation: 'delete', namespace, id });
      }
    },

    async listNamespaces(opts?: NamespaceListOptions): Promise<NamespacePage> {
      open();
      const { limit, after } = checkNamespaceList(opts);
      try {
        await ready();
        // A loose index scan: each step seeks the primary key to the next namespace (COLLATE "C": code
        // unit order), so a page costs one seek per namespace however many documents each holds.
        // PostgreSQL computes only the rows of the recursive query the LIMIT takes.
        const { rows } = await pool.query<{ namespace: string }>(
          `WITH RECURSIVE ns AS (
             (SELECT namespace FROM ${sql.table} WHERE namespace > $1 ORDER BY namespace LIMIT 1)
             UNION ALL
             SELECT (SELECT d.namespace FROM ${sql.table} d WHERE d.namespace > ns.namespace ORDER BY d.namespace LIMIT 1)
             FROM ns WHERE ns.namespace IS NOT NULL
           ) SELECT namespace FROM ns WHERE namespace IS NOT NULL LIMIT $2`,
          [after ?? '', limit + 1],
        );
        return pageOf(
          rows.map((row) => row.namespace),
          limit,
        );
      } catch (error) {
        throw failure(error, { operation: 'listNamespaces' });
      }
    },

    async list<V>(namespace: string, opts?: ListOptions): Promise<ListPage<V>> {
      open();
      const { limit, after, prefix } = checkList(namespace, opts);
      const params: unknown[] = [namespace, now()];
      const where = ['namespace = $1', '(expires_at IS NULL OR expires_at > $2::bigint)'];
      if (after !== undefined) {
        params.push(idKey(after));
        where.push(`id_key > $${params.length}`);
      }
      if (prefix !== '') {
        // A key range: the primary key index finds the first match and stops after the last one.
        const low = idKey(prefix);
        const high = keyUpperBound(low);
        params.push(low);
        where.push(`id_key >= $${params.length}`);
        if (high) {
          params.push(high);
          where.push(`id_key < $${params.length}`);
        } else {
          where.push(`substring(id_key FROM 1 FOR ${low.length}) = $${params.length}`);
        }
      }
      params.push(limit + 1); // one more than asked says whether another page exists
      try {
        await ready();
        const { rows } = await pool.query<DocumentRow & { id_key: Buffer }>(
          `SELECT id_key, ${DOCUMENT_COLUMNS} FROM ${sql.table} WHERE ${where.join(' AND ')} ORDER BY id_key LIMIT $${params.length}`,
          params,
        );
        const page = rows.slice(0, limit);
        const items = page.map((row) => rowToDocument<V>(namespace, idFromKey(row.id_key), row));
        return rows.length > limit ? { items, cursor: encodeCursor(items[items.length - 1]!.id) } : { items };
      } catch (error) {
        throw failure(error, { operation: 'list', namespace });
      }
    },

    async batch(operations: BatchOperation[]): Promise<BatchResult> {
      open();
      checkBatch(operations);
      if (operations.length === 0) return { results: [] };
      const t = now();
      // Everything is encoded before the transaction starts: a bad value fails the batch with no SQL sent.
      const encoded = operations.map((op) =>
        op.type === 'put' ? encodePut(op.namespace, op.id, op.value, op.options, t) : undefined,
      );
      let client: PoolClient | undefined;
      let broken: Error | undefined;
      const seqs: number[] = [];
      try {
        await ready();
        client = await checkOut(pool);
        if (client.pipeline === true) {
          const done = await oneTripBatch(client, operations, encoded, t);
          if (done !== undefined) return { results: batchOutcome(operations, done).results };
        }
        const revisions =
          client.pipeline === true
            ? await pipelinedWrites(client, operations, encoded, t, seqs)
            : await sequentialWrites(client, operations, encoded, t, seqs);
        // Notifications of one transaction arrive in order, so the last one stands for all of them.
        const last = seqs.at(-1);
        const own = last === undefined ? undefined : expectOwn(last);
        try {
          await client.query('COMMIT');
        } catch (error) {
          if (last !== undefined) listener.forget(last);
          throw error;
        }
        await own;
        // Watchers get the events through NOTIFY (see ChannelListener), so only the results are used here.
        return { results: batchOutcome(operations, revisions).results };
      } catch (error) {
        if (client) {
          await client.query('ROLLBACK').catch((rollbackError: unknown) => {
            broken = rollbackError as Error; // the connection is unusable: drop it from the pool
          });
        }
        throw failure(error, { operation: 'batch' });
      } finally {
        client?.release(broken);
      }
    },

    async watch(namespace: string, listenerFn, options?: WatchOptions): Promise<Subscription> {
      open();
      checkWatchNamespace(namespace);
      try {
        await listener.start();
      } catch (error) {
        throw failure(error, { operation: 'watch', namespace });
      }
      return hub.subscribe(namespace, listenerFn, options);
    },

    sweepExpired,

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      hub.clear();
      await sweeping?.catch(() => {});
      await listener.close();
      if (ownsPool) await pool.end();
    },
  };
}
