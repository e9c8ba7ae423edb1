/**
 * Reading a thread's history records a page at a time, newest first. Records are stored one document per
 * save under `<thread part><revision suffix>` and revisions are consecutive (retention removes the oldest),
 * so a page is read by id, going down from a revision, without listing the thread's whole history.
 */
import type { DocumentStore } from '../drivers/index.ts';
import { part, revisionSuffix } from '../shared/idParts.ts';
import type { ReplacedValues } from './threadDelta.ts';
import type { ThreadRevision } from './threadRepository.ts';

/** Reads done at once while paging. */
const CONCURRENCY = 10;

/** The stored form of one history record. */
export interface HistoryDoc {
  revision: number;
  savedAt: number;
  changed: string[];
  appended: string[];
  /**
   * What the save replaced, when that is small (a few reverse patches, old lengths): kept in the record
   * itself, one document per save. Larger ones, and those of earlier releases, are a document of their
   * own in the replaced-values namespace (see threadPast.ts).
   */
  undo?: ReplacedValues;
}

/** The id of a save's history record (and of its replaced-values document, in another namespace). */
export function historyId(threadId: string, documentRevision: number): string {
  return part(threadId) + revisionSuffix(documentRevision);
}

/** A stored history record as `history` lists it. */
export function revisionOf(documentRevision: number, doc: HistoryDoc): ThreadRevision {
  const { revision, savedAt, changed, appended } = doc;
  return { documentRevision, revision, savedAt, changed, appended };
}

/** One save's stored history record in `namespace`, or undefined when it does not exist (any more). */
export async function readHistoryDoc(
  documents: DocumentStore,
  namespace: string,
  threadId: string,
  documentRevision: number,
): Promise<HistoryDoc | undefined> {
  return (await documents.get<HistoryDoc>(namespace, historyId(threadId, documentRevision)))?.value;
}

/** One revision's record in `namespace`, or undefined when it does not exist (any more). */
export async function readRevision(
  documents: DocumentStore,
  namespace: string,
  threadId: string,
  documentRevision: number,
): Promise<ThreadRevision | undefined> {
  const doc = await readHistoryDoc(documents, namespace, threadId, documentRevision);
  return doc === undefined ? undefined : revisionOf(documentRevision, doc);
}

/**
 * Up to `limit` revisions below `before`, newest first; stops at the first one missing (removed by
 * retention, or before a delete), as every older one is gone too.
 */
export async function readRevisionsBefore(
  documents: DocumentStore,
  namespace: string,
  threadId: string,
  before: number,
  limit: number,
): Promise<ThreadRevision[]> {
  const revisions: ThreadRevision[] = [];
  for (let next = before - 1; next >= 1 && revisions.length < limit; ) {
    const wanted: number[] = [];
    for (; wanted.length < Math.min(CONCURRENCY, limit - revisions.length) && next >= 1; next -= 1) {
      wanted.push(next);
    }
    const read = await Promise.all(wanted.map((rev) => readRevision(documents, namespace, threadId, rev)));
    for (const revision of read) {
      if (revision === undefined) return revisions;
      revisions.push(revision);
    }
  }
  return revisions;
}
