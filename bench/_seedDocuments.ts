/**
 * Fills a SQL documents table (SQLite or PostgreSQL) with the rows the drivers write, by multi-row INSERTs
 * inside the caller's transaction: 500 rows a statement, where `store.batch()` sends one statement per
 * document (the 1 GB benchmark store, 620,000 documents, is seeded in 5 minutes on a loaded 2-core
 * machine, rollouts included). Each row is what the driver's own `put` stores: the value's tagged JSON
 * (through the codec), packed with the default storage settings (plain text, size and SHA-256 in
 * `storage`).
 */
import { codec } from '../src/codec/index.ts';
import { packPayload } from '../src/drivers/shared/payload.ts';
import { storageSettings } from '../src/operations/backup/sqlDocuments.ts';
import type { SqlRunner } from '../src/operations/sql.ts';
import { idKey } from '../src/shared/idKey.ts';

/** Rows per INSERT: 500 x 11 parameters, far below PostgreSQL's 65,535. */
const ROWS = 500;

/** A document to insert. */
export interface SeedDocument {
  namespace: string;
  id: string;
  value: unknown;
}

/** Writes `documents` (revision 1, no metadata or TTL), 500 rows per INSERT. */
export async function insertDocuments(
  sql: SqlRunner,
  dialect: 'sqlite' | 'postgres',
  table: string,
  documents: Iterable<SeedDocument>,
): Promise<void> {
  const columns = [
    'namespace',
    'id_key',
    'id',
    'value',
    ...(dialect === 'postgres' ? ['value_bytes'] : []),
    'revision',
    'created_at',
    'updated_at',
    'storage',
  ];
  const one = `(${columns.map(() => '?').join(', ')})`;
  const settings = storageSettings();
  const now = Date.now();
  let params: unknown[] = [];
  let rows = 0;
  const flush = async () => {
    if (rows === 0) return;
    await sql.run(
      `INSERT INTO ${sql.table(table)} (${columns.join(', ')}) VALUES ${Array.from({ length: rows }, () => one).join(', ')}`,
      params,
    );
    params = [];
    rows = 0;
  };
  for (const { namespace, id, value } of documents) {
    const packed = packPayload(JSON.stringify(codec.encode(value)), settings);
    params.push(namespace, idKey(id), id, packed.text);
    if (dialect === 'postgres') params.push(null);
    params.push(1, now, now, JSON.stringify(packed.storage));
    if (++rows >= ROWS) await flush();
  }
  await flush();
}
