/**
 * Any `DocumentStore` (memory, fs, SQLite, PostgreSQL) as a backup source, through the public interface only.
 *
 * Reads list each namespace a page at a time, so memory stays flat however large the store. Values are
 * written in the codec's tagged form, so Date, Map, BigInt, bytes and registered classes survive.
 *
 * A restore is one `batch()` per store, which every driver applies atomically (a transaction on SQLite and
 * PostgreSQL, a write-ahead journal on fs), so a failed or killed restore leaves the old state. Every
 * value is decoded before the batch is sent: an unknown type tag fails the restore with nothing written.
 * The price is that the batch is held in memory while it is applied (the SQLite source writes a side
 * file in bounded batches instead and swaps it in, see `atomic`). Backup and store are read together in
 * id order (a merge join), so finding conflicts and removals holds one page of each, not the namespace. Restored documents get the store's
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
  /**
   * `true` (default): a restore is one `batch()`, all or nothing, held in memory while it is applied.
   * `false`: batches of 1000, memory flat; only for a store its caller swaps in atomically afterwards
   * (as the SQLite source does with its side file).
   */
  atomic?: boolean;
}

/** Operations per batch when `atomic` is false. */
const CHUNK = 1000;

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
  const atomic = options.atomic ?? true;
  const listNamespaces = async () =>
    [...(typeof options.namespaces === 'function' ? await options.namespaces() : options.namespaces)].sort();

  async function restoreSection(
    plan: RestorePlan,
    section: SectionEntry,
    apply: (op: BatchOperation) => Promise<void>,
    result: SourceRestoreResult,
  ): Promise<void> {
    const namespace = section.collection;
    // A merge join: the backup and the store both list ids in UTF-16 order, so one pass over each finds
    // equal documents, conflicts and (replace) the documents to remove, holding one page of each.
    const current = documentsOf(store, namespace)[Symbol.asyncIterator]();
    let head = await current.next();
    const removeHead = async () => {
      if (plan.mode === 'replace') {
        await apply({
          type: 'delete',
          namespace,
          id: head.value.id,
          options: { expectedRevision: head.value.revision },
        });
        result.deleted++;
      }
      head = await current.next();
    };
    let previous: string | undefined;
    const t = now();
    for await (const raw of plan.records(section)) {
      const record = asDocumentRecord(raw, plan.backup, section.name);
      if (previous !== undefined && !(record.id > previous)) {
        throw new CorruptStateError(
          `backup ${plan.backup} section ${section.name} is not in id order at ${record.id}`,
          {
            backup: plan.backup,
            section: section.name,
            reason: 'order',
          },
        );
      }
      previous = record.id;
      plan.onRecord?.();
      while (!head.done && head.value.id < record.id) await removeHead();
      let existing: DocumentRecord | undefined;
      if (!head.done && head.value.id === record.id) {
        existing = documentRecord(head.value, codec);
        head = await current.next();
      }
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
      if (record.expiresAt !== undefined && record.expiresAt <= t) {
        // Expired since the backup: restoring it would only have it swept again.
        if (existing && plan.mode === 'replace') {
          await apply({
            type: 'delete',
            namespace,
            id: record.id,
            options: { expectedRevision: existing.revision },
          });
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
      await apply({
        type: 'put',
        namespace,
        id: record.id,
        value,
        options: {
          // Compare-and-set against what was read: a write landing meanwhile fails the batch.
          expectedRevision: existing?.revision ?? 0,
          ...(record.metadata !== undefined ? { metadata: record.metadata } : {}),
          ...(record.expiresAt !== undefined ? { ttlMs: record.expiresAt - t } : {}),
        },
      });
      result.written++;
    }
    while (!head.done) await removeHead();
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
      let ops: BatchOperation[] = [];
      const flush = async () => {
        if (ops.length > 0) await store.batch(ops);
        ops = [];
      };
      const apply = async (op: BatchOperation) => {
        ops.push(op);
        if (!atomic && ops.length >= CHUNK) await flush();
      };
      for (const section of plan.sections) await restoreSection(plan, section, apply, result);
      await flush();
      return result;
    },
  };
}
