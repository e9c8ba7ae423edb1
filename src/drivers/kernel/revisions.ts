import { checkRevision } from '../shared/revisionConflict.ts';
import type { WriteOp, Written } from './storage.ts';

/** Where an in-process driver keeps its live documents (the memory table, the filesystem index). */
export interface LiveState {
  /** The live revision and creation time of a document, undefined when absent or expired at `now`. */
  live(namespace: string, id: string, now: number): Written | undefined;
}

/**
 * Compare-and-set for drivers that know their live revisions in process (memory, filesystem): what each
 * operation of a write does, checked against `state` (the live documents) and against the earlier
 * operations of the same batch. A stale `expectedRevision` throws before anything changes. A put keeps
 * the creation time of the document it replaces; a delete's revision is 0 when nothing was there.
 */
export function planWrites(ops: readonly WriteOp[], now: number, state: LiveState): Written[] {
  // A single operation (most writes) needs no memory of earlier ones.
  if (ops.length === 1) {
    const op = ops[0]!;
    return [plan(op, now, state.live(op.namespace, op.id, now))];
  }
  const pending = new Map<string, Written | null>();
  return ops.map((op) => {
    const key = `${op.namespace}\0${op.id}`;
    const seen = pending.get(key);
    const written = plan(
      op,
      now,
      seen === undefined ? state.live(op.namespace, op.id, now) : (seen ?? undefined),
    );
    pending.set(key, op.type === 'put' ? written : null);
    return written;
  });
}

function plan(op: WriteOp, now: number, before: Written | undefined): Written {
  const revision = before?.revision ?? 0;
  checkRevision(op.namespace, op.id, op.expectedRevision, revision);
  return op.type === 'put'
    ? { revision: revision + 1, createdAt: before?.createdAt ?? now }
    : { revision, createdAt: 0 };
}
