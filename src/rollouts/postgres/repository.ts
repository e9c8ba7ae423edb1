/**
 * PostgreSQL storage of the rollout store: one method per row operation, each a single statement run on the
 * connection of the current transaction. The same `RolloutRepository` shape as SQLite's, made asynchronous;
 * the rules that decide what to write are the shared ones (../engine/writes.ts), run through ./transaction.ts.
 *
 * Statements are sent as named prepared statements (parsed and planned once per connection). Rows read by a
 * write are locked (`FOR UPDATE`) so two transactions never both read-modify-write the same rollout or worker.
 */
import { createHash } from 'node:crypto';
import type { QueryConfig, QueryResultRow } from 'pg';
import { quoteIdentifier } from '../../shared/postgres/identifiers.ts';
import type {
  AttemptRow,
  IdempotencyRecord,
  ResourcesFilter,
  RolloutFilter,
  RolloutRow,
  SpanFilter,
  WorkerFilter,
} from '../engine/repository.ts';
import type { Page } from '../query.ts';
import { FINISHED_STATUSES } from '../sql/columns.ts';
import type { FilterDialect } from '../sql/filters.ts';
import {
  type KeysetCursor,
  type KeysetOrder,
  type KeysetRequest,
  keysetCursor,
  keysetOrderBy,
  keysetPageClauses,
  type SqlListing,
} from '../sql/keyset.ts';
import { sqlListings } from '../sql/listings.ts';
import { type Row, rowMappers } from '../sql/rowMapping.ts';
import {
  attemptFields,
  attemptInsertValues,
  resourcesValues,
  rolloutFields,
  spanValues,
  workerValues,
} from '../sql/rowValues.ts';
import type {
  AttemptSortField,
  PaginatedResult,
  PruneResult,
  ResourcesSortField,
  ResourcesUpdate,
  RolloutSortField,
  RolloutStatus,
  RolloutStoreStatistics,
  Span,
  SpanSortField,
  Worker,
  WorkerSortField,
} from '../types.ts';

/** Anything that runs a query: a pool or a client inside a transaction. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    config: QueryConfig,
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}

// Spans per multi-row INSERT: 10 parameters each, far below PostgreSQL's 65535-parameter limit, and few
// distinct statement shapes to prepare.
const SPAN_CHUNK = 64;

// Dequeue limits up to this are written into the statement text (see takeQueued): at most this many texts.
const LITERAL_LIMIT_MAX = 32;

// Most writes one buffered statement carries, and most parameters. PostgreSQL's parse analysis of a
// statement of data-modifying CTEs grows quadratically with their number (200,000 of them kept one backend
// busy for half an hour), and a statement takes at most 65,535 parameters; with both caps every statement
// stays small, so a large operation costs a number of statements linear in its size.
export const MAX_BUFFERED_WRITES = 32;
export const MAX_BUFFERED_PARAMS = 16_384;

// Statement texts that get a prepared-statement name. The texts of single statements form a fixed set, but
// a buffered flush joins whatever writes met in one transaction, and every distinct combination is a new
// text: named without bound, each would stay in this map and in every connection's prepared statements for
// the life of the process. Past this many, a new text is sent unnamed (parsed each time, nothing kept).
export const MAX_NAMED_STATEMENTS = 512;

/** A query config of `text`, named when `name` gives it a prepared-statement name. */
export function statementConfig(
  name: (text: string) => string | undefined,
  text: string,
  values: unknown[],
): QueryConfig {
  const named = name(text);
  return named === undefined ? { text, values } : { name: named, text, values };
}

// pg parses `json` columns itself; nullable double precision columns go through Number.
const ROWS = rowMappers({
  json: (value) => value ?? null,
  optionalNumber: (value) => (value === null || value === undefined ? null : Number(value)),
});
const { toRolloutRow, toAttemptRow, toResources, toWorker } = ROWS;

// Parameters are numbered per statement; a list parameter is a text[] array (pg sends a JS array as one).
const FILTERS: FilterDialect = {
  placeholders: () => {
    let n = 0;
    return () => `$${++n}`;
  },
  oneOf: (column, p, values) => ({ where: `${column} = ANY(${p}::text[])`, params: [values] }),
  contains: (column, p) => `strpos(${column}, ${p}) > 0`,
};

// The columns of equally long value rows: UNNEST takes a batch as one array per column.
function transpose(rows: readonly (readonly unknown[])[]): unknown[][] {
  const columns: unknown[][] = (rows[0] ?? []).map(() => []);
  for (const row of rows) for (let c = 0; c < columns.length; c++) columns[c]!.push(row[c]);
  return columns;
}

// NULLS FIRST ascending / NULLS LAST descending, as SQLite orders and as the memory backend's sort does.
function direction(desc: boolean): string {
  return desc ? 'DESC NULLS LAST' : 'ASC NULLS FIRST';
}

// The listings (spans of one sequence id in insertion order: `seq`).
const LISTINGS = sqlListings(FILTERS, 'seq');

