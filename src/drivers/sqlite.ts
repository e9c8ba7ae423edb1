import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { type Codec, codec as defaultCodec, type JsonValue } from '../codec/index.ts';
import { ClosedError, TimeoutError } from '../errors.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { idFromKey, idKey, keyUpperBound } from '../shared/idKey.ts';
import { loadPackage } from '../shared/optionalPackage.ts';
import { reportSqliteCorruption, withCorruptionReports } from '../shared/sqliteCorruption.ts';
import { ChangeHub } from './shared/changeHub.ts';
import {
  batchOutcome,
  parseStoredJson,
  putResult,
  valuePath,
  type WrittenFields,
} from './shared/documents.ts';
import { getManyInChunks } from './shared/getMany.ts';
import type { OptionSchemaOf } from './shared/optionSchema.ts';
import { packPayload, payloadSettings, unpackPayload } from './shared/payload.ts';
import { checkRevision, revisionConflict } from './shared/revisionConflict.ts';
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
import { SqliteChangeLog } from './sqlite/changeLog.ts';
import {
  checkTableName,
  configureConnection,
  createSchema,
  dueRowsSql,
  type SqliteSynchronous,
} from './sqlite/schema.ts';
import type {
  BatchOperation,
  BatchResult,
  ChangeEvent,
  ChangeListener,
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
} from './types.ts';

/** Where the SQLite driver keeps its database unless told otherwise. */
export const DEFAULT_SQLITE_PATH = './.agentstate/state.db';

/** Options of `createSqliteStore`. */
export interface SqliteStoreOptions extends DriverOptions {
  /** Database file (default `./.agentstate/state.db`; parent directories are created). `:memory:` works too. */
  path?: string;
  /** An open better-sqlite3 connection to use instead of `path`; the store configures it but never closes it. */
  database?: Database.Database;
  /** Table holding the documents (default `agentstate_documents`). */
  table?: string;
  /**
   * `NORMAL` (default): with WAL, a commit is in the WAL file when `put` resolves, so it survives a crash or
   * `kill -9` of the process; the last commits can be lost only on power loss or an OS crash.
   * `FULL`: the WAL is fsynced on every commit, so acknowledged writes survive power loss too (slower).
   */
  synchronous?: SqliteSynchronous;
  /** How long a write waits for another process's write lock before failing with `TIMEOUT` (default 5000). */
  busyTimeoutMs?: number;
  /** While anyone watches, how often to look for changes committed by other processes (default 100 ms). */
  watchPollMs?: number;
  /** How long the change log keeps entries for watchers in other processes (default 5 minutes). */
  changeRetentionMs?: number;
}

interface DocumentRow {
  id_key: Buffer;
  value: string | Buffer;
  revision: number;
  created_at: number;
  updated_at: number;
  metadata: string | null;
  expires_at: number | null;
  storage: string | null;
}

interface CurrentRow {
  revision: number;
  created_at: number;
}

interface SweptRow {
  namespace: string;
  id_key: Buffer;
  revision: number;
}

// A put with its value already encoded, so encoding errors happen before any transaction starts.
interface PreparedPut {
  type: 'put';
  namespace: string;
  id: string;
  key: Buffer;
  encoded: JsonValue;
  stored: string | Buffer;
  storage: StorageInfo;
  metadata?: JsonValue;
  options?: PutOptions;
}

interface PreparedDelete {
  type: 'delete';
  namespace: string;
  id: string;
  key: Buffer;
  options?: DeleteOptions;
}

const SWEEP_CHUNK = 500;
const COLUMNS = 'id_key, value, revision, created_at, updated_at, metadata, expires_at, storage';
/** The options of `createSqliteStore` beyond `DriverOptions`, by kind (the persistence config derives its own from them). */
export const SQLITE_STORE_OPTIONS = {
  path: 'string',
  database: 'code',
  table: 'string',
  synchronous: ['NORMAL', 'FULL'] satisfies SqliteSynchronous[],
  busyTimeoutMs: 'wholeNumber',
  watchPollMs: 'positiveWholeNumber',
  changeRetentionMs: 'positiveWholeNumber',
} as const satisfies OptionSchemaOf<Omit<SqliteStoreOptions, keyof DriverOptions>>;

