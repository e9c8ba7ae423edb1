/**
 * A minimal SQL runner over SQLite (better-sqlite3) and PostgreSQL (pg), so backup restores and
 * consistency checks write each rule once. Statements use `?` placeholders; the PostgreSQL runner numbers
 * them. Tables are named through `table()`, which qualifies them with the schema on PostgreSQL.
 */
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { quoteIdentifier } from '../shared/postgres/identifiers.ts';

/** Runs SQL with `?` placeholders (inside the caller's transaction, if any). */
export interface SqlRunner {
  /** Rows of a query. */
  all(sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** A statement; resolves to the number of rows changed. */
  run(sql: string, params: unknown[]): Promise<number>;
  /** The table's name as written in SQL (schema-qualified on PostgreSQL). */
  table(name: string): string;
}

/** A runner on a better-sqlite3 connection. */
export function sqliteRunner(db: Database.Database): SqlRunner {
  return {
    all: async (sql, params) => db.prepare(sql).all(...params) as Array<Record<string, unknown>>,
    run: async (sql, params) => db.prepare(sql).run(...params).changes,
    table: (name) => name,
  };
}

/** `?` placeholders to PostgreSQL's `$n` (statements here never hold a literal `?`). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** A runner on a pg client or pool, for tables in `schema` (already validated). */
export function postgresRunner(client: pg.PoolClient | pg.Pool, schema: string): SqlRunner {
  const s = quoteIdentifier(schema);
  return {
    all: async (sql, params) => (await client.query(numbered(sql), params)).rows,
    run: async (sql, params) => (await client.query(numbered(sql), params)).rowCount ?? 0,
    table: (name) => `${s}.${name}`,
  };
}