// `columns` with the sort and tie columns of `order` added when missing (a keyset page reads them back).
function withKeyColumns(columns: string, order: KeysetOrder): string {
  if (columns === '*') return columns;
  const have = new Set(columns.split(', '));
  const keys = [...(order.column === null ? [] : [order.column]), ...order.ties].filter((c) => !have.has(c));
  return keys.length === 0 ? columns : `${columns}, ${keys.join(', ')}`;
}

/** One page of a read in pages: its items and the cursor after the last row. */
export interface KeysetPage<T> {
  rows: T[];
  last: KeysetCursor | null;
}

const WORKER_FIELDS: Record<keyof Worker, string> = {
  workerId: 'worker_id',
  status: 'status',
  heartbeatStats: 'heartbeat_stats',
  lastHeartbeatTime: 'last_heartbeat_time',
  lastDequeueTime: 'last_dequeue_time',
  lastBusyTime: 'last_busy_time',
  lastIdleTime: 'last_idle_time',
  currentRolloutId: 'current_rollout_id',
  currentAttemptId: 'current_attempt_id',
};

const ROLLOUT_SELECT =
  'rollout_id, input, start_time, end_time, mode, resources_id, status, config, metadata, latest_attempt_id';
const ATTEMPT_SELECT =
  'rollout_id, attempt_id, sequence_id, start_time, end_time, status, worker_id, last_heartbeat_time, metadata, deadline';
const ATTEMPT_SELECT_COLUMNS = ATTEMPT_SELECT.split(', ');
// The same columns qualified for the rollout/attempt join (`r.` and `a.`, attempt columns renamed `a_*`),
// built once here rather than on every span and attempt write that runs the join.
const ROLLOUT_SELECT_R = ROLLOUT_SELECT.split(', ')
  .map((c) => `r.${c}`)
  .join(', ');
const ATTEMPT_SELECT_A = ATTEMPT_SELECT_COLUMNS.map((c) => `a.${c} AS a_${c}`).join(', ');

/**
 * The connection of one transaction, holding back writes whose results nobody reads (updates, inserts
 * without RETURNING) and sending them together as one statement of data-modifying CTEs (`WITH w0 AS
 * (UPDATE ...), w1 AS (INSERT ...) SELECT 1`) right before the next read and at the end of each operation.
 * Every statement costs a socket write and a round trip, and on small machines that system-call cost
 * dominates: a dequeue's attempt insert, rollout update and worker upsert become one statement, not three.
 *
 * The CTEs of one statement all see the same snapshot and run in no promised order, so a write touching a
 * row already waiting in the buffer (same key), or appending where order matters (queue, creation order),
 * flushes the buffer first. The result is the same as running the writes one by one. A full buffer
 * (MAX_BUFFERED_WRITES writes or MAX_BUFFERED_PARAMS parameters) is flushed too.
 */
export class BufferedWrites implements Queryable {
  readonly #q: Queryable;
  readonly #name: (text: string) => string | undefined;
  #items: Array<{ text: string; values: unknown[] }> = [];
  #params = 0;
  readonly #keys = new Set<string>();
  readonly #pipelined: boolean;

  /** `pipelined`: the connection takes a statement before the previous one is answered (pg `pipeline`). */
  constructor(q: Queryable, name: (text: string) => string | undefined, pipelined = false) {
    this.#q = q;
    this.#name = name;
    this.#pipelined = pipelined;
  }

  /** Whether the connection takes a statement before the previous one is answered. */
  get pipelined(): boolean {
    return this.#pipelined;
  }

  /**
   * A read: pending writes go first, so the read sees them. On a pipelined connection both are sent at
   * once (one round trip); if the writes fail, the read fails too (the transaction is aborted) and the
   * writes' error is the one reported.
   */
  async query<R extends QueryResultRow = QueryResultRow>(
    config: QueryConfig,
  ): Promise<{ rows: R[]; rowCount: number | null }> {
    if (!this.#pipelined || this.#items.length === 0) {
      await this.flush();
      return this.#q.query<R>(config);
    }
    const flushed = this.flush();
    const read = this.#q.query<R>(config);
    read.catch(() => {});
    await flushed;
    return read;
  }

  /** Holds a write back (flushing first when it touches a row already held). */
  async add(keys: readonly string[], text: string, values: unknown[]): Promise<void> {
    if (
      this.#items.length >= MAX_BUFFERED_WRITES ||
      this.#params + values.length > MAX_BUFFERED_PARAMS ||
      keys.some((key) => this.#keys.has(key))
    ) {
      await this.flush();
    }
    for (const key of keys) this.#keys.add(key);
    this.#items.push({ text, values });
    this.#params += values.length;
  }

  /** Sends the held writes as one statement. */
  async flush(): Promise<void> {
    const items = this.#items;
    if (items.length === 0) return;
    this.#items = [];
    this.#params = 0;
    this.#keys.clear();
    if (items.length === 1) {
      const only = items[0]!;
      await this.#q.query(statementConfig(this.#name, only.text, only.values));
      return;
    }
    const values: unknown[] = [];
    const parts = items.map((item, i) => {
      const offset = values.length;
      values.push(...item.values);
      // Statement texts hold `$n` only as parameters (data travels as parameters, never in the text).
      const text =
        offset === 0 ? item.text : item.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
      return `w${i} AS (${text})`;
    });
    const text = `WITH ${parts.join(', ')} SELECT 1`;
    await this.#q.query(statementConfig(this.#name, text, values));
  }
}

/** The statements of one schema, on any connection. */
export class PostgresRolloutRepository {
  /** The schema holding the tables. */
  readonly schema: string;
  readonly #s: string;
  readonly #names = new Map<string, string>();
  readonly #spanInsertTexts: string[] = [];