/**
 * A `DocumentStore` in one SQLite table (better-sqlite3, WAL, prepared statements). Compare-and-set and
 * batches run inside `BEGIN IMMEDIATE` transactions, so several processes can share one file: the write
 * lock is taken before the revision is read, and `busy_timeout` makes writers queue for it.
 *
 * `watch` delivers this store's own changes right after their commit, and changes committed by other
 * processes or connections on the same file within `watchPollMs` (see sqlite/changeLog.ts). Durability:
 * see `synchronous`; WAL with NORMAL survives `kill -9` of the process, FULL also survives power loss.
 */
export function createSqliteStore(options: SqliteStoreOptions = {}): DocumentStore {
  const settings = payloadSettings(options, 'sqlite', SQLITE_STORE_OPTIONS);
  const codec: Codec = options.codec ?? defaultCodec;
  const now = options.now ?? Date.now;
  const table = options.table ?? 'agentstate_documents';
  checkTableName(table);
  const owned = options.database === undefined;
  const hub = new ChangeHub();
  const changeRetentionMs = options.changeRetentionMs ?? 300_000;
  let changes: SqliteChangeLog;
  let db: Database.Database;
  const path = options.database?.name ?? options.path ?? DEFAULT_SQLITE_PATH;
  if (options.database) {
    db = options.database;
  } else {
    if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
    db = new (loadPackage<typeof Database>('better-sqlite3', 'createSqliteStore'))(path);
  }
  try {
    configureConnection(db, options.synchronous ?? 'NORMAL', options.busyTimeoutMs ?? 5000);
    createSchema(db, table);
    changes = new SqliteChangeLog(db, table, hub, options.watchPollMs ?? 100);
  } catch (error) {
    if (owned) db.close();
    // A damaged header or schema page shows here, at start-up: report it, never start over an empty file.
    throw reportSqliteCorruption(error, path);
  }

  const live = '(expires_at IS NULL OR expires_at > ?)';
  const selectDocument = db.prepare<[string, Buffer, number], DocumentRow>(
    `SELECT ${COLUMNS} FROM ${table} WHERE namespace = ? AND id_key = ? AND ${live}`,
  );
  // `getMany` statements by number of ids (getManyInChunks passes at most GET_MANY_CHUNK, so the cache is bounded).
  const selectMany = new Map<number, Database.Statement<unknown[], DocumentRow>>();
  function selectManyOf(count: number): Database.Statement<unknown[], DocumentRow> {
    let statement = selectMany.get(count);
    if (statement === undefined) {
      statement = db.prepare<unknown[], DocumentRow>(
        `SELECT ${COLUMNS} FROM ${table} WHERE namespace = ? AND id_key IN (${new Array(count).fill('?').join(', ')}) AND ${live}`,
      );
      selectMany.set(count, statement);
    }
    return statement;
  }
  const selectCurrent = db.prepare<[string, Buffer, number], CurrentRow>(
    `SELECT revision, created_at FROM ${table} WHERE namespace = ? AND id_key = ? AND ${live}`,
  );
  // A put is one statement that computes the new revision itself and returns it (a read before the write
  // would be a second statement per document). An expired row counts as absent: its revision restarts at 1.
  const expired = '(expires_at IS NOT NULL AND expires_at <= excluded.updated_at)';
  const insertPut = `INSERT INTO ${table} (namespace, id_key, id, value, revision, created_at, updated_at, metadata, expires_at, storage)
     VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
     ON CONFLICT (namespace, id_key) DO UPDATE SET id = excluded.id, value = excluded.value,
       revision = CASE WHEN ${expired} THEN 1 ELSE revision + 1 END,
       created_at = CASE WHEN ${expired} THEN excluded.created_at ELSE created_at END,
       updated_at = excluded.updated_at, metadata = excluded.metadata, expires_at = excluded.expires_at,
       storage = excluded.storage`;
  type PutParams = [
    string,
    Buffer,
    string,
    string | Buffer,
    number,
    number,
    string | null,
    number | null,
    string,
  ];
  const upsert = db.prepare<PutParams, CurrentRow>(`${insertPut} RETURNING revision, created_at`);
  // expectedRevision 0: writes only over nothing or an expired row; no row returned means a conflict.
  const create = db.prepare<PutParams, CurrentRow>(
    `${insertPut} WHERE ${expired} RETURNING revision, created_at`,
  );
  // expectedRevision n: writes only over live revision n; no row returned means a conflict.
  const update = db.prepare<
    [string, string | Buffer, number, string | null, number | null, string, string, Buffer, number, number],
    CurrentRow
  >(
    `UPDATE ${table} SET id = ?, value = ?, revision = revision + 1, updated_at = ?, metadata = ?, expires_at = ?,
       storage = ? WHERE namespace = ? AND id_key = ? AND revision = ? AND ${live} RETURNING revision, created_at`,
  );
  const touchRow = db.prepare<[number, string, Buffer, number], void>(
    `UPDATE ${table} SET expires_at = ? WHERE namespace = ? AND id_key = ? AND ${live}`,
  );
  const deleteRow = db.prepare<[string, Buffer], void>(
    `DELETE FROM ${table} WHERE namespace = ? AND id_key = ?`,
  );
  // A listing's lower bound is ONE condition, the tighter of the prefix (`>=`) and the cursor (`>`), picked
  // per call. Given both (`id_key >= ? AND id_key > ?`), SQLite seeks to the first and filters the second
  // row by row, so every page re-read the namespace from the prefix up to the cursor: paging through a
  // namespace cost O(n^2) (the pages of a 150,000-document namespace took ~0.5 s each near its end).
  // Bounds are row values on (namespace, id_key) and the LIMIT is a literal: better-sqlite3's SQLite is
  // built with STAT4, which re-prepares a statement on every call when a bound `namespace = ?` meets the
  // ORDER BY or the LIMIT is a parameter (~10 us per listing, more than the read itself). One statement per
  // (bounds, limit); the few limits callers use keep the cache small, and it is cleared if they do not.
  const listStatements = new Map<string, Database.Statement<unknown[], DocumentRow>>();
  function listStatement(lower: '>=' | '>', bounded: boolean, limit: number) {
    const key = `${lower}${bounded}${limit}`;
    let statement = listStatements.get(key);
    if (statement === undefined) {
      if (listStatements.size >= 64) listStatements.clear();
      statement = db.prepare<unknown[], DocumentRow>(
        `SELECT ${COLUMNS} FROM ${table} WHERE (namespace, id_key) ${lower} (?, ?)
         AND ${bounded ? '(namespace, id_key) < (?, ?)' : 'namespace <= ?'}
         AND ${live} ORDER BY namespace, id_key LIMIT ${limit}`,
      );
      listStatements.set(key, statement);
    }
    return statement;
  }
  // Namespaces by a loose index scan: each step seeks the primary key to the next namespace, so a page
  // costs one seek per namespace however many documents each holds. Namespaces are ASCII (see validate.ts),
  // so SQLite's byte order is JavaScript's string order. The LIMIT bounds the recursion itself.
  const namespacesAfter = db.prepare<[string, number], { name: string | null }>(
    `WITH RECURSIVE ns(name) AS (
       SELECT (SELECT namespace FROM ${table} WHERE namespace > ? ORDER BY namespace LIMIT 1)
       UNION ALL
       SELECT (SELECT namespace FROM ${table} WHERE namespace > ns.name ORDER BY namespace LIMIT 1)
       FROM ns WHERE ns.name IS NOT NULL
       LIMIT ?
     ) SELECT name FROM ns`,
  );
  // Reads only due rows through the partial expires_at index; chunked to keep each write lock short.
  const sweepDue = db.prepare<[number, number], SweptRow>(
    `DELETE FROM ${table} WHERE rowid IN (${dueRowsSql(table)}) RETURNING namespace, id_key, revision`,
  );

  let closed = false;
  const sweepTimer = startSweepTimer(options.sweepIntervalMs, 'SQLite', sweep);

  function open(): void {
    if (closed) throw new ClosedError('the SQLite store is closed');
  }

  // SQLITE_BUSY after busy_timeout means another process held the write lock too long.
  function locked<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if ((error as { code?: unknown }).code === 'SQLITE_BUSY') {
        throw new TimeoutError(
          `the SQLite database stayed locked by another connection for more than busyTimeoutMs; retry or raise busyTimeoutMs`,
          { table },
        );
      }
      throw error;
    }
  }

  function decodeJson(text: string, namespace: string, id: string, column: string): unknown {
    return codec.decode(parseStoredJson(text, namespace, id, column, `SQLite table ${table}`, { table }));
  }

  function toDocument<V>(namespace: string, row: DocumentRow): StoredDocument<V> {
    const id = idFromKey(row.id_key);
    const storage =
      row.storage === null ? undefined : (decodeJson(row.storage, namespace, id, 'storage') as StorageInfo);
    const where = `SQLite table ${table}`;
    const text = unpackPayload(row.value, storage?.checksum, settings, { namespace, id, where });
    return {
      namespace,
      id,
      value: decodeJson(text, namespace, id, 'value') as V,
      revision: row.revision,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      ...(row.metadata !== null && {
        metadata: decodeJson(row.metadata, namespace, id, 'metadata') as Record<string, unknown>,
      }),
      ...(row.expires_at !== null && { expiresAt: row.expires_at }),
      ...(storage !== undefined && { storage }),
    };
  }

  function preparePut(namespace: string, id: string, value: unknown, opts?: PutOptions): PreparedPut {
    const encoded = codec.encode(value, valuePath(namespace, id));
    const packed = packPayload(JSON.stringify(encoded), settings);
    return {
      type: 'put',
      namespace,
      id,
      key: idKey(id),
      encoded,
      stored:
        packed.text ?? Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength),
      storage: packed.storage,
      ...(opts?.metadata && { metadata: codec.encode(opts.metadata) }),
      ...(opts && { options: opts }),
    };
  }

  // Runs inside a transaction: a conflict's actual revision is read under the same write lock.
  function applyPut(p: PreparedPut, t: number): WrittenFields {
    const expected = p.options?.expectedRevision;
    const expiresAt = p.options?.ttlMs !== undefined ? t + p.options.ttlMs : undefined;
    const metadata = p.metadata === undefined ? null : JSON.stringify(p.metadata);
    const storage = JSON.stringify(p.storage);
    let row: CurrentRow | undefined;
    if (expected === undefined || expected === 0) {
      const params: PutParams = [
        p.namespace,
        p.key,
        p.id,
        p.stored,
        t,
        t,
        metadata,
        expiresAt ?? null,
        storage,
      ];
      row = expected === 0 ? create.get(...params) : upsert.get(...params);
    } else {
      row = update.get(
        p.id,
        p.stored,
        t,
        metadata,
        expiresAt ?? null,
        storage,
        p.namespace,
        p.key,
        expected,
        t,
      );
    }
    if (row === undefined) {
      const actual = selectCurrent.get(p.namespace, p.key, t)?.revision ?? 0;
      throw revisionConflict(p.namespace, p.id, expected ?? 0, actual);
    }
    changes.record({ type: 'put', namespace: p.namespace, id: p.id, revision: row.revision }, t);
    return {
      revision: row.revision,
      createdAt: row.created_at,
      updatedAt: t,
      storage: p.storage,
      ...(expiresAt !== undefined && { expiresAt }),
    };
  }

  // Returns the deleted revision, 0 when there was no live document.
  function applyDelete(d: PreparedDelete, t: number): number {
    const revision = selectCurrent.get(d.namespace, d.key, t)?.revision ?? 0;
    checkRevision(d.namespace, d.id, d.options?.expectedRevision, revision);
    if (revision > 0) {
      deleteRow.run(d.namespace, d.key);
      changes.record({ type: 'delete', namespace: d.namespace, id: d.id, revision }, t);
    }
    return revision;
  }

  const sweepTransaction = db.transaction((t: number): ChangeEvent[] =>
    sweepDue.all(t, SWEEP_CHUNK).map((row) => {
      const event: ChangeEvent = {
        type: 'expire',
        namespace: row.namespace,
        id: idFromKey(row.id_key),
        revision: row.revision,
      };
      changes.record(event, t);
      return event;
    }),
  );
  const putTransaction = db.transaction(applyPut);
  const deleteTransaction = db.transaction(applyDelete);
  const batchTransaction = db.transaction((ops: Array<PreparedPut | PreparedDelete>, t: number) =>
    ops.map((op) => (op.type === 'put' ? applyPut(op, t) : applyDelete(op, t))),
  );

  async function sweep(): Promise<number> {
    if (closed) return 0;
    const t = now();
    let removed = 0;
    for (;;) {
      const events = locked(() => sweepTransaction.immediate(t));
      removed += events.length;
      for (const event of events) hub.emit(event);
      if (events.length < SWEEP_CHUNK) break;
    }
    locked(() => changes.prune(t - changeRetentionMs));
    return removed;
  }

  // A damaged page reached later (a read, a write, a sweep) is CORRUPT_STATE naming the file as well.
  return withCorruptionReports<DocumentStore>(
    {
      name: 'sqlite',

      async get<V>(namespace: string, id: string): Promise<StoredDocument<V> | undefined> {
        open();
        checkDocumentKey(namespace, id);
        const row = locked(() => selectDocument.get(namespace, idKey(id), now()));
        return row && toDocument<V>(namespace, row);
      },

      async getMany<V>(
        namespace: string,
        ids: readonly string[],
      ): Promise<Array<StoredDocument<V> | undefined>> {
        open();
        const t = now();
        return getManyInChunks<V>(namespace, ids, (chunk) => {
          const rows = locked(() => selectManyOf(chunk.length).all(namespace, ...chunk.map(idKey), t));
          return rows.map((row) => toDocument<V>(namespace, row));
        });
      },

      async put<V>(namespace: string, id: string, value: V, opts?: PutOptions): Promise<StoredDocument<V>> {
        open();
        checkDocumentKey(namespace, id);
        checkPutOptions(opts, namespace, id);
        const prepared = preparePut(namespace, id, value, opts);
        const written = locked(() => putTransaction.immediate(prepared, now()));
        hub.emit({ type: 'put', namespace, id, revision: written.revision });
        return putResult<V>(codec, namespace, id, written, prepared.encoded, prepared.metadata);
      },

      async touch(namespace: string, id: string, ttlMs: number): Promise<boolean> {
        open();
        checkDocumentKey(namespace, id);
        checkPutOptions({ ttlMs }, namespace, id);
        const t = now();
        return locked(() => touchRow.run(t + ttlMs, namespace, idKey(id), t)).changes > 0;
      },

      async delete(namespace: string, id: string, opts?: DeleteOptions): Promise<boolean> {
        open();
        checkDocumentKey(namespace, id);
        checkDeleteOptions(opts, namespace, id);
        const prepared: PreparedDelete = {
          type: 'delete',
          namespace,
          id,
          key: idKey(id),
          ...(opts && { options: opts }),
        };
        const revision = locked(() => deleteTransaction.immediate(prepared, now()));
        if (revision === 0) return false;
        hub.emit({ type: 'delete', namespace, id, revision });
        return true;
      },

      async listNamespaces(opts?: NamespaceListOptions): Promise<NamespacePage> {
        open();
        const { limit, after } = checkNamespaceList(opts);
        // One more than asked says whether another page exists, one more for the end marker (NULL).
        const rows = locked(() => namespacesAfter.all(after ?? '', limit + 2));
        const names = rows.flatMap((row) => (row.name === null ? [] : [row.name]));
        return pageOf(names, limit);
      },

      async list<V>(namespace: string, opts?: ListOptions): Promise<ListPage<V>> {
        open();
        const query = checkList(namespace, opts);
        const { limit, after } = query;
        const prefix = idKey(query.prefix);
        const afterKey = after === undefined ? undefined : idKey(after);
        const upper = prefix.length > 0 ? keyUpperBound(prefix) : undefined;
        const t = now();
        // The cursor is the bound when it is at or past the prefix (every key above it then has the prefix
        // or lies past the range, which `upper` cuts); otherwise the prefix is.
        const fromCursor = afterKey !== undefined && Buffer.compare(afterKey, prefix) >= 0;
        const lower = fromCursor ? afterKey : prefix;
        const statement = listStatement(fromCursor ? '>' : '>=', upper !== undefined, limit + 1);
        const rows = locked(() =>
          upper
            ? statement.all(namespace, lower, namespace, upper, t)
            : statement.all(namespace, lower, namespace, t),
        );
        const items = rows.slice(0, limit).map((row) => toDocument<V>(namespace, row));
        return rows.length > limit ? { items, cursor: encodeCursor(items[items.length - 1]!.id) } : { items };
      },

      async batch(operations: BatchOperation[]): Promise<BatchResult> {
        open();
        checkBatch(operations);
        const prepared = operations.map((op): PreparedPut | PreparedDelete =>
          op.type === 'put'
            ? preparePut(op.namespace, op.id, op.value, op.options)
            : {
                type: 'delete',
                namespace: op.namespace,
                id: op.id,
                key: idKey(op.id),
                ...(op.options && { options: op.options }),
              },
        );
        const outcomes = locked(() => batchTransaction.immediate(prepared, now()));
        const { results, events } = batchOutcome(
          operations,
          outcomes.map((outcome) => (typeof outcome === 'number' ? outcome : outcome.revision)),
        );
        for (const event of events) hub.emit(event);
        return { results };
      },

      async watch(namespace: string, listener: ChangeListener): Promise<Subscription> {
        open();
        checkWatchNamespace(namespace);
        const subscription = hub.subscribe(namespace, listener);
        changes.start();
        return {
          close: async () => {
            await subscription.close();
            if (!hub.active) changes.stop();
          },
        };
      },

      sweepExpired: async () => {
        open();
        return sweep();
      },

      async close(): Promise<void> {
        if (closed) return;
        closed = true;
        clearInterval(sweepTimer);
        changes.stop();
        hub.clear();
        if (owned) db.close();
      },
    },
    path,
  );
}
