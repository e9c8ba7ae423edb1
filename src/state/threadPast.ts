/**
 * A thread's state at a past save, rebuilt from the current state and the values later saves replaced.
 * Each save with changes keeps what it replaced (`ReplacedValues`: in its history record when small,
 * else one document beside it, removed with it by retention): undoing the saves from the head down to a
 * revision gives that revision's state. A revision whose later saves are not all undoable (retention
 * removed a record, `compact` ended the history, a save of an earlier release kept none, a patch does not
 * fit) is answered as not retained, never with a state that was not there.
 */
import { type JsonValue, setOwn } from '../codec/index.ts';
import type { DocumentStore } from '../drivers/index.ts';
import type { ReplacedValues } from './threadDelta.ts';
import { historyId, readHistoryDoc, revisionOf } from './threadHistory.ts';
import type { ThreadRevision } from './threadRepository.ts';
import { applyUndoPatch, type UndoPatch } from './undoPatch.ts';

/** Saves whose records are read at once while walking back. */
const CONCURRENCY = 10;

/** A thread's state at one saved revision, or why it cannot be rebuilt. */
export type ThreadStateAt =
  | {
      /** The save asked for. */
      documentRevision: number;
      retained: true;
      /** State revision saved. */
      revision: number;
      /** Save time, epoch milliseconds. */
      savedAt: number;
      /** The persisted keys' encoded values at that save. */
      extensions: Record<string, JsonValue>;
    }
  | {
      /** The save asked for. */
      documentRevision: number;
      retained: false;
      /** The oldest save whose state can be rebuilt (the head when none before it can). */
      oldestRetained: number;
    };

/** Where the walk reads: the history and replaced-values namespaces, and the head it starts from. */
export interface PastSource {
  documents: DocumentStore;
  history: string;
  replaced: string;
  threadId: string;
  head: {
    documentRevision: number;
    revision: number;
    savedAt: number;
    extensions: Record<string, JsonValue>;
  };
}

/**
 * The states at `wanted` saves (each at most the head), in the order asked. Reads the history records and
 * replaced values of the saves after the oldest one wanted, newest first, going no further back than
 * `maxSaves` below the head (older ones are answered as not retained).
 */
export async function statesAt(
  source: PastSource,
  wanted: readonly number[],
  maxSaves: number,
): Promise<ThreadStateAt[]> {
  const { head } = source;
  const found = new Map<number, ThreadStateAt>();
  const state: Record<string, JsonValue> = { ...head.extensions };
  if (wanted.includes(head.documentRevision)) {
    found.set(head.documentRevision, { retained: true, ...head, extensions: { ...state } });
  }
  const lowest = Math.max(Math.min(...wanted), head.documentRevision - maxSaves, 1);
  let oldest = head.documentRevision;
  // What undoing the save above the one being read takes (undefined: it cannot be undone).
  let undoAbove: ReplacedValues | undefined;
  walk: for (let next = head.documentRevision; next >= lowest; ) {
    const saves: number[] = [];
    for (; saves.length < CONCURRENCY && next >= lowest; next -= 1) saves.push(next);
    const read = await Promise.all(saves.map((save) => readSave(source, save, save > lowest)));
    for (const [i, save] of saves.entries()) {
      const { record, undo } = read[i]!;
      if (record === undefined) break walk;
      if (save < head.documentRevision) {
        if (undoAbove === undefined || !applyUndo(state, undoAbove)) break walk;
        oldest = save;
        if (wanted.includes(save)) {
          const { revision, savedAt } = record;
          found.set(save, {
            documentRevision: save,
            retained: true,
            revision,
            savedAt,
            extensions: { ...state },
          });
        }
      }
      undoAbove = undo;
    }
  }
  return wanted.map(
    (documentRevision) =>
      found.get(documentRevision) ?? { documentRevision, retained: false, oldestRetained: oldest },
  );
}

// A save's history record and what undoing it takes (kept in the record when small, in a document of its
// own otherwise; nothing for a save that changed no key); `undo` is undefined when its replaced values
// are gone, or not wanted.
async function readSave(
  source: PastSource,
  save: number,
  wantUndo: boolean,
): Promise<{ record: ThreadRevision | undefined; undo: ReplacedValues | undefined }> {
  const doc = await readHistoryDoc(source.documents, source.history, source.threadId, save);
  if (doc === undefined) return { record: undefined, undo: undefined };
  const record = revisionOf(save, doc);
  if (!wantUndo) return { record, undo: undefined };
  if (doc.undo !== undefined) return { record, undo: doc.undo };
  if (record.changed.length === 0 && record.appended.length === 0) {
    return { record, undo: { before: {}, created: [], lengths: {} } };
  }
  // A replaced-values document has its save's history record's id, in its own namespace.
  const id = historyId(source.threadId, save);
  return { record, undo: (await source.documents.get<ReplacedValues>(source.replaced, id))?.value };
}

// Turns `state` (after a save) into the state before it; false when the record does not fit the state.
function applyUndo(state: Record<string, JsonValue>, undo: ReplacedValues): boolean {
  for (const key of undo.created) delete state[key];
  for (const key of Object.keys(undo.before)) setOwn(state, key, undo.before[key] as JsonValue);
  const patches = undo.patches ?? {};
  for (const key of Object.keys(patches)) {
    const now = Object.hasOwn(state, key) ? state[key] : undefined;
    let before: JsonValue | undefined;
    try {
      before = now === undefined ? undefined : applyUndoPatch(now, patches[key] as UndoPatch);
    } catch {
      // A record of a shape this release does not know: the save cannot be undone.
      before = undefined;
    }
    if (before === undefined) return false;
    setOwn(state, key, before);
  }
  for (const key of Object.keys(undo.lengths)) {
    const list = state[key];
    if (!Array.isArray(list)) return false;
    setOwn(state, key, list.slice(0, undo.lengths[key]));
  }
  return true;
}
