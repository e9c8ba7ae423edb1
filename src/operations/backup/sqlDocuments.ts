/**
 * Document sections read from and restored into the SQL documents table directly (SQLite and
 * PostgreSQL), rather than through the DocumentStore interface:
 *
 * - a read runs on the caller's connection, so it belongs to the caller's snapshot (PostgreSQL: one
 *   REPEATABLE READ transaction with the rollout tables);
 * - a restore writes rows exactly as they were (revision, createdAt, updatedAt, expiresAt), streamed into
 *   multi-row INSERTs capped by rows and bytes, inside the caller's one transaction, so memory stays flat
 *   and the restore is all or nothing.
 *
 * Values are re-packed with the target's storage settings (compression, encryption), as the driver would
 * store them; `storage` (size, SHA-256, compression, key id) describes those bytes.
 */
import type { Codec, JsonValue } from '../../codec/index.ts';
import type { DriverOptions } from '../../drivers/index.ts';
import { type PayloadSettings, packPayload, unpackPayload } from '../../drivers/index.ts';
import { CorruptStateError, isAgentStateError } from '../../errors.ts';
import { idFromKey, idKey } from '../../shared/idKey.ts';
import type { SqlRunner } from '../sql.ts';
import type { DocumentRecord } from './documentSource.ts';
import type { SectionEntry } from './format.ts';
import type { RestorePlan, SourceRestoreResult } from './source.ts';

/** Which SQL documents table: SQLite keeps packed bytes in `value`, PostgreSQL in `value_bytes`. */
export type SqlDialect = 'sqlite' | 'postgres';

/** The storage options a source takes, as payload settings (validated by the driver opened beside it). */
export function storageSettings(
  storage: Pick<DriverOptions, 'compression' | 'compressAboveBytes' | 'verifyChecksums' | 'encryption'> = {},
): PayloadSettings {
  return {
    compression: storage.compression ?? 'none',
    compressAboveBytes: storage.compressAboveBytes ?? 1024,
    verifyChecksums: storage.verifyChecksums ?? false,
    encryption: storage.encryption,
  };
}

/** A stored row as both backends return it (PostgreSQL's BIGINT as text, bytes in `value_bytes`). */
export interface SqlDocumentRow {
  id_key: Uint8Array;
  value: string | Uint8Array | null;
  value_bytes?: Uint8Array | null;
  revision: number | string;
  created_at: number | string;
  updated_at: number | string;
  metadata: string | null;
  expires_at: number | string | null;
  storage: string | null;
}

/** Columns `documentRecordOfRow` reads. */
export const SQL_DOCUMENT_COLUMNS = {
  sqlite: 'id_key, value, revision, created_at, updated_at, metadata, expires_at, storage',
  postgres: 'id_key, value, value_bytes, revision, created_at, updated_at, metadata, expires_at, storage',
} as const;

/**
 * The backup record of a stored row. The stored JSON text is already the codec's tagged form, so the value
 * is parsed, not decoded and re-encoded; metadata is decoded as the driver returns it.
 */
export function documentRecordOfRow(
  row: SqlDocumentRow,
  namespace: string,
  where: string,
  settings: PayloadSettings,
  codec: Codec,
): DocumentRecord {
  const id = idFromKey(row.id_key);
  const storage = row.storage === null ? undefined : (JSON.parse(row.storage) as { checksum?: string });
  const stored = row.value ?? row.value_bytes ?? '';
  const text = unpackPayload(stored, storage?.checksum, settings, { namespace, id, where });
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new CorruptStateError(
      `the stored value of ${namespace}/${id} in ${where} is not JSON`,
      {
        namespace,
        id,
        where,
        reason: 'not-json',
      },
      { cause: error },
    );
  }
  const record: DocumentRecord = {
    id,
    value,
    revision: Number(row.revision),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
  if (row.metadata !== null)
    record.metadata = codec.decode(JSON.parse(row.metadata) as JsonValue) as Record<string, JsonValue>;
  if (row.expires_at !== null) record.expiresAt = Number(row.expires_at);
  return record;
}

/** Checks the shape of a record read from a verified backup (checksums do not prove the writer was sane). */
export function asDocumentRecord(raw: JsonValue, backup: string, section: string): DocumentRecord {
  const r = raw as Partial<DocumentRecord> | null;
  const integer = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n);
  if (
    !r ||
    typeof r !== 'object' ||
    typeof r.id !== 'string' ||
    !('value' in r) ||
    !integer(r.revision) ||
    !integer(r.createdAt) ||
    !integer(r.updatedAt) ||
    (r.expiresAt !== undefined && !integer(r.expiresAt))
  ) {
    throw new CorruptStateError(`backup ${backup} section ${section} holds a record that is not a document`, {
      backup,
      section,
      reason: 'bad-record',
    });
  }
  return r as DocumentRecord;
}

/**
 * The document records of a backup section, checked: each has a document's shape, ids strictly increase,
 * and the value decodes with the codec (an unknown type tag fails, naming backup, section and document).
 * Calls `plan.onRecord` for each; yields each record with its decoded value.
 */
