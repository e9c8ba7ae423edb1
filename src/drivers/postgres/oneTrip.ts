import type { PoolClient } from 'pg';
import { UnavailableError } from '../../errors.ts';
import { idKey } from '../../shared/idKey.ts';
import { writeTogether } from '../../shared/postgres/coalescedWrites.ts';
import type { WriteOp } from '../kernel/storage.ts';
import { type Answer, type PgWriter, written } from './batch.ts';
import { CONFLICT_MARKER } from './statements.ts';
import { putConflict, putStatement } from './writeOne.ts';

/**
 * A whole batch on a pipelined connection (pg's `pipeline` mode), where a batch whose answers need no
 * look (puts, compare-and-set puts, unconditional deletes) costs one round trip: BEGIN, every statement
 * and COMMIT are sent at once, in one socket write. Compare-and-set puts use the `...OrFail` statements,
 * so a conflict aborts the transaction and the COMMIT that follows it rolls back; the actual revision is
 * then read for the error. Returns undefined, having sent nothing, when the batch needs the answers before
 * COMMIT (a conditional delete, or a watcher here that waits for this batch's own events).
 */
export async function oneTripBatch(w: PgWriter, client: PoolClient, ops: readonly WriteOp[], t: number) {
  if (w.watching()) return undefined;
  if (ops.some((op) => op.type === 'delete' && op.expectedRevision !== undefined)) return undefined;
  const { sql, prepared } = w;
  const [answers, committed] = writeTogether(client, () => {
    const sent: Array<Promise<Answer>> = [client.query('BEGIN')];
    for (const op of ops) {
      const seq = w.nextSeq();
      if (op.type === 'put') {
        const statement = putStatement(sql, op, t, seq);
        if (op.expectedRevision === 0) statement.text = sql.createOrFail;
        else if (op.expectedRevision !== undefined) statement.text = sql.updateOrFail;
        sent.push(client.query(prepared(statement.text, statement.params)));
      } else sent.push(client.query(prepared(sql.delete, [op.namespace, idKey(op.id), t, seq])));
    }
    return [sent, client.query('COMMIT')] as const;
  });
  // Every answer is awaited below; a failed statement fails the ones after it, which must not go unhandled.
  for (const answer of answers) answer.catch(() => {});
  committed.catch(() => {});
  const settled = await Promise.allSettled(answers);
  const commit = await committed; // after a failed statement PostgreSQL answers COMMIT with a rollback
  const failed = settled.findIndex((answer) => answer.status === 'rejected');
  if (failed >= 0) {
    const error = (settled[failed] as PromiseRejectedResult).reason as Error;
    const op = ops[failed - 1];
    if (op?.type === 'put' && String(error.message).includes(CONFLICT_MARKER)) {
      throw await putConflict(client, w, op, t);
    }
    throw error;
  }
  if ((commit as { command?: string }).command !== 'COMMIT') {
    throw new UnavailableError('the batch transaction was rolled back by the server', { schema: w.schema });
  }
  return settled.slice(1).map((answer) => written((answer as PromiseFulfilledResult<Answer>).value.rows[0]));
}
