import { idKey } from '../../shared/idKey.ts';
import type { DeleteOp, PutOp, WriteOp, Written } from '../kernel/storage.ts';
import { checkRevision, revisionConflict } from '../shared/revisionConflict.ts';
import type { SqliteChangeLog } from './changeLog.ts';
import type { PutParams, SqliteStatements } from './statements.ts';

const NOTHING: Written = { revision: 0, createdAt: 0 };

/**
 * The SQLite driver's `write`: every operation in one `BEGIN IMMEDIATE` transaction, so the write lock is
 * taken before any revision is read and several processes can share the file. Each put is one statement
 * that checks the revision itself; a conflict's actual revision is read under the same lock. Every change
 * is recorded in the change log while another process watches (see changeLog.ts).
 */
export function sqliteWriter(
  sql: SqliteStatements,
  changes: SqliteChangeLog,
): (ops: readonly WriteOp[], now: number) => Written[] {
  function put(op: PutOp, t: number): Written {
    const { namespace, id, expectedRevision: expected, packed } = op;
    const key = idKey(id);
    const bytes = packed!.bytes;
    const stored = packed!.text ?? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const metadata = op.metadata === undefined ? null : JSON.stringify(op.metadata);
    const storage = JSON.stringify(packed!.storage);
    const expiresAt = op.expiresAt ?? null;
    let row: Written | undefined;
    if (expected === undefined || expected === 0) {
      const params: PutParams = [namespace, key, id, stored, t, t, metadata, expiresAt, storage];
      row = expected === 0 ? sql.create.get(...params) : sql.upsert.get(...params);
    } else {
      row = sql.update.get(id, stored, t, metadata, expiresAt, storage, namespace, key, expected, t);
    }
    if (row === undefined) {
      throw revisionConflict(namespace, id, expected ?? 0, sql.current.get(namespace, key, t)?.revision ?? 0);
    }
    changes.record({ type: 'put', namespace, id, revision: row.revision }, t);
    return row;
  }

  function remove(op: DeleteOp, t: number): Written {
    const key = idKey(op.id);
    const current = sql.current.get(op.namespace, key, t);
    checkRevision(op.namespace, op.id, op.expectedRevision, current?.revision ?? 0);
    if (current === undefined) return NOTHING;
    sql.delete.run(op.namespace, key);
    changes.record({ type: 'delete', namespace: op.namespace, id: op.id, revision: current.revision }, t);
    return current;
  }

  const transaction = changes.transaction((ops: readonly WriteOp[], t: number) =>
    ops.map((op) => (op.type === 'put' ? put(op, t) : remove(op, t))),
  );
  return (ops, now) => transaction.immediate(ops, now);
}
