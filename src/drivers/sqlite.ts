import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { InvalidInputError, TimeoutError } from '../errors.ts';
import { idFromKey, idKey, keyUpperBound } from '../shared/idKey.ts';
import { loadPackage } from '../shared/optionalPackage.ts';
import { reportSqliteCorruption } from '../shared/sqliteCorruption.ts';
import { createDocumentStore } from './kernel/documentStore.ts';
import { pageOf } from './kernel/pages.ts';
import type { StoredRow } from './kernel/storage.ts';
import type { OptionSchemaOf } from './shared/optionSchema.ts';
import { SqliteChangeLog } from './sqlite/changeLog.ts';
import {
  checkTableName,
  configureConnection,
  createSchema,
  type SqliteSynchronous,
} from './sqlite/schema.ts';
import { type SqliteRow, sqliteStatements } from './sqlite/statements.ts';
import { sqliteWriter } from './sqlite/writes.ts';
import type { DocumentStore, DriverOptions } from './types.ts';

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
  /**
   * How long a watching store's lease lasts without renewal (default 60000, or 4 x `watchPollMs` when
   * that is more; at least 4 x `watchPollMs`; renewed at half of it while it watches). Other processes
   * log their changes for it only while its lease is live; a watcher whose lease ran out is told to start
   * over (`onReset`).
   */
  watchLeaseMs?: number;
}

const SWEEP_CHUNK = 500;
/** The options of `createSqliteStore` beyond `DriverOptions`, by kind (the persistence config derives its own from them). */
export const SQLITE_STORE_OPTIONS = {
  path: 'string',
  database: 'code',
  table: 'string',
  synchronous: ['NORMAL', 'FULL'] satisfies SqliteSynchronous[],
  busyTimeoutMs: 'wholeNumber',
  watchPollMs: 'positiveWholeNumber',
  changeRetentionMs: 'positiveWholeNumber',
  watchLeaseMs: 'positiveWholeNumber',
} as const satisfies OptionSchemaOf<Omit<SqliteStoreOptions, keyof DriverOptions>>;

const SPEC = { name: 'sqlite', label: 'SQLite', options: SQLITE_STORE_OPTIONS };

// Rows selected by more than one id carry their id (see kernel/storage.ts).
const withId = (row: SqliteRow): StoredRow => {
  row.id = idFromKey(row.id_key);
  return row;
};

/**
 * A `DocumentStore` in one SQLite table (better-sqlite3, WAL, prepared statements). Compare-and-set and
 * batches run inside `BEGIN IMMEDIATE` transactions, so several processes can share one file: the write
 * lock is taken before the revision is read, and `busy_timeout` makes writers queue for it.
 *
 * `watch` delivers this store's own changes right after their commit, and changes committed by other
 * processes or connections on the same file within `watchPollMs` (see sqlite/changeLog.ts). Durability:
 * see `synchronous`; WAL with NORMAL survives `kill -9` of the process, FULL also survives power loss.
 * A damaged file is `CORRUPT_STATE` naming it, at open or when a call reaches a damaged page.
 */