  constructor(schema: string) {
    this.schema = schema;
    this.#s = quoteIdentifier(schema);
  }

  /** `name` qualified with the schema. */
  table(name: string): string {
    return `${this.#s}.${name}`;
  }

  // Named prepared statement: pg prepares it once per connection. The name is a hash of the text, so one
  // name never stands for two texts (schemas differ in the text).
  #run<R extends QueryResultRow = Row>(
    q: Queryable,
    text: string,
    values: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }> {
    return q.query<R>(statementConfig(this.#statementName, text, values));
  }

  // A write whose result nobody reads: buffered when running in a transaction (see BufferedWrites). `keys`
  // name the rows it touches, so two writes of one row never share a flush.
  async #write(q: Queryable, keys: string[], text: string, values: unknown[]): Promise<void> {
    if (q instanceof BufferedWrites) await q.add(keys, text, values);
    else await this.#run(q, text, values);
  }

  /** The prepared-statement name of a text; undefined (send it unnamed) once MAX_NAMED_STATEMENTS are named. */
  statementName(text: string): string | undefined {
    let name = this.#names.get(text);
    if (name === undefined) {
      if (this.#names.size >= MAX_NAMED_STATEMENTS) return undefined;
      name = `agl_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      this.#names.set(text, name);
    }
    return name;
  }

  /** How many texts have a prepared-statement name. */
  get namedStatements(): number {
    return this.#names.size;
  }

  readonly #statementName = (text: string): string | undefined => this.statementName(text);

  async #page<T>(
    q: Queryable,
    listing: SqlListing,
    page: Page<string>,
    map: (row: Row) => T,
    columns = '*',
  ): Promise<PaginatedResult<T>> {
    const { filter } = listing;
    const table = this.table(listing.table);
    const where = filter.where === '' ? '' : `WHERE ${filter.where}`;
    const order = keysetOrderBy(listing.order, direction);
    const n = filter.params.length;
    const limit = page.limit === -1 ? 'ALL' : `$${n + 1}`;
    const params =
      page.limit === -1 ? [...filter.params, page.offset] : [...filter.params, page.limit, page.offset];
    const offset = `$${params.length}`;
    // One round trip: the total rides along on every row; an empty page falls back to a count.
    const { rows } = await this.#run(
      q,
      `SELECT ${columns}, COUNT(*) OVER ()::int AS agl_total FROM ${table} ${where} ${order} LIMIT ${limit} OFFSET ${offset}`,
      params,
    );
    let total: number;
    if (rows.length > 0) total = rows[0]!.agl_total as number;
    else {
      const count = await this.#run(q, `SELECT COUNT(*)::int AS n FROM ${table} ${where}`, filter.params);
      total = count.rows[0]!.n as number;
    }
    return { items: rows.map(map), limit: page.limit, offset: page.offset, total };
  }

  /**
   * One page of a read in pages (see KeysetPlan): the rows of `request` in the order of the listing's
   * `#page`, and the cursor after the last.
   */
  async #keysetPage<T>(
    q: Queryable,
    listing: SqlListing,
    request: KeysetRequest,
    map: (row: Row) => T,
    columns = '*',
  ): Promise<KeysetPage<T>> {
    let n = listing.filter.params.length;
    const { where, orderLimit, params } = keysetPageClauses(listing, request, () => `$${++n}`, direction);
    const select = withKeyColumns(columns, listing.order);
    const { rows } = await this.#run(
      q,
      `SELECT ${select} FROM ${this.table(listing.table)} ${where} ${orderLimit}`,
      params,
    );
    const last = rows.at(-1);
    return { rows: rows.map(map), last: last === undefined ? null : keysetCursor(last, listing.order) };
  }

  // ------------------------------------------------------------ rollouts

  /** A rollout; `lock` takes its row lock for the rest of the transaction. */
  async getRollout(q: Queryable, rolloutId: string, lock: boolean): Promise<RolloutRow | null> {
    const { rows } = await this.#run(
      q,
      `SELECT ${ROLLOUT_SELECT} FROM ${this.table('agl_rollouts')} WHERE rollout_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [rolloutId],
    );
    return rows.length === 0 ? null : toRolloutRow(rows[0]!);
  }

  /**
   * A rollout with one of its attempts (`attemptId`, or its latest when null), both locked, in one round
   * trip: the read every attempt and span write starts with. Both rows are locked on purpose: under READ
   * COMMITTED a statement that waited for a lock re-reads only the rows it locks, so a joined row that is not
   * locked could be the version from before the other transaction committed (and writing it back would
   * undo that transaction's change). When the join finds nothing (no such attempt, or the latest attempt
   * changed while waiting), the rollout is locked first and the attempt read by a second statement.
   */
  async getRolloutAndAttempt(
    q: Queryable,
    rolloutId: string,
    attemptId: string | null,
  ): Promise<{ rollout: RolloutRow; attempt: AttemptRow | null } | null> {
    const { rows } = await this.#run(
      q,
      `SELECT ${ROLLOUT_SELECT_R}, ${ATTEMPT_SELECT_A}
       FROM ${this.table('agl_rollouts')} r
       JOIN ${this.table('agl_attempts')} a
         ON a.rollout_id = r.rollout_id AND a.attempt_id = COALESCE($2, r.latest_attempt_id)
       WHERE r.rollout_id = $1 FOR UPDATE OF r, a`,
      [rolloutId, attemptId],
    );
    const row = rows[0];
    if (row === undefined) {
      const rollout = await this.getRollout(q, rolloutId, true);
      if (rollout === null) return null;
      const id = attemptId ?? rollout.latestAttemptId;
      return { rollout, attempt: id === null ? null : await this.getAttempt(q, rolloutId, id) };
    }
    const attempt: Row = {};
    for (const c of ATTEMPT_SELECT_COLUMNS) attempt[c] = row[`a_${c}`];
    return { rollout: toRolloutRow(row), attempt: toAttemptRow(attempt) };
  }

  /** Several rollouts by id (no lock). */
  async getRollouts(q: Queryable, rolloutIds: readonly string[]): Promise<RolloutRow[]> {
    const { rows } = await this.#run(
      q,
      `SELECT ${ROLLOUT_SELECT} FROM ${this.table('agl_rollouts')} WHERE rollout_id = ANY($1::text[])`,
      [rolloutIds],
    );
    return rows.map(toRolloutRow);
  }

  /** Inserts rollouts in order (one statement). */
  async insertRollouts(q: Queryable, rows: readonly RolloutRow[]): Promise<void> {
    if (rows.length === 0) return;
    // UNNEST of parallel arrays: one statement text whatever the batch size. WITH ORDINALITY keeps order.
    await this.#write(
      q,
      ['r:append', ...rows.map((r) => `r:${r.rolloutId}`)],
      `INSERT INTO ${this.table('agl_rollouts')} (rollout_id, input, start_time, end_time, mode, resources_id, status, config, metadata, latest_attempt_id)
       SELECT r, i::json, st, et, m, res, s, c::json, md::json, la
       FROM UNNEST($1::text[], $2::text[], $3::float8[], $4::float8[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
         WITH ORDINALITY AS t(r, i, st, et, m, res, s, c, md, la, ord)
       ORDER BY ord`,
      transpose(rows.map((r) => [r.rolloutId, ...rolloutFields(r)])),
    );
  }

  /** Writes every field of a rollout. */
  async updateRollout(q: Queryable, row: RolloutRow): Promise<void> {
    await this.#write(
      q,
      [`r:${row.rolloutId}`],
      `UPDATE ${this.table('agl_rollouts')} SET input = $1, start_time = $2, end_time = $3, mode = $4, resources_id = $5,
       status = $6, config = $7, metadata = $8, latest_attempt_id = $9 WHERE rollout_id = $10`,
      [...rolloutFields(row), row.rolloutId],
    );
  }

  /** Writes only status, endTime and latestAttemptId. */
  async updateRolloutState(q: Queryable, row: RolloutRow): Promise<void> {
    await this.#write(
      q,
      [`r:${row.rolloutId}`],
      `UPDATE ${this.table('agl_rollouts')} SET status = $1, end_time = $2, latest_attempt_id = $3 WHERE rollout_id = $4`,
      [row.status, row.endTime, row.latestAttemptId, row.rolloutId],
    );
  }

  async queryRollouts(
    q: Queryable,
    filter: RolloutFilter,
    page: Page<RolloutSortField>,
  ): Promise<PaginatedResult<RolloutRow>> {
    return this.#page(q, LISTINGS.rollouts(filter, page), page, toRolloutRow, ROLLOUT_SELECT);
  }

  /** One page of a rollout read in pages (the order of `queryRollouts(filter, page)`). */
  async rolloutPage(
    q: Queryable,
    filter: RolloutFilter,
    page: Page<RolloutSortField>,
    request: KeysetRequest,
  ): Promise<KeysetPage<RolloutRow>> {
    return this.#keysetPage(q, LISTINGS.rollouts(filter, page), request, toRolloutRow, ROLLOUT_SELECT);
  }

  // ------------------------------------------------------------ queue

  /** Appends to the FIFO queue; ids already queued keep their place. */
  async enqueue(q: Queryable, rolloutIds: readonly string[]): Promise<void> {
    if (rolloutIds.length === 0) return;
    await this.#write(
      q,
      ['q:append', ...rolloutIds.map((id) => `q:${id}`)],
      `INSERT INTO ${this.table('agl_queue')} (rollout_id)
       SELECT r FROM UNNEST($1::text[]) WITH ORDINALITY AS t(r, ord) ORDER BY ord
       ON CONFLICT (rollout_id) DO NOTHING`,
      [rolloutIds],
    );
  }

  /**
   * Removes up to `limit` entries from the head of the queue and returns their rollouts, in queue order,
   * locked. `FOR UPDATE OF q, r SKIP LOCKED` locks the queue entry and the rollout row in one step and skips
   * entries another transaction holds: concurrent dequeuers never take the same rollout and never wait for
   * each other, and a queued rollout that another transaction is changing right now (cancel, start by hand)
   * is skipped instead of waited for, so a dequeuer never waits while holding a queue entry.
   */
  async takeQueued(q: Queryable, limit: number): Promise<RolloutRow[]> {
    // A small limit is written into the text: a statement without parameters gets one plan, reused. With
    // LIMIT $1 PostgreSQL planned it again on every call (its generic plan guesses a tenth of the queue
    // and never wins over the custom plan), and planning cost as much as running it. Larger limits, rare,
    // stay parameters so the texts (and prepared statements) stay few.
    const literal = Number.isSafeInteger(limit) && limit >= 1 && limit <= LITERAL_LIMIT_MAX;
    const { rows } = await this.#run(
      q,
      `WITH head AS (
         SELECT q.seq AS queue_seq, ${ROLLOUT_SELECT_R} FROM ${this.table('agl_queue')} q
         JOIN ${this.table('agl_rollouts')} r USING (rollout_id)
         ORDER BY q.seq LIMIT ${literal ? String(limit) : '$1'} FOR UPDATE OF q, r SKIP LOCKED
       ), taken AS (
         DELETE FROM ${this.table('agl_queue')} q USING head WHERE q.seq = head.queue_seq
       )
       SELECT * FROM head ORDER BY queue_seq`,
      literal ? [] : [limit],
    );
    return rows.map(toRolloutRow);
  }

  async removeQueued(q: Queryable, rolloutId: string): Promise<void> {
    await this.#write(q, [`q:${rolloutId}`], `DELETE FROM ${this.table('agl_queue')} WHERE rollout_id = $1`, [
      rolloutId,
    ]);
  }

  // ------------------------------------------------------------ attempts

  async getAttempt(q: Queryable, rolloutId: string, attemptId: string): Promise<AttemptRow | null> {
    const { rows } = await this.#run(
      q,
      `SELECT ${ATTEMPT_SELECT} FROM ${this.table('agl_attempts')} WHERE rollout_id = $1 AND attempt_id = $2`,
      [rolloutId, attemptId],
    );
    return rows.length === 0 ? null : toAttemptRow(rows[0]!);
  }

  /** The latest attempts of several rollouts, by (rolloutId, attemptId) pairs. */
  async getAttempts(q: Queryable, keys: ReadonlyArray<readonly [string, string]>): Promise<AttemptRow[]> {
    if (keys.length === 0) return [];
    const { rows } = await this.#run(
      q,
      `SELECT ${ATTEMPT_SELECT} FROM ${this.table('agl_attempts')} a
       JOIN UNNEST($1::text[], $2::text[]) AS k(r, at) ON a.rollout_id = k.r AND a.attempt_id = k.at`,
      [keys.map((k) => k[0]), keys.map((k) => k[1])],
    );
    return rows.map(toAttemptRow);
  }

  async insertAttempt(q: Queryable, row: AttemptRow): Promise<void> {
    await this.#write(
      q,
      [`a:${row.rolloutId}:${row.attemptId}`],
      `INSERT INTO ${this.table('agl_attempts')} (rollout_id, attempt_id, sequence_id, start_time, end_time, status, worker_id,
       last_heartbeat_time, metadata, deadline) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      attemptInsertValues(row),
    );
  }

  async updateAttempt(q: Queryable, row: AttemptRow): Promise<void> {
    await this.#write(
      q,
      [`a:${row.rolloutId}:${row.attemptId}`],
      `UPDATE ${this.table('agl_attempts')} SET end_time = $1, status = $2, worker_id = $3, last_heartbeat_time = $4,
       metadata = $5, deadline = $6 WHERE rollout_id = $7 AND attempt_id = $8`,
      [...attemptFields(row), row.rolloutId, row.attemptId],
    );
  }

  async queryAttempts(
    q: Queryable,
    rolloutId: string,
    page: Page<AttemptSortField>,
  ): Promise<PaginatedResult<AttemptRow>> {
    return this.#page(q, LISTINGS.attempts(rolloutId, page), page, toAttemptRow, ATTEMPT_SELECT);
  }

  /** One page of an attempt read in pages (the order of `queryAttempts(rolloutId, page)`). */
  async attemptPage(
    q: Queryable,
    rolloutId: string,
    page: Page<AttemptSortField>,
    request: KeysetRequest,
  ): Promise<KeysetPage<AttemptRow>> {
    return this.#keysetPage(q, LISTINGS.attempts(rolloutId, page), request, toAttemptRow, ATTEMPT_SELECT);
  }

  /** The earliest deadline of any attempt, in seconds; Infinity when none has one (an index probe). */
  async earliestDeadline(q: Queryable): Promise<number> {
    // ORDER BY makes the deadline index the plan whatever the statistics say (as min() would too, but
    // spelled out it cannot become a scan of every attempt in a cached generic plan).
    const { rows } = await this.#run(
      q,
      `SELECT deadline FROM ${this.table('agl_attempts')} WHERE deadline IS NOT NULL ORDER BY deadline LIMIT 1`,
      [],
    );
    return rows.length > 0 ? Number(rows[0]!.deadline) : Number.POSITIVE_INFINITY;
  }

  /** Attempts whose deadline is before `nowSeconds`, earliest first, at most `limit`. */
  async dueAttempts(q: Queryable, nowSeconds: number, limit: number): Promise<AttemptRow[]> {
    const { rows } = await this.#run(
      q,
      `SELECT ${ATTEMPT_SELECT} FROM ${this.table('agl_attempts')} WHERE deadline IS NOT NULL AND deadline < $1
       ORDER BY deadline LIMIT $2`,
      [nowSeconds, limit],
    );
    return rows.map(toAttemptRow);
  }

