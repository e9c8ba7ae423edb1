import { AgentStateError } from '../../errors.ts';
import type { DocumentStore, StoredDocument } from '../types.ts';

/**
 * Restarts the time to live of `doc` (expires `ttlMs` from now): the driver's `touch` where it has one
 * (the expiry alone is written), else the document is written again with compare-and-set on the revision
 * read. A write that came in between already set its own expiry, so losing to it is no failure.
 */
export async function touchExpiry(store: DocumentStore, doc: StoredDocument, ttlMs: number): Promise<void> {
  if (store.touch !== undefined) {
    await store.touch(doc.namespace, doc.id, ttlMs);
    return;
  }
  try {
    await store.put(doc.namespace, doc.id, doc.value, {
      ttlMs,
      expectedRevision: doc.revision,
      ...(doc.metadata !== undefined && { metadata: { ...doc.metadata } }),
    });
  } catch (error) {
    if (!(error instanceof AgentStateError && error.code === 'REVISION_CONFLICT')) throw error;
  }
}
