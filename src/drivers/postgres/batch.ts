import type { Pool, PoolClient } from 'pg';
import { Backoff, sleep } from '../../shared/backoff.ts';
import { idKey } from '../../shared/idKey.ts';
import { checkOut } from '../../shared/postgres/checkout.ts';
import { writeTogether } from '../../shared/postgres/coalescedWrites.ts';
import { lostRace, RACE_RETRIES } from '../../shared/postgres/failure.ts';
import { compareIds } from '../kernel/pages.ts';
import type { WriteOp, Written } from '../kernel/storage.ts';
import { revisionConflict } from '../shared/revisionConflict.ts';
import { oneStatementBatch } from './oneStatement.ts';
import { oneTripBatch } from './oneTrip.ts';
import { type PgStatements, putConflict, putStatement, writeDelete, writePut } from './writeOne.ts';

/** What the PostgreSQL write path needs from its store. */
export interface PgWriter extends PgStatements {
  readonly pool: Pool;
  readonly schema: string;
  /** The next per-store sequence number: it marks a write's notification (see postgres/statements.ts). */
  nextSeq(): number;
  /** Whether someone watches this store (its writes then wait for their own notifications). */
  watching(): boolean;
  /** Registers a wait for this store's own notification `seq`; undefined when not listening. */
  expectOwn(seq: number): Promise<void> | undefined;
  /** Drops that registration (the write did not happen). */
  forget(seq: number): void;
}

/** A statement's answer as the write path reads it. */
export type Answer = { rows: Array<{ revision: string; created_at?: string }>; command?: string };
/** What a put or delete statement's row says (no row: nothing written). */
export const written = (row: Answer['rows'][number] | undefined): Written =>
  row
    ? { revision: Number(row.revision), createdAt: Number(row.created_at ?? 0) }
    : { revision: 0, createdAt: 0 };

/**
 * The PostgreSQL driver's `write`. One operation is one statement on the pool; a few puts are one
 * statement too (./oneStatement.ts); other batches are one transaction on one connection. A write
 * resolves after this store's watchers got its events.
 */
export async function writePostgres(w: PgWriter, ops: readonly WriteOp[], t: number): Promise<Written[]> {
  // A write that lost a deadlock or serialization race (with another client's transaction: this store's
  // own batches lock in key order) was rolled back whole, so it runs again, after a jittered pause.
  let backoff: Backoff | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await writeOnce(w, ops, t);
    } catch (error) {
      if (!lostRace(error) || attempt > RACE_RETRIES) throw error;
      backoff ??= new Backoff(5, 200);
      await sleep(backoff.next());
    }
  }
}

async function writeOnce(w: PgWriter, ops: readonly WriteOp[], t: number): Promise<Written[]> {
  if (ops.length > 1) return writeBatch(w, ops, t);
  const op = ops[0]!;
  const seq = w.nextSeq();
  const own = w.watching() ? w.expectOwn(seq) : undefined;
  let result: Written;
  try {
    result =
      op.type === 'put'
        ? await writePut(w.pool, w, op, t, seq)
        : {
            revision: await writeDelete(w.pool, w, op.namespace, op.id, op.expectedRevision, t, seq),
            createdAt: 0,
          };
  } catch (error) {
    w.forget(seq);
    throw error;
  }
  if (result.revision === 0) w.forget(seq);
  await own;
  return [result];
}

/**
 * A batch, its operations in key order (operations on one document keep theirs): two batches writing the
 * same documents then lock their rows in the same order, where in the order given they could deadlock each
 * other. The results come back in the order given.
 */
async function writeBatch(w: PgWriter, given: readonly WriteOp[], t: number): Promise<Written[]> {
  const order = given
    .map((_, i) => i)
    .sort(
      (a, b) =>
        compareIds(given[a]!.namespace, given[b]!.namespace) ||
        compareIds(given[a]!.id, given[b]!.id) ||
        a - b,
    );
  const sorted = await writeInKeyOrder(
    w,
    order.map((i) => given[i]!),
    t,
  );
  const results = new Array<Written>(given.length);
  for (const [k, i] of order.entries()) results[i] = sorted[k]!;
  return results;
}

