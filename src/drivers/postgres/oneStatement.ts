import type { PutOp, WriteOp, Written } from '../kernel/storage.ts';
import { type Answer, type PgWriter, written } from './batch.ts';
import { CONFLICT_MARKER } from './statements.ts';
import { putConflict, putStatement } from './writeOne.ts';

/**
 * Most puts one statement carries. A bound keeps the statement's size fixed and the set of texts (one per
 * sequence of put kinds of a batch of 2 to 4 puts: 9 + 27 + 81) small enough to prepare on every connection.
 */
export const ONE_STATEMENT_MAX_PUTS = 4;

/**
 * A batch of a few puts of distinct documents, in key order (see batch.ts), as one statement on the pool
 * (data-modifying CTEs): a statement is a transaction of its own, so no BEGIN and COMMIT travel, no
 * connection is held across statements, and PostgreSQL parses, plans and answers one statement instead
 * of four. This is the common batch of a LangGraph checkpoint (its new channel values and the checkpoint),
 * where BEGIN and COMMIT were a tenth of a put. Returns undefined, having sent nothing, for any other
 * batch: more puts, a delete, one document twice, or a watcher here waiting for the batch's own events
 * (see oneTrip.ts).
 */
export async function oneStatementBatch(
  w: PgWriter,
  ops: readonly WriteOp[],
  t: number,
): Promise<Written[] | undefined> {
  if (ops.length > ONE_STATEMENT_MAX_PUTS || w.watching()) return undefined;
  let kinds = '';
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k]!;
    if (op.type !== 'put') return undefined;
    // One statement cannot write a row twice (the batch comes in key order: a repeat is its neighbour).
    const before = ops[k - 1];
    if (before !== undefined && before.namespace === op.namespace && before.id === op.id) return undefined;
    kinds += op.expectedRevision === undefined ? 'u' : op.expectedRevision === 0 ? 'c' : 'U';
  }
  const params: unknown[] = [];
  for (const op of ops as readonly PutOp[]) params.push(...putStatement(w.sql, op, t, w.nextSeq()).params);
  let rows: Array<Answer['rows'][number] & { i: number }>;
  try {
    ({ rows } = await w.pool.query<Answer['rows'][number] & { i: number }>(
      w.prepared(w.sql.putMany(kinds), params),
    ));
  } catch (error) {
    const lost = conflictIndex(error);
    if (lost === undefined) throw error;
    // The statement wrote nothing; the error names the put that found another revision.
    throw await putConflict(w.pool, w, ops[lost] as PutOp, t);
  }
  const results = new Array<Written>(ops.length);
  for (const row of rows) results[Number(row.i)] = written(row);
  return results;
}

// The position of the put whose compare-and-set failed the statement, from the error's text.
function conflictIndex(error: unknown): number | undefined {
  const message = String((error as { message?: unknown })?.message ?? '');
  const at = message.indexOf(`${CONFLICT_MARKER} #`);
  if (at < 0) return undefined;
  return Number.parseInt(message.slice(at + CONFLICT_MARKER.length + 2), 10);
}
