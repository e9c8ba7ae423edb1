import { checkRevision } from '../shared/revisionConflict.ts';
import type { WriteOp, Written } from './storage.ts';

/**
 * Compare-and-set for drivers that know their live revisions in process (memory, filesystem): what each
 * operation of a write does, checked against `current` (the live state; undefined when absent or expired)
 * and against the earlier operations of the same batch. A stale `expectedRevision` throws before anything
 * changes. A put keeps the creation time of the document it replaces; a delete's revision is 0 when
 * nothing was there.
 */
export function planWrites(
  ops: readonly WriteOp[],
  now: number,
  current: (namespace: string, id: string) => Written | undefined,
): Written[] {
  // A single operation (most writes) needs no memory of earlier ones.
  const pending = ops.length > 1 ? new Map<string, Written | null>() : undefined;
  return ops.map((op) => {
    const key = pending && `${op.namespace}\0${op.id}`;
    const seen = key === undefined ? undefined : pending!.get(key);
    const before = seen === undefined ? current(op.namespace, op.id) : (seen ?? undefined);
    const revision = before?.revision ?? 0;
    checkRevision(op.namespace, op.id, op.expectedRevision, revision);
    const written: Written =
      op.type === 'put'
        ? { revision: revision + 1, createdAt: before?.createdAt ?? now }
        : { revision, createdAt: 0 };
    if (key !== undefined) pending!.set(key, op.type === 'put' ? written : null);
    return written;
  });
}