  // ------------------------------------------------------------ spans

  /**
   * Inserts spans with multi-row INSERTs; per span, false when (rolloutId, attemptId, spanId) already existed.
   * `ON CONFLICT DO NOTHING RETURNING` lists the rows really inserted, so duplicates are found without a
   * read first; a key repeated inside one call counts once, the first occurrence winning.
   */
  async insertSpans(q: Queryable, spans: readonly Span[]): Promise<boolean[]> {
    const params: unknown[] = [];
    for (let i = 0; i < spans.length; i++) params.push(...spanValues(spans[i]!, i));
    const result: boolean[] = [];
    for (let from = 0; from < spans.length; from += SPAN_CHUNK) {
      const count = Math.min(SPAN_CHUNK, spans.length - from);
      const { rows } = await this.#run<{ rollout_id: string; attempt_id: string; span_id: string }>(
        q,
        this.#spanInsert(count),
        params.slice(from * 10, (from + count) * 10),
      );
      const inserted = new Set(
        rows.map((row) => `${row.rollout_id}\u0000${row.attempt_id}\u0000${row.span_id}`),
      );
      for (let i = from; i < from + count; i++) {
        const span = spans[i]!;
        result.push(inserted.delete(`${span.rolloutId}\u0000${span.attemptId}\u0000${span.spanId}`));
      }
    }
    return result;
  }

  // The text for `rows` spans, built once per row count (at most SPAN_CHUNK texts): the same string each
  // call also keeps its hash for the prepared-statement name lookup, which a rebuilt 7 KB text pays again.
  #spanInsert(rows: number): string {
    let text = this.#spanInsertTexts[rows];
    if (text === undefined) {
      text = this.#buildSpanInsert(rows);
      this.#spanInsertTexts[rows] = text;
    }
    return text;
  }

  #buildSpanInsert(rows: number): string {
    const values: string[] = [];
    for (let r = 0; r < rows; r++) {
      const b = r * 10;
      values.push(
        `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}::int, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}::float8, $${b + 9}::float8, $${b + 10}::json)`,
      );
    }
    return `INSERT INTO ${this.table('agl_spans')} (rollout_id, attempt_id, span_id, sequence_id, trace_id, parent_id, name,
      start_time, end_time, body) VALUES ${values.join(', ')}
      ON CONFLICT (rollout_id, attempt_id, span_id) DO NOTHING RETURNING rollout_id, attempt_id, span_id`;
  }

  async querySpans(
    q: Queryable,
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
  ): Promise<PaginatedResult<Span>> {
    return this.#page(q, LISTINGS.spans(rolloutId, attemptId, filter, page), page, ROWS.toSpan, 'body');
  }

  /** One page of a span read in pages (the order of `querySpans(rolloutId, attemptId, filter, page)`). */
  async spanPage(
    q: Queryable,
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
    request: KeysetRequest,
  ): Promise<KeysetPage<Span>> {
    const listing = LISTINGS.spans(rolloutId, attemptId, filter, page);
    return this.#keysetPage(q, listing, request, ROWS.toSpan, 'body');
  }

  /**
   * Reserves `count` consecutive span sequence ids of a rollout; returns the first. The upsert takes the
   * counter row's lock, so concurrent reservations for one rollout serialize and never overlap.
   */
  async reserveSpanSequenceIds(q: Queryable, rolloutId: string, count: number): Promise<number> {
    const { rows } = await this.#run<{ last_sequence_id: number }>(
      q,
      `INSERT INTO ${this.table('agl_span_sequences')} AS s (rollout_id, last_sequence_id) VALUES ($1, $2)
       ON CONFLICT (rollout_id) DO UPDATE SET last_sequence_id = s.last_sequence_id + excluded.last_sequence_id
       RETURNING last_sequence_id`,
      [rolloutId, count],
    );
    return rows[0]!.last_sequence_id - count + 1;
  }

  /** Makes sure ids issued later are greater than `sequenceId`. */
  async raiseSpanSequenceId(q: Queryable, rolloutId: string, sequenceId: number): Promise<void> {
    await this.#write(
      q,
      [`s:${rolloutId}`],
      `INSERT INTO ${this.table('agl_span_sequences')} AS s (rollout_id, last_sequence_id) VALUES ($1, $2)
       ON CONFLICT (rollout_id) DO UPDATE SET last_sequence_id = GREATEST(s.last_sequence_id, excluded.last_sequence_id)`,
      [rolloutId, sequenceId],
    );
  }

  // ------------------------------------------------------------ resources

  async getResources(q: Queryable, resourcesId: string): Promise<ResourcesUpdate | null> {
    const { rows } = await this.#run(
      q,
      `SELECT * FROM ${this.table('agl_resources')} WHERE resources_id = $1`,
      [resourcesId],
    );
    return rows.length === 0 ? null : toResources(rows[0]!);
  }

  async putResources(q: Queryable, update: ResourcesUpdate): Promise<void> {
    await this.#write(
      q,
      ['res:append', `res:${update.resourcesId}`],
      `INSERT INTO ${this.table('agl_resources')} (resources_id, create_time, update_time, version, resources, write_seq)
       VALUES ($1, $2, $3, $4, $5, nextval('${this.#s.replace(/'/g, "''")}.agl_resources_write_seq'))
       ON CONFLICT (resources_id) DO UPDATE SET update_time = excluded.update_time, version = excluded.version,
       resources = excluded.resources, write_seq = excluded.write_seq`,
      resourcesValues(update),
    );
  }

  async latestResources(q: Queryable): Promise<ResourcesUpdate | null> {
    const { rows } = await this.#run(
      q,
      `SELECT * FROM ${this.table('agl_resources')} ORDER BY update_time DESC, write_seq DESC LIMIT 1`,
      [],
    );
    return rows.length === 0 ? null : toResources(rows[0]!);
  }

  async queryResources(
    q: Queryable,
    filter: ResourcesFilter,
    page: Page<ResourcesSortField>,
  ): Promise<PaginatedResult<ResourcesUpdate>> {
    return this.#page(q, LISTINGS.resources(filter, page), page, toResources);
  }

  /** One page of a resources read in pages (the order of `queryResources(filter, page)`). */
  async resourcesPage(
    q: Queryable,
    filter: ResourcesFilter,
    page: Page<ResourcesSortField>,
    request: KeysetRequest,
  ): Promise<KeysetPage<ResourcesUpdate>> {
    return this.#keysetPage(q, LISTINGS.resources(filter, page), request, toResources);
  }

  // ------------------------------------------------------------ workers

  /** A worker; `lock` takes its row lock (a missing worker is created by `putWorker`'s upsert). */
  async getWorker(q: Queryable, workerId: string, lock: boolean): Promise<Worker | null> {
    const { rows } = await this.#run(
      q,
      `SELECT * FROM ${this.table('agl_workers')} WHERE worker_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [workerId],
    );
    return rows.length === 0 ? null : toWorker(rows[0]!);
  }

  async putWorker(q: Queryable, worker: Worker): Promise<void> {
    await this.#write(
      q,
      [`w:${worker.workerId}`],
      `INSERT INTO ${this.table('agl_workers')} (worker_id, status, heartbeat_stats, last_heartbeat_time, last_dequeue_time,
       last_busy_time, last_idle_time, current_rollout_id, current_attempt_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (worker_id) DO UPDATE SET status = excluded.status, heartbeat_stats = excluded.heartbeat_stats,
       last_heartbeat_time = excluded.last_heartbeat_time, last_dequeue_time = excluded.last_dequeue_time,
       last_busy_time = excluded.last_busy_time, last_idle_time = excluded.last_idle_time,
       current_rollout_id = excluded.current_rollout_id, current_attempt_id = excluded.current_attempt_id`,
      workerValues(worker),
    );
  }

  /**
   * Sets some columns of a worker in one upsert (a new worker gets `insert` for every column). The upsert
   * takes the row lock itself, so concurrent patches of one worker never lose each other's columns.
   */
  async patchWorker(q: Queryable, insert: Worker, columns: ReadonlyArray<keyof Worker>): Promise<void> {
    const names = columns.map((key) => WORKER_FIELDS[key]);
    const set =
      names.length === 0 ? 'NOTHING' : `UPDATE SET ${names.map((n) => `${n} = excluded.${n}`).join(', ')}`;
    await this.#write(
      q,
      [`w:${insert.workerId}`],
      `INSERT INTO ${this.table('agl_workers')} (worker_id, status, heartbeat_stats, last_heartbeat_time, last_dequeue_time,
       last_busy_time, last_idle_time, current_rollout_id, current_attempt_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (worker_id) DO ${set}`,
      workerValues(insert),
    );
  }

  async queryWorkers(
    q: Queryable,
    filter: WorkerFilter,
    page: Page<WorkerSortField>,
  ): Promise<PaginatedResult<Worker>> {
    return this.#page(q, LISTINGS.workers(filter, page), page, toWorker);
  }

  /** One page of a worker read in pages (the order of `queryWorkers(filter, page)`). */
  async workerPage(
    q: Queryable,
    filter: WorkerFilter,
    page: Page<WorkerSortField>,
    request: KeysetRequest,
  ): Promise<KeysetPage<Worker>> {
    return this.#keysetPage(q, LISTINGS.workers(filter, page), request, toWorker);
  }

  // ------------------------------------------------------------ idempotency, statistics, retention

  async getIdempotent(q: Queryable, key: string): Promise<IdempotencyRecord | null> {
    const { rows } = await this.#run<IdempotencyRecord>(
      q,
      `SELECT operation, result FROM ${this.table('agl_idempotency')} WHERE key = $1`,
      [key],
    );
    return rows[0] ?? null;
  }

  async putIdempotent(
    q: Queryable,
    key: string,
    operation: string,
    result: string,
    createdAtSeconds: number,
  ): Promise<void> {
    await this.#write(
      q,
      [`i:${key}`],
      `INSERT INTO ${this.table('agl_idempotency')} (key, operation, result, created_at) VALUES ($1, $2, $3, $4)`,
      [key, operation, result, createdAtSeconds],
    );
  }

  async statistics(q: Queryable): Promise<Omit<RolloutStoreStatistics, 'name' | 'uptimeMs'>> {
    const t = (name: string) => `(SELECT COUNT(*)::int FROM ${this.table(name)})`;
    const { rows } = await this.#run(
      q,
      `SELECT ${t('agl_attempts')} AS attempts, ${t('agl_spans')} AS spans, ${t('agl_resources')} AS resources,
       ${t('agl_workers')} AS workers, ${t('agl_queue')} AS queue,
       (SELECT json_object_agg(status, n) FROM (SELECT status, COUNT(*)::int AS n FROM ${this.table('agl_rollouts')} GROUP BY status) g) AS by_status`,
      [],
    );
    const row = rows[0]!;
    const rolloutsByStatus = (row.by_status ?? {}) as Partial<Record<RolloutStatus, number>>;
    let totalRollouts = 0;
    for (const n of Object.values(rolloutsByStatus)) totalRollouts += n ?? 0;
    return {
      totalRollouts,
      totalAttempts: row.attempts as number,
      totalSpans: row.spans as number,
      totalResources: row.resources as number,
      totalWorkers: row.workers as number,
      queueLength: row.queue as number,
      rolloutsByStatus,
    };
  }

  /**
   * Deletes finished rollouts older than the cutoff with their attempts, spans, counters; counters of ids no
   * rollout has; and old idempotency keys. Data-modifying CTEs always run to completion, so the counters and
   * queue deletes need no output.
   */
  async pruneFinished(q: Queryable, cutoffSeconds: number): Promise<PruneResult> {
    const { rows } = await this.#run(
      q,
      `WITH old AS (
         DELETE FROM ${this.table('agl_rollouts')} WHERE status IN ${FINISHED_STATUSES} AND end_time < $1 RETURNING rollout_id
       ), spans AS (
         DELETE FROM ${this.table('agl_spans')} WHERE rollout_id IN (SELECT rollout_id FROM old) RETURNING 1
       ), attempts AS (
         DELETE FROM ${this.table('agl_attempts')} WHERE rollout_id IN (SELECT rollout_id FROM old) RETURNING 1
       ), counters AS (
         -- Also the counters of ids no rollout has (see the SQLite backend).
         DELETE FROM ${this.table('agl_span_sequences')} AS s WHERE rollout_id IN (SELECT rollout_id FROM old)
           OR NOT EXISTS (SELECT 1 FROM ${this.table('agl_rollouts')} AS r WHERE r.rollout_id = s.rollout_id)
       ), queued AS (
         DELETE FROM ${this.table('agl_queue')} WHERE rollout_id IN (SELECT rollout_id FROM old)
       ), keys AS (
         DELETE FROM ${this.table('agl_idempotency')} WHERE created_at < $1 RETURNING 1
       )
       SELECT (SELECT COUNT(*)::int FROM old) AS rollouts, (SELECT COUNT(*)::int FROM attempts) AS attempts,
              (SELECT COUNT(*)::int FROM spans) AS spans, (SELECT COUNT(*)::int FROM keys) AS keys`,
      [cutoffSeconds],
    );
    const row = rows[0]!;
    return {
      rollouts: row.rollouts as number,
      attempts: row.attempts as number,
      spans: row.spans as number,
      idempotencyKeys: row.keys as number,
    };
  }
}
