import { idFromKey } from '../../shared/idKey.ts';
import type { StoredRow } from '../kernel/storage.ts';
import type { DocumentRow } from './statements.ts';

/** A row of the documents table as the shared layer reads it (pg returns BIGINT as a string). */
export function storedRow(row: DocumentRow & { id_key?: Buffer }): StoredRow {
  return {
    ...(row.id_key !== undefined && { id: idFromKey(row.id_key) }),
    stored: row.value ?? row.value_bytes ?? '',
    revision: Number(row.revision),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    metadata: row.metadata,
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    storage: row.storage,
  };
}

/** The WHERE clause and parameters of one page of `list` (see postgres.ts). */
export function listQuery(
  table: string,
  columns: string,
  namespace: string,
  now: number,
  after: Buffer | undefined,
  prefix: Buffer,
  upper: Buffer | undefined,
  limit: number,
): { text: string; values: unknown[] } {
  const values: unknown[] = [namespace, now];
  const where = ['namespace = $1', '(expires_at IS NULL OR expires_at > $2::bigint)'];
  if (after !== undefined) {
    values.push(after);
    where.push(`id_key > $${values.length}`);
  }
  if (prefix.length > 0) {
    // A key range: the primary key index finds the first match and stops after the last one.
    values.push(prefix);
    where.push(`id_key >= $${values.length}`);
    if (upper) {
      values.push(upper);
      where.push(`id_key < $${values.length}`);
    } else {
      where.push(`substring(id_key FROM 1 FOR ${prefix.length}) = $${values.length}`);
    }
  }
  values.push(limit + 1); // one more than asked says whether another page exists
  return {
    text: `SELECT id_key, ${columns} FROM ${table} WHERE ${where.join(' AND ')} ORDER BY id_key LIMIT $${values.length}`,
    values,
  };
}