export async function* checkedDocuments(
  plan: RestorePlan,
  section: SectionEntry,
  codec: Codec,
): AsyncIterable<{ record: DocumentRecord; value: unknown }> {
  let previous: string | undefined;
  for await (const raw of plan.records(section)) {
    const record = asDocumentRecord(raw, plan.backup, section.name);
    if (previous !== undefined && !(record.id > previous)) {
      throw new CorruptStateError(
        `backup ${plan.backup} section ${section.name} is not in id order at ${record.id}`,
        { backup: plan.backup, section: section.name, reason: 'order' },
      );
    }
    previous = record.id;
    plan.onRecord?.();
    let value: unknown;
    try {
      value = codec.decode(record.value, `$.${section.collection}.${record.id}`);
    } catch (error) {
      if (isAgentStateError(error)) {
        throw Object.assign(error, {
          message: `backup ${plan.backup} section ${section.name} document ${record.id}: ${error.message}`,
        });
      }
      throw error;
    }
    yield { record, value };
  }
}

/** Most rows and bytes of one multi-row INSERT: 500 rows x 10 columns stays far below 65,535 parameters. */
const INSERT_ROWS = 500;
const INSERT_BYTES = 4 * 1024 * 1024;

/** What `restoreSqlDocuments` needs besides the plan. */
export interface SqlDocumentTarget {
  sql: SqlRunner;
  dialect: SqlDialect;
  /** The documents table, as given to `sql.table()`. */
  table: string;
  settings: PayloadSettings;
  codec: Codec;
  /** Clock for skipping documents expired since the backup. */
  now: number;
  /** Where, for error messages (`schema x`, `SQLite table y`). */
  where: string;
}

/**
 * Applies document sections through `target.sql` inside the caller's transaction. `replace` clears each
 * restored namespace and inserts the backup's rows; `merge` compares each record with the stored row and
 * adds, keeps (reporting a conflict) or overwrites it. Every value is decoded first, so an unknown type
 * tag fails the restore (and the caller's transaction) before anything is committed.
 */
export async function restoreSqlDocuments(
  target: SqlDocumentTarget,
  plan: RestorePlan,
  sections: readonly SectionEntry[],
  result: SourceRestoreResult,
): Promise<void> {
  const { sql, dialect, settings, codec } = target;
  const table = sql.table(target.table);
  const columns =
    dialect === 'postgres'
      ? [
          'namespace',
          'id_key',
          'id',
          'value',
          'value_bytes',
          'revision',
          'created_at',
          'updated_at',
          'metadata',
          'expires_at',
          'storage',
        ]
      : [
          'namespace',
          'id_key',
          'id',
          'value',
          'revision',
          'created_at',
          'updated_at',
          'metadata',
          'expires_at',
          'storage',
        ];
  const one = `(${columns.map(() => '?').join(', ')})`;
  let params: unknown[] = [];
  let rows = 0;
  let bytes = 0;
  const flush = async () => {
    if (rows === 0) return;
    await sql.run(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: rows }, () => one).join(', ')}`,
      params,
    );
    params = [];
    rows = 0;
    bytes = 0;
  };
  for (const section of sections) {
    const namespace = section.collection;
    if (plan.mode === 'replace')
      result.deleted += await sql.run(`DELETE FROM ${table} WHERE namespace = ?`, [namespace]);
    for await (const { record } of checkedDocuments(plan, section, codec)) {
      // Expired since the backup: restoring it would only have it swept again.
      if (record.expiresAt !== undefined && record.expiresAt <= target.now) continue;
      const key = idKey(record.id);
      const text = JSON.stringify(record.value);
      const metadata = record.metadata === undefined ? null : JSON.stringify(codec.encode(record.metadata));
      if (plan.mode === 'merge') {
        const [current] = (await sql.all(
          `SELECT ${SQL_DOCUMENT_COLUMNS[dialect]} FROM ${table} WHERE namespace = ? AND id_key = ?`,
          [namespace, key],
        )) as unknown as SqlDocumentRow[];
        if (current) {
          const expired = current.expires_at !== null && Number(current.expires_at) <= target.now;
          if (!expired) {
            const existing = documentRecordOfRow(current, namespace, target.where, settings, codec);
            const same =
              JSON.stringify(existing.value) === text &&
              JSON.stringify(existing.metadata ?? null) === JSON.stringify(record.metadata ?? null) &&
              (existing.expiresAt ?? null) === (record.expiresAt ?? null);
            if (same) {
              result.unchanged++;
              continue;
            }
            result.conflicts.push({
              section: section.name,
              key: record.id,
              backupRevision: record.revision,
              currentRevision: existing.revision,
              overwritten: plan.overwrite,
            });
            if (!plan.overwrite) continue;
          }
          await flush();
          await sql.run(`DELETE FROM ${table} WHERE namespace = ? AND id_key = ?`, [namespace, key]);
        }
      }
      const packed = packPayload(text, settings);
      const stored =
        packed.text ?? Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength);
      const value =
        dialect === 'postgres' ? [packed.text ?? null, packed.text === undefined ? stored : null] : [stored];
      params.push(
        namespace,
        key,
        record.id,
        ...value,
        record.revision,
        record.createdAt,
        record.updatedAt,
        metadata,
        record.expiresAt ?? null,
        JSON.stringify(packed.storage),
      );
      rows++;
      bytes += packed.bytes.byteLength + (metadata?.length ?? 0) + record.id.length * 3;
      result.written++;
      if (rows >= INSERT_ROWS || bytes >= INSERT_BYTES) await flush();
    }
    await flush();
  }
}
