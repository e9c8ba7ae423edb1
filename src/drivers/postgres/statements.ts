import { quoteIdentifier } from '../../shared/postgres/identifiers.ts';

/** Text in the error of an `...OrFail` statement whose compare-and-set found another revision. */
export const CONFLICT_MARKER = 'agentstate revision conflict';

/** Columns `get` returns (it knows the id), in the shape `rowToDocument` expects. */
export const DOCUMENT_COLUMNS =
  'value, value_bytes, revision, created_at, updated_at, metadata, expires_at, storage';

/** A row of the documents table as pg returns it (BIGINT arrives as a string). */
export interface DocumentRow {
  value: string | null;
  value_bytes: Buffer | null;
  storage: string | null;
  revision: string;
  created_at: string;
  updated_at: string;
  metadata: string | null;
  expires_at: string | null;
}

/** The SQL text of every statement of one store, built once per schema. */
export interface Statements {
  /** $1 namespace, $2 id key, $3 now. */
  get: string;
  /** $1 namespace, $2 array of id keys, $3 now -> the live documents among them, with `id_key`. */
  getMany: string;
  /** $1 namespace, $2 id key, $3 now -> revision of the live document, if any. */
  revision: string;
  /** $1 namespace, $2 id key, $3 now, $4 new expires_at: restarts a live document's time to live. */
  touch: string;
  /**
   * Upsert: $1 namespace, $2 id key, $3 id, $4 value text, $5 now, $6 metadata, $7 expires_at, $8 seq,
   * $9 value bytes, $10 storage.
   */
  upsert: string;
  /** Create-only insert (replaces only an expired row); parameters as `upsert`. */
  create: string;
  /** Compare-and-set update; parameters as `upsert` plus $11 expected revision. */
  update: string;
  /** As `create`, but a conflict fails the statement (and its transaction) with CONFLICT_MARKER. */
  createOrFail: string;
  /** As `update`, but a conflict fails the statement (and its transaction) with CONFLICT_MARKER. */
  updateOrFail: string;
  /** $1 namespace, $2 id key, $3 now, $4 seq -> revision of the deleted live document. */
  delete: string;
  /** As `delete` plus $5 expected revision. */
  deleteAt: string;
  /** $1 now, $2 batch size -> one row per expired document removed. */
  sweep: string;
  /** Qualified table name, for `list`, which builds its WHERE clause per call. */
  table: string;
  /** Run on the listener connection after LISTEN: $1 now. Also forgets listeners whose backend is gone. */
  registerListener: string;
  /** Run on the listener connection before UNLISTEN. */
  unregisterListener: string;
  /** Forgets listeners whose backend is gone (a process that crashed while watching). */
  pruneListeners: string;
  /**
   * The text of several puts of distinct documents as one statement, one kind per put: `u` upsert, `c`
   * create-only, `U` compare-and-set update. Put i's parameters are those of `upsert` (`update` for `U`),
   * numbered on after put i-1's. Answers one row per put, `i` its position; a create or update that finds
   * another revision fails the statement (so writes nothing) with CONFLICT_MARKER and ` #i` in the error.
   */
  putMany(kinds: string): string;
  /** $1 namespace after which to start, $2 limit -> namespaces holding documents, in order. */
  namespaces: string;
}

/**
 * Builds the statements. Every write notifies the change channel from inside its own statement, so the
 * notification is part of the write's transaction: it is delivered when (and only if) the write commits,
 * in commit order, to every listening process, including this one. The payload carries the id key in
 * hex (exact even for lone surrogates; at most 4 KB, within NOTIFY's 8000-byte limit). `o` (this
 * store's origin token) and `s` (a per-store sequence number) let a writer wait for its own events, and
 * keep the payloads of one transaction distinct (PostgreSQL folds identical ones into one).
 *
 * A write notifies only while some backend is registered in `listeners`. NOTIFY takes a database-wide
 * lock from its commit until the commit record is flushed, so notifying writes commit one at a time
 * (no group commit): measured here, concurrent upserts ran 5-15x slower with NOTIFY than without.
 * Writes therefore skip it when nobody watches the schema. A watcher registers after its LISTEN is
 * active and before `watch` resolves, so every write that starts after `watch` resolves sees the
 * registration (READ COMMITTED: each statement reads the committed state at its start) and notifies.
 * A stale registration (a crashed process) only costs notifications nobody reads until it is pruned.
 */
