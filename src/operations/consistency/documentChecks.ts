/**
 * Checks of stored documents, read as raw rows so one bad value is one finding (a DocumentStore `list`
 * would throw for the whole page): stored checksums (part of the persistence strategy's storage info),
 * decryption and decompression with the driver's own reader, JSON and codec decoding (an unknown tag is
 * reported, never thrown),
 * registered module types, revision and time order, expired documents the sweep has not removed yet.
 */
import type { Codec, EncryptionKeys } from '../../codec/index.ts';
import { unpackPayload } from '../../drivers/index.ts';
import { isAgentStateError } from '../../errors.ts';
import type { ModuleTypeRegistry } from '../../modules/index.ts';
import type { SqlRunner } from '../sql.ts';
import type { Finding } from './report.ts';

/** A stored document row before decoding. */
export interface RawDocument {
  namespace: string;
  id: string;
  /** The stored value: its JSON text, or compressed/encrypted bytes (see drivers/shared/payload.ts). */
  value: string | Uint8Array;
  /** SHA-256 of the stored bytes, when the driver recorded one. */
  checksum?: string | undefined;
  revision: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
}

/** Rows per page of the scan. */
const PAGE = 1000;

/** Every document of a SQL documents table in (namespace, id) order, a page at a time. */
export async function* rawDocuments(
  sql: SqlRunner,
  table: string,
  namespace?: string,
): AsyncIterable<RawDocument> {
  let after: [string, unknown] | null = null;
  const where = namespace === undefined ? '' : 'namespace = ?';
  for (;;) {
    // A row-value comparison, which SQLite and PostgreSQL both turn into a seek on the (namespace, id_key)
    // key. The equivalent `namespace > ? OR (namespace = ? AND id_key > ?)` made SQLite scan the index from
    // its start on every page, so a full scan cost O(n^2) (a million documents took minutes).
    const conditions = [where, after ? '(namespace, id_key) > (?, ?)' : ''].filter(Boolean);
    const params: unknown[] = [
      ...(namespace === undefined ? [] : [namespace]),
      ...(after ? [after[0], after[1]] : []),
    ];
    // Every column: older tables lack `storage` (and, on PostgreSQL, `value_bytes`) until a driver migrates them.
    const rows = await sql.all(
      `SELECT * FROM ${sql.table(table)}
       ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY namespace, id_key LIMIT ${PAGE}`,
      params,
    );
    for (const row of rows) {
      const stored = (row.value ?? row.value_bytes) as string | Uint8Array;
      let checksum: string | undefined;
      try {
        checksum = row.storage
          ? (JSON.parse(String(row.storage)) as { checksum?: string }).checksum
          : undefined;
      } catch {
        checksum = undefined;
      }
      yield {
        namespace: String(row.namespace),
        id: String(row.id),
        value: typeof stored === 'string' ? stored : Buffer.from(stored),
        checksum,
        revision: Number(row.revision),
        createdAt: Number(row.created_at),
        updatedAt: Number(row.updated_at),
        expiresAt: row.expires_at === null ? null : Number(row.expires_at),
      };
    }
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1]!;
    after = [String(last.namespace), last.id_key];
  }
}

/** What the document checks need. */
export interface DocumentCheckContext {
  codec: Codec;
  /** Keys to read values encrypted at rest. */
  encryption?: EncryptionKeys | undefined;
  moduleTypes?: ModuleTypeRegistry | undefined;
  now: number;
  report(finding: Finding, severity: 'error' | 'warning'): void;
}

/** Checks one document; returns its decoded value (undefined when it could not be decoded). */
export function checkDocument(doc: RawDocument, ctx: DocumentCheckContext): unknown {
  const where = { namespace: doc.namespace, id: doc.id };
  if (!Number.isInteger(doc.revision) || doc.revision < 1) {
    ctx.report(
      {
        kind: 'bad-revision',
        document: where,
        message: `revision ${doc.revision} is not a positive integer`,
        fix: 'rewrite the document (a put sets a valid revision) or restore it from a backup',
        repairable: false,
      },
      'error',
    );
  }
  if (doc.updatedAt < doc.createdAt) {
    ctx.report(
      {
        kind: 'time-order',
        document: where,
        message: `updatedAt ${doc.updatedAt} is before createdAt ${doc.createdAt}`,
        fix: 'check the clocks of the writers; rewrite the document',
        repairable: false,
      },
      'warning',
    );
  }
  if (doc.expiresAt !== null && doc.expiresAt <= ctx.now) {
    ctx.report(
      {
        kind: 'expired-not-swept',
        document: where,
        message: `expired at ${new Date(doc.expiresAt).toISOString()} but still stored`,
        fix: 'run the sweep (repair does)',
        repairable: true,
      },
      'warning',
    );
  }
  let text: string;
  try {
    // The driver's own reader: checksum first, then decryption and decompression as the bytes say.
    text = unpackPayload(
      doc.value,
      doc.checksum,
      { compression: 'none', compressAboveBytes: 0, verifyChecksums: true, encryption: ctx.encryption },
      { namespace: doc.namespace, id: doc.id, where: 'the documents table' },
    );
  } catch (error) {
    const mismatch = isAgentStateError(error) && error.details.reason === 'checksum-mismatch';
    ctx.report(
      {
        kind: mismatch ? 'checksum-mismatch' : 'corrupt-value',
        document: where,
        message: (error as Error).message,
        fix: mismatch
          ? 'restore the document from a backup (its stored bytes changed after they were written)'
          : 'give the encryption keys it was written with, or restore the document from a backup',
        repairable: false,
      },
      'error',
    );
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    ctx.report(
      {
        kind: 'corrupt-value',
        document: where,
        message: 'the stored value is not JSON',
        fix: 'restore the document from a backup',
        repairable: false,
      },
      'error',
    );
    return undefined;
  }
  let value: unknown;
  try {
    value = ctx.codec.decode(json, `$.${doc.namespace}.${doc.id}`);
  } catch (error) {
    const unknownType = isAgentStateError(error, 'UNKNOWN_TYPE');
    ctx.report(
      {
        kind: unknownType ? 'unknown-type' : 'corrupt-value',
        document: where,
        message: (error as Error).message,
        fix: unknownType
          ? 'register the type with codec.register before reading it'
          : 'restore the document from a backup',
        repairable: false,
      },
      'error',
    );
    return undefined;
  }
  const envelope = value as { type?: unknown; version?: unknown; state?: unknown } | null;
  if (
    ctx.moduleTypes &&
    envelope !== null &&
    typeof envelope === 'object' &&
    typeof envelope.type === 'string' &&
    typeof envelope.version === 'number' &&
    typeof envelope.state === 'object' &&
    !ctx.moduleTypes.has(envelope.type)
  ) {
    ctx.report(
      {
        kind: 'unknown-module-type',
        document: where,
        message: `saved module of type '${envelope.type}' is not registered`,
        fix: `call registerModuleType('${envelope.type}', ...) before loading it`,
        repairable: false,
      },
      'error',
    );
  }
  return value;
}
