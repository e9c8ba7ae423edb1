import { planWrites } from '../kernel/revisions.ts';
import type { PutOp, WriteOp, Written } from '../kernel/storage.ts';
import { batchOutcome } from '../shared/documents.ts';
import type { FsCore } from './core.ts';
import type { IndexEntry } from './documentIndex.ts';
import { DOCUMENT_FORMAT, type DocumentHeader, formatDocument } from './envelope.ts';

const keyOf = (op: WriteOp) => `${op.namespace}\0${op.id}`;

// The file of a put: the header line, then the value's JSON text or its packed bytes as a base64 string.
function fileOf(op: PutOp, entry: IndexEntry, now: number): string {
  const packed = op.packed!;
  const header: DocumentHeader = {
    format: DOCUMENT_FORMAT,
    namespace: op.namespace,
    id: op.id,
    revision: entry.revision,
    createdAt: entry.createdAt,
    updatedAt: now,
    ...(op.metadata !== undefined && { metadata: op.metadata }),
    ...(entry.expiresAt !== undefined && { expiresAt: entry.expiresAt }),
    storage: packed.storage,
  };
  return formatDocument(header, packed.text ?? JSON.stringify(Buffer.from(packed.bytes).toString('base64')));
}

/**
 * The filesystem driver's `write`, under the locks of every touched document: compare-and-set against
 * the in-memory index, then one atomic file write (or delete), or for several operations the final state
 * of every touched document through the write-ahead journal, all or nothing. Events go to the directory's
 * change feed, which every handle on the directory in this process delivers to its watchers.
 */
export async function writeFiles(core: FsCore, ops: readonly WriteOp[], now: number): Promise<Written[]> {
  if (core.failure) throw core.failure;
  const release = await core.mutex.lock(ops.map(keyOf));
  let written: Written[];
  try {
    if (core.failure) throw core.failure;
    written = planWrites(ops, now, core.index);
    // The final state of each touched document: its entry and file, or null when deleted.
    const finals = new Map<string, { op: WriteOp; entry: IndexEntry | null; content: string | null }>();
    ops.forEach((op, i) => {
      const { revision, createdAt } = written[i]!;
      if (op.type === 'put') {
        const entry = { revision, createdAt, ...(op.expiresAt !== undefined && { expiresAt: op.expiresAt }) };
        finals.set(keyOf(op), { op, entry, content: fileOf(op, entry, now) });
      } else if (revision > 0) {
        finals.set(keyOf(op), { op, entry: null, content: null });
      }
    });
    const changes = [...finals.values()];
    const only = ops.length === 1 ? changes[0] : undefined;
    if (only?.content) await core.writeDocument(only.op.namespace, only.op.id, only.content);
    else if (only) await core.deleteDocument(only.op.namespace, only.op.id);
    else if (changes.length > 0) {
      await core.commitBatch(
        changes.map(({ op, content }) => ({ namespace: op.namespace, id: op.id, content })),
      );
    }
    for (const { op, entry } of changes) {
      if (entry) core.index.set(op.namespace, op.id, entry);
      else core.index.remove(op.namespace, op.id);
    }
  } finally {
    release();
  }
  const { events } = batchOutcome(
    ops,
    written.map((w) => w.revision),
  );
  for (const event of events) core.hub.emit(event);
  return written;
}

/** Removes the due documents (the index's expiry heap gives them without reading any file); returns how many. */
export async function sweepFiles(core: FsCore, now: number): Promise<number> {
  let removed = 0;
  for (let item = core.expiries.popDue(now); item; item = core.expiries.popDue(now)) {
    const { namespace, id, at } = item;
    // Stale heap items (rewritten with another expiry, or deleted) are skipped.
    if (core.index.entry(namespace, id)?.expiresAt !== at) continue;
    const release = await core.mutex.lock([`${namespace}\0${id}`]);
    try {
      const entry = core.index.entry(namespace, id);
      if (entry?.expiresAt !== at) continue;
      await core.deleteDocument(namespace, id);
      core.index.remove(namespace, id);
      removed++;
      core.hub.emit({ type: 'expire', namespace, id, revision: entry.revision });
    } finally {
      release();
    }
  }
  return removed;
}