async function writeInKeyOrder(w: PgWriter, ops: readonly WriteOp[], t: number): Promise<Written[]> {
  const single = await oneStatementBatch(w, ops, t);
  if (single !== undefined) return single;
  const client = await checkOut(w.pool);
  let broken: Error | undefined;
  const seqs: number[] = [];
  try {
    if (client.pipeline === true) {
      const done = await oneTripBatch(w, client, ops, t);
      if (done !== undefined) return done;
    }
    const results =
      client.pipeline === true
        ? await pipelinedWrites(w, client, ops, t, seqs)
        : await sequentialWrites(w, client, ops, t, seqs);
    // Notifications of one transaction arrive in order, so the last one stands for all of them.
    const last = seqs.at(-1);
    const own = last === undefined || !w.watching() ? undefined : w.expectOwn(last);
    try {
      await client.query('COMMIT');
    } catch (error) {
      if (last !== undefined) w.forget(last);
      throw error;
    }
    await own;
    return results;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError as Error; // the connection is unusable: drop it from the pool
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

// The writes of a batch one statement at a time (a pool passed in without pg's `pipeline` mode).
async function sequentialWrites(
  w: PgWriter,
  client: PoolClient,
  ops: readonly WriteOp[],
  t: number,
  seqs: number[],
) {
  await client.query('BEGIN');
  const results: Written[] = [];
  for (const op of ops) {
    const seq = w.nextSeq();
    const result =
      op.type === 'put'
        ? await writePut(client, w, op, t, seq)
        : {
            revision: await writeDelete(client, w, op.namespace, op.id, op.expectedRevision, t, seq),
            createdAt: 0,
          };
    if (result.revision > 0) seqs.push(seq);
    results.push(result);
  }
  return results;
}

/**
 * The writes of a batch on a pipelined connection when their answers decide whether to commit: BEGIN and
 * the first statement of every operation are sent at once (one round trip and one socket write instead of
 * one each), then the answers are checked in order; an operation whose compare-and-set found another
 * revision reads the actual one (inside the still open transaction) and fails the batch, and a conditional
 * delete that met a concurrent delete-and-recreate falls back to `writeDelete`'s loop. The caller commits.
 */
async function pipelinedWrites(
  w: PgWriter,
  client: PoolClient,
  ops: readonly WriteOp[],
  t: number,
  seqs: number[],
) {
  const { sql, prepared } = w;
  const opSeqs: number[] = [];
  const pending = writeTogether(client, () => {
    const sent: Array<Promise<Answer>> = [client.query('BEGIN')];
    for (const op of ops) {
      const seq = w.nextSeq();
      opSeqs.push(seq);
      const expected = op.expectedRevision;
      const key = idKey(op.id);
      let statement: { text: string; params: unknown[] };
      if (op.type === 'put') statement = putStatement(sql, op, t, seq);
      else if (expected === 0) statement = { text: sql.revision, params: [op.namespace, key, t] };
      else if (expected === undefined) statement = { text: sql.delete, params: [op.namespace, key, t, seq] };
      else statement = { text: sql.deleteAt, params: [op.namespace, key, t, seq, expected] };
      sent.push(client.query(prepared(statement.text, statement.params)));
    }
    return sent;
  });
  for (const answer of pending) answer.catch(() => {});
  for (const answer of pending) await answer;
  const results: Written[] = [];
  for (const [index, op] of ops.entries()) {
    const row = (await pending[index + 1]!).rows[0];
    const expected = op.expectedRevision;
    const seq = opSeqs[index]!;
    if (op.type === 'put') {
      if (!row) throw await putConflict(client, w, op, t);
      seqs.push(seq);
      results.push(written(row));
      continue;
    }
    let revision: number;
    if (expected === 0) {
      const actual = row ? Number(row.revision) : 0;
      if (actual !== 0) throw revisionConflict(op.namespace, op.id, 0, actual);
      revision = 0;
    } else if (row) revision = Number(row.revision);
    else if (expected === undefined) revision = 0;
    else revision = await writeDelete(client, w, op.namespace, op.id, expected, t, seq);
    if (revision > 0) seqs.push(seq);
    results.push({ revision, createdAt: 0 });
  }
  return results;
}
