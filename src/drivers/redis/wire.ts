import { idKey } from '../../shared/idKey.ts';
import type { WriteOp } from '../kernel/storage.ts';

/** One operation as the batch script reads it (see redis/scripts.ts). */
export interface WireOp {
  t: 'put' | 'delete';
  n: string;
  k: string;
  id: string;
  x: number;
  vi: number;
  e: string;
  m: string;
  s: string;
}

/**
 * The script's arguments for `ops`: the operations as JSON, and the stored values as separate binary
 * arguments (`vi` is a put's 1-based index among them).
 */
export function wireOps(ops: readonly WriteOp[]): { wire: string; values: Buffer[] } {
  const values: Buffer[] = [];
  const wire = ops.map((op): WireOp => {
    const base = {
      n: op.namespace,
      k: idKey(op.id).toString('hex'),
      id: op.id,
      x: op.expectedRevision ?? -1,
    };
    if (op.type === 'delete') return { ...base, t: 'delete', vi: 0, e: '', m: '', s: '' };
    const { bytes, storage } = op.packed!;
    values.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return {
      ...base,
      t: 'put',
      vi: values.length,
      e: op.expiresAt === undefined ? '' : String(op.expiresAt),
      m: op.metadata === undefined ? '' : JSON.stringify(op.metadata),
      s: JSON.stringify(storage),
    };
  });
  return { wire: JSON.stringify(wire), values };
}