export function buildStatements(schema: string, channel: string, origin: string): Statements {
  const t = `${quoteIdentifier(schema)}.documents`;
  // Both come from a validated alphabet ([A-Za-z0-9_] and hex); quoting them as literals is belt and braces.
  const ch = literal(channel);
  const o = literal(origin);
  const payload = (type: string, extra: string) =>
    `json_build_object('t', '${type}', 'n', w.namespace, 'k', encode(w.id_key, 'hex'), 'r', w.revision${extra})::text`;
  const listeners = `${quoteIdentifier(schema)}.listeners`;
  const watched = `EXISTS (SELECT 1 FROM ${listeners})`;
  const notify = (type: string, seq: string) =>
    `CASE WHEN ${watched} THEN pg_notify(${ch}, ${payload(type, `, 'o', ${o}, 's', ${seq}::bigint`)}) END`;
  const prune = `DELETE FROM ${listeners} WHERE pid <> pg_backend_pid() AND pid NOT IN (SELECT pid FROM pg_stat_activity)`;
  const expired = (alias: string, now: string) =>
    `(${alias}expires_at IS NOT NULL AND ${alias}expires_at <= ${now})`;
  const live = (now: string) => `(expires_at IS NULL OR expires_at > ${now})`;
  const key = 'namespace = $1 AND id_key = $2';
  const insert = `INSERT INTO ${t} AS d
      (namespace, id_key, id, value, revision, created_at, updated_at, metadata, expires_at, value_bytes, storage)
    VALUES ($1, $2, $3, $4, 1, $5::bigint, $5::bigint, $6, $7::bigint, $9, $10)
    ON CONFLICT (namespace, id_key) DO UPDATE SET
      value = EXCLUDED.value,
      value_bytes = EXCLUDED.value_bytes,
      storage = EXCLUDED.storage,
      revision = CASE WHEN ${expired('d.', '$5::bigint')} THEN 1 ELSE d.revision + 1 END,
      created_at = CASE WHEN ${expired('d.', '$5::bigint')} THEN EXCLUDED.created_at ELSE d.created_at END,
      updated_at = EXCLUDED.updated_at,
      metadata = EXCLUDED.metadata,
      expires_at = EXCLUDED.expires_at`;
  const create = `${insert} WHERE ${expired('d.', '$5::bigint')}`;
  const update = `UPDATE ${t} SET id = $3, value = $4, revision = revision + 1, updated_at = $5::bigint, metadata = $6,
         expires_at = $7::bigint, value_bytes = $9, storage = $10
       WHERE ${key} AND revision = $11 AND ${live('$5::bigint')}`;
  // The answer row of the put in CTE `cte` (`lead`: columns before it). With `marker`, a put that wrote no
  // row fails the statement: the cast of the marker text to an integer aborts it (and its transaction), so
  // a batch can send its COMMIT without waiting for the answers.
  const putAnswer = (cte: string, seq: string, marker?: string, lead = '') =>
    marker === undefined
      ? `SELECT ${lead}w.revision, w.created_at, ${notify('put', seq)} FROM ${cte} AS w`
      : `SELECT ${lead}w.revision, w.created_at,
       CAST(CASE WHEN w.revision IS NULL THEN '${marker}' ELSE '0' END AS int) AS written,
       ${notify('put', seq)}
     FROM (SELECT 1) AS one LEFT JOIN ${cte} AS w ON true`;
  const putCte = (name: string, sql: string) =>
    `${name} AS (${sql} RETURNING namespace, id_key, revision, created_at)`;
  const wrapPut = (sql: string) => `WITH ${putCte('w', sql)}\n     ${putAnswer('w', '$8')}`;
  const wrapPutOrFail = (sql: string) =>
    `WITH ${putCte('w', sql)}\n     ${putAnswer('w', '$8', CONFLICT_MARKER)}`;
  const wrapDelete = (sql: string) =>
    `WITH w AS (${sql} RETURNING namespace, id_key, revision) SELECT w.revision, ${notify('delete', '$4')} FROM w`;
  const bodies: Record<string, string> = { u: insert, c: create, U: update };
  const putManyTexts = new Map<string, string>();
  const putMany = (kinds: string) => {
    const known = putManyTexts.get(kinds);
    if (known !== undefined) return known;
    const parts: string[] = [];
    const rows: string[] = [];
    let offset = 0;
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[i]!;
      const at = offset;
      const shift = (sql: string) => sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + at}`);
      parts.push(putCte(`w${i}`, shift(bodies[kind]!)));
      // An upsert always writes its row: only a create or update can trip the check.
      rows.push(putAnswer(`w${i}`, `$${8 + at}`, `${CONFLICT_MARKER} #${i}`, `${i} AS i, `));
      offset += kind === 'U' ? 11 : 10;
    }
    const text = `WITH ${parts.join(',\n')}\n${rows.join('\nUNION ALL ')}`;
    // Callers bound the kinds (see oneStatement.ts), so this holds a few texts.
    putManyTexts.set(kinds, text);
    return text;
  };
  return {
    putMany,
    table: t,
    // A loose index scan: each step seeks the primary key to the next namespace (COLLATE "C": code unit
    // order), so a page costs one seek per namespace however many documents each holds. PostgreSQL
    // computes only the rows of the recursive query the LIMIT takes.
    namespaces: `WITH RECURSIVE ns AS (
        (SELECT namespace FROM ${t} WHERE namespace > $1 ORDER BY namespace LIMIT 1)
        UNION ALL
        SELECT (SELECT d.namespace FROM ${t} d WHERE d.namespace > ns.namespace ORDER BY d.namespace LIMIT 1)
        FROM ns WHERE ns.namespace IS NOT NULL
      ) SELECT namespace FROM ns WHERE namespace IS NOT NULL LIMIT $2`,
    get: `SELECT ${DOCUMENT_COLUMNS} FROM ${t} WHERE ${key} AND ${live('$3::bigint')}`,
    getMany: `SELECT id_key, ${DOCUMENT_COLUMNS} FROM ${t} WHERE namespace = $1 AND id_key = ANY($2::bytea[]) AND ${live('$3::bigint')}`,
    revision: `SELECT revision FROM ${t} WHERE ${key} AND ${live('$3::bigint')}`,
    touch: `UPDATE ${t} SET expires_at = $4::bigint WHERE ${key} AND ${live('$3::bigint')}`,
    upsert: wrapPut(insert),
    // An expired row that the sweep has not removed yet counts as absent: it may be replaced.
    create: wrapPut(create),
    update: wrapPut(update),
    createOrFail: wrapPutOrFail(create),
    updateOrFail: wrapPutOrFail(update),
    // Expired rows are left to the sweep (which reports them as `expire`), as if already gone.
    delete: wrapDelete(`DELETE FROM ${t} WHERE ${key} AND ${live('$3::bigint')}`),
    deleteAt: wrapDelete(`DELETE FROM ${t} WHERE ${key} AND revision = $5 AND ${live('$3::bigint')}`),
    // SKIP LOCKED: concurrent sweepers (other processes) take disjoint rows instead of queueing, and a
    // row being rewritten right now is left alone; the outer `expires_at` test re-checks under the lock.
    sweep: `WITH w AS (
        DELETE FROM ${t} WHERE (namespace, id_key) IN (
          SELECT namespace, id_key FROM ${t} WHERE expires_at <= $1::bigint
          ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        AND expires_at <= $1::bigint
        RETURNING namespace, id_key, revision)
      SELECT CASE WHEN ${watched} THEN pg_notify(${ch}, ${payload('expire', '')}) END FROM w`,
    registerListener: `WITH pruned AS (${prune})
      INSERT INTO ${listeners} (pid, since) VALUES (pg_backend_pid(), $1::bigint)
      ON CONFLICT (pid) DO UPDATE SET since = EXCLUDED.since`,
    unregisterListener: `DELETE FROM ${listeners} WHERE pid = pg_backend_pid()`,
    pruneListeners: prune,
  };
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
