import type Database from 'better-sqlite3';
import type { Written } from '../kernel/storage.ts';
import { dueRowsSql } from './schema.ts';

/** A document row as selected: named as the shared layer reads rows (kernel/storage.ts `StoredRow`). */
export interface SqliteRow {
  id_key: Buffer;
  id?: string;
  stored: string | Buffer;
  revision: number;
  createdAt: number;
  updatedAt: number;
  metadata: string | null;
  expiresAt: number | null;
  storage: string | null;
}

/** Parameters of a put: namespace, key, id, value, created, updated, metadata, expiry, storage. */
export type PutParams = [
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

const COLUMNS =
  'id_key, value AS stored, revision, created_at AS createdAt, updated_at AS updatedAt, metadata, expires_at AS expiresAt, storage';
const LIVE = '(expires_at IS NULL OR expires_at > ?)';
// An expired row counts as absent: a put over it restarts at revision 1.
const EXPIRED = '(expires_at IS NOT NULL AND expires_at <= excluded.updated_at)';

/** The SQLite driver's prepared statements on `table`: each is parsed and planned once per store. */
export function sqliteStatements(db: Database.Database, table: string) {
  // A put is one statement that computes the new revision itself and returns it (a read before the write
  // would be a second statement per document).
  const insertPut = `INSERT INTO ${table} (namespace, id_key, id, value, revision, created_at, updated_at, metadata, expires_at, storage)
     VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
     ON CONFLICT (namespace, id_key) DO UPDATE SET id = excluded.id, value = excluded.value,
       revision = CASE WHEN ${EXPIRED} THEN 1 ELSE revision + 1 END,
       created_at = CASE WHEN ${EXPIRED} THEN excluded.created_at ELSE created_at END,
       updated_at = excluded.updated_at, metadata = excluded.metadata, expires_at = excluded.expires_at,
       storage = excluded.storage`;
  const returning = 'RETURNING revision, created_at AS createdAt';
  // A listing's lower bound is ONE condition, the tighter of the prefix (`>=`) and the cursor (`>`), picked
  // per call. Given both (`id_key >= ? AND id_key > ?`), SQLite seeks to the first and filters the second
  // row by row, so every page re-read the namespace from the prefix up to the cursor: paging through a
  // namespace cost O(n^2) (the pages of a 150,000-document namespace took ~0.5 s each near its end).
  // Bounds are row values on (namespace, id_key) and the LIMIT is a literal: better-sqlite3's SQLite is
  // built with STAT4, which re-prepares a statement on every call when a bound `namespace = ?` meets the
  // ORDER BY or the LIMIT is a parameter (~10 us per listing, more than the read itself). One statement per
  // (bounds, limit); the few limits callers use keep the cache small, and it is cleared if they do not.
  const lists = new Map<string, Database.Statement<unknown[], SqliteRow>>();
  function list(lower: '>=' | '>', bounded: boolean, limit: number) {
    const key = `${lower}${bounded}${limit}`;
    let statement = lists.get(key);
    if (statement === undefined) {
      if (lists.size >= 64) lists.clear();
      statement = db.prepare<unknown[], SqliteRow>(
        `SELECT ${COLUMNS} FROM ${table} WHERE (namespace, id_key) ${lower} (?, ?)
         AND ${bounded ? '(namespace, id_key) < (?, ?)' : 'namespace <= ?'}
         AND ${LIVE} ORDER BY namespace, id_key LIMIT ${limit}`,
      );
      lists.set(key, statement);
    }
    return statement;
  }
  return {
    select: db.prepare<[string, Buffer, number], SqliteRow>(
      `SELECT ${COLUMNS} FROM ${table} WHERE namespace = ? AND id_key = ? AND ${LIVE}`,
    ),
    selectManySql: (count: number) =>
      `SELECT ${COLUMNS} FROM ${table} WHERE namespace = ? AND id_key IN (${new Array(count).fill('?').join(', ')}) AND ${LIVE}`,
    current: db.prepare<[string, Buffer, number], Written>(
      `SELECT revision, created_at AS createdAt FROM ${table} WHERE namespace = ? AND id_key = ? AND ${LIVE}`,
    ),
    upsert: db.prepare<PutParams, Written>(`${insertPut} ${returning}`),
    // expectedRevision 0: writes only over nothing or an expired row; no row returned means a conflict.
    create: db.prepare<PutParams, Written>(`${insertPut} WHERE ${EXPIRED} ${returning}`),
    // expectedRevision n: writes only over live revision n; no row returned means a conflict.
    update: db.prepare<
      [string, string | Buffer, number, string | null, number | null, string, string, Buffer, number, number],
      Written
    >(
      `UPDATE ${table} SET id = ?, value = ?, revision = revision + 1, updated_at = ?, metadata = ?, expires_at = ?,
         storage = ? WHERE namespace = ? AND id_key = ? AND revision = ? AND ${LIVE} ${returning}`,
    ),
    delete: db.prepare<[string, Buffer], void>(`DELETE FROM ${table} WHERE namespace = ? AND id_key = ?`),
    touch: db.prepare<[number, string, Buffer, number], void>(
      `UPDATE ${table} SET expires_at = ? WHERE namespace = ? AND id_key = ? AND ${LIVE}`,
    ),
    /** The listing statement of a lower bound (`>=` prefix or `>` cursor), an upper bound or none, a limit. */
    list,
    // Namespaces by a loose index scan: each step seeks the primary key to the next namespace, so a page
    // costs one seek per namespace however many documents each holds. Namespaces are ASCII (see
    // validate.ts), so SQLite's byte order is JavaScript's string order. The LIMIT bounds the recursion.
    namespacesAfter: db.prepare<[string, number], { name: string | null }>(
      `WITH RECURSIVE ns(name) AS (
         SELECT (SELECT namespace FROM ${table} WHERE namespace > ? ORDER BY namespace LIMIT 1)
         UNION ALL
         SELECT (SELECT namespace FROM ${table} WHERE namespace > ns.name ORDER BY namespace LIMIT 1)
         FROM ns WHERE ns.name IS NOT NULL
         LIMIT ?
       ) SELECT name FROM ns`,
    ),
    // Reads only due rows through the partial expires_at index; chunked to keep each write lock short.
    sweepDue: db.prepare<[number, number], { namespace: string; id_key: Buffer; revision: number }>(
      `DELETE FROM ${table} WHERE rowid IN (${dueRowsSql(table)}) RETURNING namespace, id_key, revision`,
    ),
  };
}

/** The statements of one store (see sqliteStatements). */
export type SqliteStatements = ReturnType<typeof sqliteStatements>;
