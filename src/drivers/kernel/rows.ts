import type { JsonValue } from '../../codec/index.ts';
import { parseStoredJson } from '../shared/documents.ts';
import { unpackPayload } from '../shared/payload.ts';
import type { StorageInfo, StoredDocument } from '../types.ts';
import type { DriverContext, StoredRow } from './storage.ts';

/** Turns a driver's rows into documents: parses stored text, verifies checksums, unpacks and decodes. */
export type RowReader = <V>(namespace: string, id: string, row: StoredRow) => StoredDocument<V>;

/**
 * The row reader of a store. A corrupt stored text is a `CorruptStateError` naming the document, the column
 * and `where` (plus `whereDetails`); the row is never changed.
 */
export function rowReader(
  { codec, settings }: DriverContext,
  where: string,
  whereDetails: Record<string, unknown>,
): RowReader {
  const parse = (text: string, namespace: string, id: string, column: string, place: string): JsonValue =>
    parseStoredJson(text, namespace, id, column, place, whereDetails);

  function decodeValue(
    namespace: string,
    id: string,
    row: StoredRow,
    checksum: string | undefined,
    place: string,
  ) {
    const { json } = row;
    // The common case of a driver that keeps the codec form: no text to parse, nothing to verify.
    if (json !== undefined && !(settings.verifyChecksums && checksum)) return codec.decode(json);
    const stored = row.stored ?? JSON.stringify(json);
    const text = unpackPayload(stored, checksum, settings, { namespace, id, where: place });
    return codec.decode(
      json !== undefined && typeof stored === 'string' ? json : parse(text, namespace, id, 'value', place),
    );
  }

  return <V>(namespace: string, id: string, row: StoredRow): StoredDocument<V> => {
    const place = row.where ?? where;
    const raw = row.storage;
    const lazy = typeof raw === 'function' ? raw : undefined;
    const storage =
      typeof raw === 'string'
        ? (parse(raw, namespace, id, 'storage', place) as unknown as StorageInfo)
        : raw && !lazy
          ? (raw as StorageInfo)
          : undefined;
    const checksum = settings.verifyChecksums ? (storage ?? lazy?.())?.checksum : undefined;
    const metadata = row.metadata;
    const doc = {
      namespace,
      id,
      value: decodeValue(namespace, id, row, checksum, place) as V,
      revision: row.revision,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      ...(metadata != null && {
        metadata: codec.decode(
          typeof metadata === 'string' ? parse(metadata, namespace, id, 'metadata', place) : metadata,
        ) as Record<string, unknown>,
      }),
      ...(row.expiresAt != null && { expiresAt: row.expiresAt }),
      ...(storage !== undefined && { storage }),
    };
    return lazy ? withLazyStorage(doc, lazy) : doc;
  };
}

/** Adds `storage` as an enumerable getter, so reading it (or spreading the document) computes it once. */
export function withLazyStorage<D extends object>(doc: D, storage: () => StorageInfo): D {
  return Object.defineProperty(doc, 'storage', { enumerable: true, configurable: true, get: storage });
}
