import type { PoolClient, QueryConfig } from 'pg';
import { idKey } from '../../shared/idKey.ts';
import type { PutOp, Written } from '../kernel/storage.ts';
import { revisionConflict } from '../shared/revisionConflict.ts';
import type { Statements } from './statements.ts';

/** A pool or one checked-out connection. */
export type Queryable = Pick<PoolClient, 'query'>;

/** What the PostgreSQL write helpers share: the statements and how to name them (see postgres.ts). */
export interface PgStatements {
  readonly sql: Statements;
  /** The query of a fixed statement as a named prepared statement. */
  prepared(text: string, values: unknown[]): QueryConfig;
}

/** The revision of the live document, 0 when absent or expired. */
export async function liveRevision(
  db: Queryable,
  { sql, prepared }: PgStatements,
  namespace: string,
  id: string,
  t: number,
): Promise<number> {
  const { rows } = await db.query<{ revision: string }>(prepared(sql.revision, [namespace, idKey(id), t]));
  return rows[0] ? Number(rows[0].revision) : 0;
}

/** The error of a put whose compare-and-set found another revision, with the live one read on `db`. */
export async function putConflict(db: Queryable, pg: PgStatements, op: PutOp, t: number): Promise<Error> {
  const actual = await liveRevision(db, pg, op.namespace, op.id, t);
  return revisionConflict(op.namespace, op.id, op.expectedRevision ?? 0, actual);
}

/** The statement of one put: an upsert, a create-only insert (expected 0) or a compare-and-set update. */
export function putStatement(
  sql: Statements,
  op: PutOp,
  t: number,
  seq: number,
): { text: string; params: unknown[] } {
  const packed = op.packed!;
  const params: unknown[] = [
    op.namespace,
    idKey(op.id),
    op.id,
    // The UTF-8 bytes of the text, already made for its checksum: pg sends a Buffer as is (binary format,
    // which PostgreSQL reads into TEXT as UTF-8 and validates), instead of encoding the text again.
    packed.text === undefined ? null : packed.bytes,
    t,
    op.metadata === undefined ? null : JSON.stringify(op.metadata),
    op.expiresAt ?? null,
    seq,
    packed.text === undefined ? packed.bytes : null,
    JSON.stringify(packed.storage),
  ];
  const expected = op.expectedRevision;
  if (expected === undefined) return { text: sql.upsert, params };
  if (expected === 0) return { text: sql.create, params };
  params.push(expected);
  return { text: sql.update, params };
}

/** One put as one statement (plus a read of the actual revision only when it conflicts). */
export async function writePut(
  db: Queryable,
  pg: PgStatements,
  op: PutOp,
  t: number,
  seq: number,
): Promise<Written> {
  const { text, params } = putStatement(pg.sql, op, t, seq);
  const { rows } = await db.query<{ revision: string; created_at: string }>(pg.prepared(text, params));
  const row = rows[0];
  if (!row) throw await putConflict(db, pg, op, t);
  return { revision: Number(row.revision), createdAt: Number(row.created_at) };
}

/** One delete; returns the deleted revision, or 0 when there was nothing live to delete. */
export async function writeDelete(
  db: Queryable,
  pg: PgStatements,
  namespace: string,
  id: string,
  expected: number | undefined,
  t: number,
  seq: number,
): Promise<number> {
  const { sql, prepared } = pg;
  // Delete-if-absent (expected 0) deletes nothing by definition: it only checks that nothing is there.
  if (expected === 0) {
    const actual = await liveRevision(db, pg, namespace, id, t);
    if (actual !== 0) throw revisionConflict(namespace, id, 0, actual);
    return 0;
  }
  for (;;) {
    const { rows } =
      expected === undefined
        ? await db.query<{ revision: string }>(prepared(sql.delete, [namespace, idKey(id), t, seq]))
        : await db.query<{ revision: string }>(
            prepared(sql.deleteAt, [namespace, idKey(id), t, seq, expected]),
          );
    if (rows[0]) return Number(rows[0].revision);
    if (expected === undefined) return 0;
    const actual = await liveRevision(db, pg, namespace, id, t);
    if (actual !== expected) throw revisionConflict(namespace, id, expected, actual);
    // Deleted and re-created up to the expected revision between the two statements: try again.
  }
}
