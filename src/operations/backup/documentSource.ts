/**
 * Any `DocumentStore` (memory, fs, SQLite, PostgreSQL) as a backup source, through the public interface only.
 *
 * Reads list each namespace a page at a time, so memory stays flat however large the store. Values are
 * written in the codec's tagged form, so Date, Map, BigInt, bytes and registered classes survive.
 *
 * A restore is one `batch()` per store, which every driver applies atomically (a transaction on SQLite and
 * PostgreSQL, a write-ahead journal on fs), so a failed or killed restore leaves the old state. Every
 * value is decoded before the batch is sent: an unknown type tag fails the restore with nothing written.
 * The price is that the batch is held in memory while it is applied. Restored documents get the store's
 * next revision (a restore is a write, so compare-and-set clients holding an old revision notice it);
 * their creation time is the restore's. For exact revisions and streaming restores, back up the whole
 * SQLite file or PostgreSQL schema instead (see ./sqliteSource.ts, ./postgresSource.ts).
 */
import { type Codec, codec as defaultCodec, type JsonValue } from '../../codec/index.ts';
import type { BatchOperation, DocumentStore, StoredDocument } from '../../drivers/index.ts';
import { CorruptStateError, isAgentStateError } from '../../errors.ts';
import type { SectionEntry } from './format.ts';
import {
  type BackupReadSession,
  type BackupSource,
  emptyRestoreResult,
  type RestorePlan,
  type SourceRestoreResult,
} from './source.ts';

/** A document as written in a backup section. */
export interface DocumentRecord {
  id: string;
  /** The value in the codec's tagged JSON form. */
  value: JsonValue;
  revision: number;
  createdAt: number;
  updatedAt: number;
  metadata?: Record<string, JsonValue>;
  expiresAt?: number;
}

/** Options of `documentStoreSource`. */
export interface DocumentStoreSourceOptions {
  /** The store. */
  store: DocumentStore;
  /** Namespaces to back up (the interface cannot enumerate them), or a function listing them. */
  namespaces: readonly string[] | (() => Promise<readonly string[]>);
  /** Source name in the backup (default `documents`). */
  name?: string;
  /** The codec the store uses (default: the package codec with its registered classes). */
  codec?: Codec;
  /** Clock for TTLs on restore (default `Date.now`). */
  now?: () => number;
}

/** Page size of reads: bounded memory, few round trips. */
const PAGE = 1000;

/** Every document of a namespace, a page at a time. */
export async function* documentsOf(store: DocumentStore, namespace: string): AsyncIterable<StoredDocument> {
  let cursor: string | undefined;
  do {
    const page = await store.list(namespace, { limit: PAGE, ...(cursor ? { cursor } : {}) });
    yield* page.items;
    cursor = page.cursor;
  } while (cursor);
}

/** A backup record for a stored document. */
export function documentRecord(doc: StoredDocument, codec: Codec): DocumentRecord {
  const record: DocumentRecord = {
    id: doc.id,
    value: codec.encode(doc.value, `$.${doc.namespace}.${doc.id}`),
    revision: doc.revision,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
  if (doc.metadata !== undefined) record.metadata = doc.metadata as Record<string, JsonValue>;
  if (doc.expiresAt !== undefined) record.expiresAt = doc.expiresAt;
  return record;
}

/** Whether the stored document already holds what the record holds (value, metadata, expiry). */
function sameDocument(current: DocumentRecord, record: DocumentRecord): boolean {
  return (
    JSON.stringify(current.value) === JSON.stringify(record.value) &&
    JSON.stringify(current.metadata ?? null) === JSON.stringify(record.metadata ?? null) &&
    (current.expiresAt ?? null) === (record.expiresAt ?? null)
  );
}

/** Checks the shape of a record read from a verified backup (checksums do not prove the writer was sane). */
function asDocumentRecord(raw: JsonValue, backup: string, section: string): DocumentRecord {
  const r = raw as Partial<DocumentRecord> | null;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string' || !('value' in r)) {
    throw new CorruptStateError(`backup ${backup} section ${section} holds a record that is not a document`, {
      backup,
      section,
      reason: 'bad-record',
    });
  }
  return r as DocumentRecord;
}

/** The store as a `BackupSource`. */
export function documentStoreSource(options: DocumentStoreSourceOptions): BackupSource {
  const { store } = options;
  const codec = options.codec ?? defaultCodec;
  const now = options.now ?? Date.now;
  const listNamespaces = async () =>
    [...(typeof options.namespaces === 'function' ? await options.namespaces() : options.namespaces)].sort();

  async function restoreSection(
    plan: RestorePlan,
    section: SectionEntry,
    ops: BatchOperation[],
    result: SourceRestoreResult,
  ): Promise<void> {
    const namespace = section.collection;
    // What the namespace holds now, to skip equal documents, find conflicts, and (replace) the deletions.
    const current = new Map<string, DocumentRecord>();
    for await (const doc of documentsOf(store, namespace)) current.set(doc.id, documentRecord(doc, codec));
    const seen = new Set<string>();
    const t = now();
    for await (const raw of plan.records(section)) {
      const record = asDocumentRecord(raw, plan.backup, section.name);
      seen.add(record.id);
      plan.onRecord?.();
      let value: unknown;
      try {
        value = codec.decode(record.value, `$.${namespace}.${record.id}`);
      } catch (error) {
        if (isAgentStateError(error)) {
          throw Object.assign(error, {
            message: `backup ${plan.backup} section ${section.name} document ${record.id}: ${error.message}`,
          });
        }
        throw error;
      }
      const existing = current.get(record.id);
      if (record.expiresAt !== undefined && record.expiresAt <= t) {
        // Expired since the backup: restoring it would only have it swept again.
        if (existing && plan.mode === 'replace') {
          ops.push({ type: 'delete', namespace, id: record.id });
          result.deleted++;
        }
        continue;
      }
      if (existing && sameDocument(existing, record)) {
        result.unchanged++;
        continue;
      }
      if (existing && plan.mode === 'merge') {
        result.conflicts.push({
          section: section.name,
          key: record.id,
          backupRevision: record.revision,
          currentRevision: existing.revision,
          overwritten: plan.overwrite,
        });
        if (!plan.overwrite) continue;
      }
      ops.push({
        type: 'put',
        namespace,
        id: record.id,
        value,
        options: {
          // Compare-and-set against what was read: a write landing meanwhile fails the batch, nothing applied.
          expectedRevision: existing?.revision ?? 0,
          ...(record.metadata !== undefined ? { metadata: record.metadata } : {}),
          ...(record.expiresAt !== undefined ? { ttlMs: record.expiresAt - t } : {}),
        },
      });
      result.written++;
    }
    if (plan.mode === 'replace') {
      for (const [id, doc] of current) {
        if (seen.has(id)) continue;
        ops.push({ type: 'delete', namespace, id, options: { expectedRevision: doc.revision } });
        result.deleted++;
      }
    }
  }

  return {
    name: options.name ?? 'documents',
    backend: store.name,
    holds: ['documents'],
    async openRead(): Promise<BackupReadSession> {
      return {
        sections: async () =>
          (await listNamespaces()).map((collection) => ({ kind: 'documents', collection })),
        async *records(section) {
          for await (const doc of documentsOf(store, section.collection))
            yield documentRecord(doc, codec) as unknown as JsonValue;
        },
        close: async () => {},
      };
    },
    async restore(plan) {
      const result = emptyRestoreResult();
      const ops: BatchOperation[] = [];
      for (const section of plan.sections) await restoreSection(plan, section, ops, result);
      if (ops.length > 0) await store.batch(ops);
      return result;
    },
  };
}