export function createSqliteStore(options: SqliteStoreOptions = {}): DocumentStore {
  return createDocumentStore(SPEC, options, ({ hub, reportError }) => {
    const table = options.table ?? 'agentstate_documents';
    checkTableName(table);
    const watchPollMs = options.watchPollMs ?? 100;
    // A lease is renewed from the poll timer at half its length: it needs a few polls to live.
    const watchLeaseMs = options.watchLeaseMs ?? Math.max(60_000, 4 * watchPollMs);
    if (watchLeaseMs < 4 * watchPollMs) {
      throw new InvalidInputError(
        `createSqliteStore: watchLeaseMs (${watchLeaseMs}) must be at least 4 times watchPollMs (${watchPollMs})`,
        { watchLeaseMs, watchPollMs },
      );
    }
    const owned = options.database === undefined;
    const path = options.database?.name ?? options.path ?? DEFAULT_SQLITE_PATH;
    if (owned && path !== ':memory:' && !path.startsWith('file:'))
      mkdirSync(dirname(path), { recursive: true });
    const db =
      options.database ?? new (loadPackage<typeof Database>('better-sqlite3', 'createSqliteStore'))(path);
    let changes: SqliteChangeLog;
    let sql: ReturnType<typeof sqliteStatements>;
    try {
      configureConnection(db, options.synchronous ?? 'NORMAL', options.busyTimeoutMs ?? 5000);
      createSchema(db, table);
      const poll = (error: unknown) =>
        reportError(reportSqliteCorruption(error, path), 'change feed poll', { path });
      changes = new SqliteChangeLog(db, table, hub, watchPollMs, watchLeaseMs, poll);
      sql = sqliteStatements(db, table);
    } catch (error) {
      if (owned) db.close();
      // A damaged header or schema page shows here, at start-up: report it, never start over an empty file.
      throw reportSqliteCorruption(error, path);
    }
    // `getMany` statements by number of ids (at most GET_MANY_CHUNK, so the cache is bounded).
    const selectMany = new Map<number, Database.Statement<unknown[], SqliteRow>>();
    const changeRetentionMs = options.changeRetentionMs ?? 300_000;
    const sweepTransaction = changes.transaction((t: number) => {
      return sql.sweepDue.all(t, SWEEP_CHUNK).map((row) => {
        const event = {
          type: 'expire',
          namespace: row.namespace,
          id: idFromKey(row.id_key),
          revision: row.revision,
        } as const;
        changes.record(event, t);
        return event;
      });
    });
    return {
      where: `SQLite table ${table}`,
      whereDetails: { table },
      read: (namespace, id, now) => sql.select.get(namespace, idKey(id), now),
      readMany(namespace, ids, now) {
        let statement = selectMany.get(ids.length);
        if (statement === undefined) {
          statement = db.prepare<unknown[], SqliteRow>(sql.selectManySql(ids.length));
          selectMany.set(ids.length, statement);
        }
        return statement.all(namespace, ...ids.map(idKey), now).map(withId);
      },
      touch: (namespace, id, expiresAt, now) =>
        sql.touch.run(expiresAt, namespace, idKey(id), now).changes > 0,
      write: sqliteWriter(sql, changes),
      scan(namespace, { limit, after, prefix: idPrefix }, now) {
        const prefix = idKey(idPrefix);
        const afterKey = after === undefined ? undefined : idKey(after);
        const upper = prefix.length > 0 ? keyUpperBound(prefix) : undefined;
        // The cursor is the bound when it is at or past the prefix (every key above it then has the prefix
        // or lies past the range, which `upper` cuts); otherwise the prefix is.
        const fromCursor = afterKey !== undefined && Buffer.compare(afterKey, prefix) >= 0;
        const lower = fromCursor ? afterKey : prefix;
        const statement = sql.list(fromCursor ? '>' : '>=', upper !== undefined, limit + 1);
        const rows = upper
          ? statement.all(namespace, lower, namespace, upper, now)
          : statement.all(namespace, lower, namespace, now);
        return pageOf(rows.map(withId), limit, (row) => row.id!);
      },
      namespaces({ limit, after }) {
        // One more than asked says whether another page exists, one more for the end marker (NULL).
        const rows = sql.namespacesAfter.all(after ?? '', limit + 2);
        const names = rows.flatMap((row) => (row.name === null ? [] : [row.name]));
        return pageOf(names, limit, (name) => name);
      },
      sweep(now) {
        let removed = 0;
        for (;;) {
          const events = sweepTransaction.immediate(now);
          removed += events.length;
          for (const event of events) hub.emit(event);
          if (events.length < SWEEP_CHUNK) break;
        }
        changes.prune(now - changeRetentionMs);
        return removed;
      },
      startFeed: () => changes.start(),
      stopFeed: () => changes.stop(),
      failure: (error) => reportSqliteCorruption(busyTimeout(error, table), path),
      close() {
        changes.stop();
        if (owned) db.close();
      },
    };
  });
}

// SQLITE_BUSY after busy_timeout means another process held the write lock too long.
function busyTimeout(error: unknown, table: string): unknown {
  if ((error as { code?: unknown }).code !== 'SQLITE_BUSY') return error;
  return new TimeoutError(
    'the SQLite database stayed locked by another connection for more than busyTimeoutMs; retry or raise busyTimeoutMs',
    { table },
  );
}
