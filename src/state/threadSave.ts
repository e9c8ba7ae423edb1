/**
 * The batch of one delta save of a thread: the changed values (and the deletes of those they replace), the
 * record of what the save replaced, its history record and the head, written with compare-and-set on the
 * head's revision, all in one atomic batch.
 */
import type { JsonValue } from '../codec/index.ts';
import type { BatchOperation, BatchResult, DocumentStore } from '../drivers/index.ts';
import { UnsupportedValueError } from '../errors.ts';
import type { PersistedState } from './persisted.ts';
import {
  type DeltaPlan,
  type ThreadBase,
  toStoredHead,
  UNDO_IN_HISTORY_CHARS,
  valueId,
  wholeReplaced,
} from './threadDelta.ts';
import { type HistoryDoc, historyId } from './threadHistory.ts';

/** Where a repository keeps its threads: heads, values, history records and replaced values. */
export interface ThreadNamespaces {
  head: string;
  values: string;
  history: string;
  replaced: string;
}

/** One save to write: the plan made over `base`, at document revision `rev` over `expected`. */
export interface ThreadSave {
  namespaces: ThreadNamespaces;
  threadId: string;
  expected: number;
  rev: number;
  state: PersistedState;
  plan: DeltaPlan;
  base: ThreadBase;
  savedAt: number;
}

type UndoPlace = 'history' | 'document' | 'none';

/**
 * Writes a save's batch. What the save replaced goes in its history record when small, else in a document
 * of its own holding the old values whole (the form earlier releases read). A value nested almost as deep
 * as values may be can be too deep once wrapped in that record (the codec refuses the batch, nothing is
 * written): the record is tried in its own document (two levels above the values), then the save goes
 * without it and `statesAt` answers the revisions before it as not retained.
 */
export async function writeSave(documents: DocumentStore, save: ThreadSave): Promise<BatchResult> {
  const { plan } = save;
  // A save that changed nothing needs no record; without a head the base's values are unknown.
  const undo =
    plan.replaced !== undefined && plan.changed.length + plan.appended.length > 0 ? plan.replaced : undefined;
  const places: UndoPlace[] =
    undo === undefined
      ? ['none']
      : plan.replacedChars <= UNDO_IN_HISTORY_CHARS
        ? ['history', 'document', 'none']
        : ['document', 'none'];
  for (let i = 0; ; i += 1) {
    try {
      return await documents.batch(operations(save, places[i] as UndoPlace));
    } catch (error) {
      const tooDeep = error instanceof UnsupportedValueError && error.details.maxDepth !== undefined;
      if (i === places.length - 1 || !tooDeep) throw error;
    }
  }
}

// The batch with the record of what the save replaced in `place`.
function operations(save: ThreadSave, place: UndoPlace): BatchOperation[] {
  const { namespaces, threadId, expected, rev, state, plan, base, savedAt } = save;
  const operations: BatchOperation[] = plan.writes.map((write) =>
    write.value === undefined
      ? { type: 'delete', namespace: namespaces.values, id: valueId(threadId, write.key, write.rev) }
      : {
          type: 'put',
          namespace: namespaces.values,
          id: valueId(threadId, write.key, write.rev),
          value: write.value,
        },
  );
  const history: HistoryDoc = {
    revision: state.revision,
    savedAt,
    changed: plan.changed,
    appended: plan.appended,
  };
  if (place === 'history') history.undo = plan.replaced;
  if (place === 'document' && plan.replaced !== undefined) {
    operations.push({
      type: 'put',
      namespace: namespaces.replaced,
      id: historyId(threadId, rev),
      value: wholeReplaced(plan.replaced, base) as unknown as JsonValue,
    });
  }
  operations.push(
    {
      type: 'put',
      namespace: namespaces.history,
      id: historyId(threadId, rev),
      value: history as unknown as JsonValue,
    },
    {
      type: 'put',
      namespace: namespaces.head,
      id: threadId,
      value: toStoredHead(plan.head),
      options: { expectedRevision: expected, metadata: { stateRevision: state.revision } },
    },
  );
  return operations;
}
