/**
 * SQLite storage of the rollout store through better-sqlite3: WAL, a busy timeout, prepared statements
 * (cached per SQL text), and every write as one `BEGIN IMMEDIATE` transaction. IMMEDIATE takes the write
 * lock up front, so two processes dequeuing at once serialize instead of both reading the queue head (and
 * instead of failing with SQLITE_BUSY when a deferred read transaction tries to upgrade). A batch of spans is
 * one transaction with one prepared INSERT run per span, which is what makes span ingest fast.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { CorruptStateError, InvalidInputError, TimeoutError } from '../../errors.ts';
import { loadPackage } from '../../shared/optionalPackage.ts';
import { reportSqliteCorruption } from '../../shared/sqliteCorruption.ts';
import type {
  AttemptRow,
  IdempotencyRecord,
  ResourcesFilter,
  RolloutFilter,
  RolloutRepository,
  RolloutRow,
  SpanFilter,
  WorkerFilter,
} from '../engine/repository.ts';
import { type Page, READ_PAGE_ROWS } from '../query.ts';
import { FINISHED_STATUSES } from '../sql/columns.ts';
import type { FilterDialect } from '../sql/filters.ts';
import {
  KeysetPlan,
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
import { ROLLOUT_SCHEMA, ROLLOUT_SCHEMA_VERSION } from './schema.ts';

/** Options of the SQLite repository. */
export interface SqliteRepositoryOptions {
  /** Database file; `:memory:` for a private in-memory database. Default `.agentstate/rollouts.sqlite`. */
  path?: string;
  /** How long a writer waits for another process's write lock before failing, ms (default 5000). */
  busyTimeoutMs?: number;
  /** `normal` (default; WAL: a power cut may lose the last commits, never corrupts) or `full` (fsync per commit). */
  synchronous?: 'normal' | 'full';
}

/** Default database file of the embedded rollout store. */
export const DEFAULT_ROLLOUT_DB_PATH = '.agentstate/rollouts.sqlite';

type Statement = Database.Statement<unknown[], unknown>;

// JSON columns are TEXT here; nullable numbers come back as numbers or null, so they pass unchanged.
const ROWS = rowMappers({
  json: (value) => (typeof value === 'string' ? JSON.parse(value) : null),
  optionalNumber: (value) => (value as number | null) ?? null,
});
const { toRolloutRow, toAttemptRow, toResources, toWorker } = ROWS;

// A list parameter travels as one JSON array text, unpacked by json_each (SQLite has no array type).
const FILTERS: FilterDialect = {
  placeholders: () => () => '?',
  oneOf: (column, p, values) => ({
    where: `${column} IN (SELECT value FROM json_each(${p}))`,
    params: [JSON.stringify(values)],
  }),
  contains: (column, p) => `instr(${column}, ${p}) > 0`,
};

// SQLite already puts NULLs first ascending and last descending, the order every backend promises.
function direction(desc: boolean): string {
  return desc ? 'DESC' : 'ASC';
}

// The listings (spans of one sequence id in insertion order: `rowid`, the spans table has no seq column).
const LISTINGS = sqlListings(FILTERS, 'rowid');

/** SQLite implementation of `RolloutRepository`. */
export class SqliteRolloutRepository implements RolloutRepository {
  readonly name = 'sqlite';
  /** A transaction that throws is rolled back whole (better-sqlite3's transaction function). */
  readonly undoesFailedWrite = true;
  /** The open database (for tools and tests; do not write to the agl_ tables directly). */
  readonly db: Database.Database;
  readonly #statements = new Map<string, Statement>();
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  readonly #path: string;
  readonly #busyTimeoutMs: number;

  constructor(options: SqliteRepositoryOptions = {}) {
    const path = options.path ?? DEFAULT_ROLLOUT_DB_PATH;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new (loadPackage<typeof Database>('better-sqlite3', 'SqliteRolloutStore'))(path);
    const busy = options.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(busy) || busy < 0) {
      throw new InvalidInputError('busyTimeoutMs must be an integer >= 0', {
        field: 'busyTimeoutMs',
        value: busy,
      });
    }
    this.#path = path;
    this.#busyTimeoutMs = busy;
    this.#transaction = this.db.transaction((fn: () => unknown) => fn());
    try {
      this.db.pragma(`busy_timeout = ${busy}`);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      this.#transaction.immediate(() => {
        this.db.exec(ROLLOUT_SCHEMA);
        const row = this.db.prepare("SELECT value FROM agl_meta WHERE key = 'schema_version'").get() as
          | { value: string }
          | undefined;
        if (row === undefined) {
          this.db
            .prepare("INSERT INTO agl_meta (key, value) VALUES ('schema_version', ?)")
            .run(String(ROLLOUT_SCHEMA_VERSION));
        } else if (Number(row.value) > ROLLOUT_SCHEMA_VERSION) {
          throw new CorruptStateError(
            `rollout database ${path} has schema version ${row.value}, newer than this agentstate (${ROLLOUT_SCHEMA_VERSION}); upgrade agentstate`,
            { path, schemaVersion: row.value },
          );
        }
      });
    } catch (error) {
      this.db.close();
      // A damaged header or schema page shows here, at start-up: report it, never start over an empty file.
      throw reportSqliteCorruption(error, path);
    }
  }

  #stmt(sql: string): Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  write<T>(fn: () => T): T {
    try {
      return this.#transaction.immediate(fn) as T;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) {
        throw new TimeoutError(
          `the rollout database ${this.#path} stayed locked by another connection longer than busyTimeoutMs (${this.#busyTimeoutMs} ms); nothing was written`,
          { path: this.#path, busyTimeoutMs: this.#busyTimeoutMs },
        );
      }
      throw error;
    }
  }

  atomic<T>(fn: () => T): T {
    // Called inside `write`, better-sqlite3 runs a nested transaction function as a SAVEPOINT.
    return this.#transaction(fn) as T;
  }

  exportValue<T>(value: T): T {
    // Every row is freshly parsed from SQLite: nothing is shared with the store.
    return value;
  }

  #page<T>(listing: SqlListing, page: Page<string>, map: (row: Row) => T): PaginatedResult<T> {
    const { table, filter } = listing;
    const where = filter.where === '' ? '' : `WHERE ${filter.where}`;
    const total = (
      this.#stmt(`SELECT COUNT(*) AS n FROM ${table} ${where}`).get(...filter.params) as { n: number }
    ).n;
    const order = keysetOrderBy(listing.order, direction);
    const rows = this.#stmt(`SELECT * FROM ${table} ${where} ${order} LIMIT ? OFFSET ?`).all(
      ...filter.params,
      page.limit,
      page.offset,
    ) as Row[];
    return { items: rows.map(map), limit: page.limit, offset: page.offset, total };
  }

  /**
   * The rows `#page(listing, page, map)` returns, read by keyset a page of at most `pageRows` at a time
   * (see KeysetPlan), each page read only when asked for.
   */
  *#pages<T>(
    listing: SqlListing,
    page: Page<string>,
    pageRows: number,
    map: (row: Row) => T,
  ): Generator<T[]> {
    const plan = new KeysetPlan(page, pageRows);
    // rowid is not part of `*`; the spans' keyset needs it.
    const columns = listing.order.ties.includes('rowid') ? '*, rowid' : '*';
    for (let request = plan.next(); request !== null; request = plan.next()) {
      const { where, orderLimit, params } = keysetPageClauses(listing, request, () => '?', direction);
      let rows: Row[];
      try {
        rows = this.#stmt(`SELECT ${columns} FROM ${listing.table} ${where} ${orderLimit}`).all(
          ...params,
        ) as Row[];
      } catch (error) {
        // Pages are read after the call returned, past the store's corruption wrapper: report here.
        throw reportSqliteCorruption(error, this.#path);
      }
      const last = rows.at(-1);
      plan.advance(request, rows.length, last === undefined ? null : keysetCursor(last, listing.order));
      if (rows.length > 0) yield rows.map(map);
    }
  }

  // ------------------------------------------------------------ rollouts

  getRollout(rolloutId: string): RolloutRow | null {
    const row = this.#stmt('SELECT * FROM agl_rollouts WHERE rollout_id = ?').get(rolloutId) as
      | Row
      | undefined;
    return row === undefined ? null : toRolloutRow(row);
  }

  insertRollout(row: RolloutRow): void {
    this.#stmt(
      `INSERT INTO agl_rollouts (rollout_id, input, start_time, end_time, mode, resources_id, status, config, metadata, latest_attempt_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(row.rolloutId, ...rolloutFields(row));
  }

  updateRollout(row: RolloutRow): void {
    this.#stmt(
      `UPDATE agl_rollouts SET input = ?, start_time = ?, end_time = ?, mode = ?, resources_id = ?, status = ?,
       config = ?, metadata = ?, latest_attempt_id = ? WHERE rollout_id = ?`,
    ).run(...rolloutFields(row), row.rolloutId);
  }

  updateRolloutState(row: RolloutRow): void {
    this.#stmt(
      'UPDATE agl_rollouts SET status = ?, end_time = ?, latest_attempt_id = ? WHERE rollout_id = ?',
    ).run(row.status, row.endTime, row.latestAttemptId, row.rolloutId);
  }

  queryRollouts(filter: RolloutFilter, page: Page<RolloutSortField>): PaginatedResult<RolloutRow> {
    return this.#page(LISTINGS.rollouts(filter, page), page, toRolloutRow);
  }

  rolloutPages(
    filter: RolloutFilter,
    page: Page<RolloutSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<RolloutRow[]> {
    return this.#pages(LISTINGS.rollouts(filter, page), page, pageRows, toRolloutRow);
  }

  // ------------------------------------------------------------ queue

  enqueue(rolloutIds: readonly string[]): void {
    const insert = this.#stmt('INSERT OR IGNORE INTO agl_queue (rollout_id) VALUES (?)');
    for (const id of rolloutIds) insert.run(id);
  }

  takeQueued(limit: number): string[] {
    const rows = this.#stmt('SELECT seq, rollout_id FROM agl_queue ORDER BY seq LIMIT ?').all(
      limit,
    ) as Array<{
      seq: number;
      rollout_id: string;
    }>;
    if (rows.length === 0) return [];
    // The rows are the head of the queue, so "seq <= last" deletes exactly them.
    this.#stmt('DELETE FROM agl_queue WHERE seq <= ?').run(rows[rows.length - 1]!.seq);
    return rows.map((row) => row.rollout_id);
  }

  removeQueued(rolloutId: string): void {
    this.#stmt('DELETE FROM agl_queue WHERE rollout_id = ?').run(rolloutId);
  }

  // ------------------------------------------------------------ attempts

  getAttempt(rolloutId: string, attemptId: string): AttemptRow | null {
    const row = this.#stmt('SELECT * FROM agl_attempts WHERE rollout_id = ? AND attempt_id = ?').get(
      rolloutId,
      attemptId,
    ) as Row | undefined;
    return row === undefined ? null : toAttemptRow(row);
  }

  insertAttempt(row: AttemptRow): void {
    this.#stmt(
      `INSERT INTO agl_attempts (rollout_id, attempt_id, sequence_id, start_time, end_time, status, worker_id,
       last_heartbeat_time, metadata, deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(...attemptInsertValues(row));
  }

  updateAttempt(row: AttemptRow): void {
    this.#stmt(
      `UPDATE agl_attempts SET end_time = ?, status = ?, worker_id = ?, last_heartbeat_time = ?, metadata = ?,
       deadline = ? WHERE rollout_id = ? AND attempt_id = ?`,
    ).run(...attemptFields(row), row.rolloutId, row.attemptId);
  }

  queryAttempts(rolloutId: string, page: Page<AttemptSortField>): PaginatedResult<AttemptRow> {
    return this.#page(LISTINGS.attempts(rolloutId, page), page, toAttemptRow);
  }

  attemptPages(
    rolloutId: string,
    page: Page<AttemptSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<AttemptRow[]> {
    return this.#pages(LISTINGS.attempts(rolloutId, page), page, pageRows, toAttemptRow);
  }

  hasDueAttempts(nowSeconds: number): boolean {
    return (
      this.#stmt('SELECT 1 FROM agl_attempts WHERE deadline IS NOT NULL AND deadline < ? LIMIT 1').get(
        nowSeconds,
      ) !== undefined
    );
  }

  dueAttempts(nowSeconds: number, limit: number): AttemptRow[] {
    const rows = this.#stmt(
      'SELECT * FROM agl_attempts WHERE deadline IS NOT NULL AND deadline < ? ORDER BY deadline LIMIT ?',
    ).all(nowSeconds, limit) as Row[];
    return rows.map(toAttemptRow);
  }

  // ------------------------------------------------------------ spans

  insertSpans(spans: readonly Span[]): boolean[] {
    // One prepared single-row INSERT run per span, inside the caller's transaction. Measured against
    // 32-row INSERT ... RETURNING: the multi-row form costs ~12% more CPU per span (RETURNING rows and
    // matching them back), so the simple form stays.
    const insert = this.#stmt(
      `INSERT INTO agl_spans (rollout_id, attempt_id, span_id, sequence_id, trace_id, parent_id, name, start_time,
       end_time, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (rollout_id, attempt_id, span_id) DO NOTHING`,
    );
    const result: boolean[] = [];
    for (let i = 0; i < spans.length; i++) result.push(insert.run(...spanValues(spans[i]!, i)).changes > 0);
    return result;
  }

  querySpans(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
  ): PaginatedResult<Span> {
    return this.#page(LISTINGS.spans(rolloutId, attemptId, filter, page), page, ROWS.toSpan);
  }

  spanPages(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<Span[]> {
    return this.#pages(LISTINGS.spans(rolloutId, attemptId, filter, page), page, pageRows, ROWS.toSpan);
  }

  reserveSpanSequenceIds(rolloutId: string, count: number): number {
    const row = this.#stmt(
      `INSERT INTO agl_span_sequences (rollout_id, last_sequence_id) VALUES (?, ?)
       ON CONFLICT (rollout_id) DO UPDATE SET last_sequence_id = last_sequence_id + excluded.last_sequence_id
       RETURNING last_sequence_id`,
    ).get(rolloutId, count) as { last_sequence_id: number };
    return row.last_sequence_id - count + 1;
  }

  raiseSpanSequenceId(rolloutId: string, sequenceId: number): void {
    this.#stmt(
      `INSERT INTO agl_span_sequences (rollout_id, last_sequence_id) VALUES (?, ?)
       ON CONFLICT (rollout_id) DO UPDATE SET last_sequence_id = MAX(last_sequence_id, excluded.last_sequence_id)`,
    ).run(rolloutId, sequenceId);
  }

  // ------------------------------------------------------------ resources

  getResources(resourcesId: string): ResourcesUpdate | null {
    const row = this.#stmt('SELECT * FROM agl_resources WHERE resources_id = ?').get(resourcesId) as
      | Row
      | undefined;
    return row === undefined ? null : toResources(row);
  }

  putResources(update: ResourcesUpdate): void {
    this.#stmt(
      `INSERT INTO agl_resources (resources_id, create_time, update_time, version, resources, write_seq)
       VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(write_seq), 0) + 1 FROM agl_resources))
       ON CONFLICT (resources_id) DO UPDATE SET update_time = excluded.update_time, version = excluded.version,
       resources = excluded.resources, write_seq = excluded.write_seq`,
    ).run(...resourcesValues(update));
  }

  latestResources(): ResourcesUpdate | null {
    const row = this.#stmt(
      'SELECT * FROM agl_resources ORDER BY update_time DESC, write_seq DESC LIMIT 1',
    ).get() as Row | undefined;
    return row === undefined ? null : toResources(row);
  }

  queryResources(filter: ResourcesFilter, page: Page<ResourcesSortField>): PaginatedResult<ResourcesUpdate> {
    return this.#page(LISTINGS.resources(filter, page), page, toResources);
  }

  resourcesPages(
    filter: ResourcesFilter,
    page: Page<ResourcesSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<ResourcesUpdate[]> {
    return this.#pages(LISTINGS.resources(filter, page), page, pageRows, toResources);
  }

  // ------------------------------------------------------------ workers

  getWorker(workerId: string): Worker | null {
    const row = this.#stmt('SELECT * FROM agl_workers WHERE worker_id = ?').get(workerId) as Row | undefined;
    return row === undefined ? null : toWorker(row);
  }

  putWorker(worker: Worker): void {
    this.#stmt(
      `INSERT INTO agl_workers (worker_id, status, heartbeat_stats, last_heartbeat_time, last_dequeue_time,
       last_busy_time, last_idle_time, current_rollout_id, current_attempt_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (worker_id) DO UPDATE SET status = excluded.status, heartbeat_stats = excluded.heartbeat_stats,
       last_heartbeat_time = excluded.last_heartbeat_time, last_dequeue_time = excluded.last_dequeue_time,
       last_busy_time = excluded.last_busy_time, last_idle_time = excluded.last_idle_time,
       current_rollout_id = excluded.current_rollout_id, current_attempt_id = excluded.current_attempt_id`,
    ).run(...workerValues(worker));
  }

  queryWorkers(filter: WorkerFilter, page: Page<WorkerSortField>): PaginatedResult<Worker> {
    return this.#page(LISTINGS.workers(filter, page), page, toWorker);
  }

  workerPages(
    filter: WorkerFilter,
    page: Page<WorkerSortField>,
    pageRows = READ_PAGE_ROWS,
  ): Generator<Worker[]> {
    return this.#pages(LISTINGS.workers(filter, page), page, pageRows, toWorker);
  }

  // ------------------------------------------------------------ idempotency, statistics, retention

  getIdempotent(key: string): IdempotencyRecord | null {
    const row = this.#stmt('SELECT operation, result FROM agl_idempotency WHERE key = ?').get(key) as
      | IdempotencyRecord
      | undefined;
    return row ?? null;
  }

  putIdempotent(key: string, operation: string, result: string, createdAtSeconds: number): void {
    this.#stmt('INSERT INTO agl_idempotency (key, operation, result, created_at) VALUES (?, ?, ?, ?)').run(
      key,
      operation,
      result,
      createdAtSeconds,
    );
  }

  statistics(): Omit<RolloutStoreStatistics, 'name' | 'uptimeMs'> {
    const count = (table: string) =>
      (this.#stmt(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    const rolloutsByStatus: Partial<Record<RolloutStatus, number>> = {};
    const rows = this.#stmt('SELECT status, COUNT(*) AS n FROM agl_rollouts GROUP BY status').all() as Array<{
      status: RolloutStatus;
      n: number;
    }>;
    let totalRollouts = 0;
    for (const row of rows) {
      rolloutsByStatus[row.status] = row.n;
      totalRollouts += row.n;
    }
    return {
      totalRollouts,
      totalAttempts: count('agl_attempts'),
      totalSpans: count('agl_spans'),
      totalResources: count('agl_resources'),
      totalWorkers: count('agl_workers'),
      queueLength: count('agl_queue'),
      rolloutsByStatus,
    };
  }

  pruneFinished(cutoffSeconds: number): PruneResult {
    const old = `SELECT rollout_id FROM agl_rollouts WHERE status IN ${FINISHED_STATUSES} AND end_time < ?`;
    const spans = this.#stmt(`DELETE FROM agl_spans WHERE rollout_id IN (${old})`).run(cutoffSeconds).changes;
    const attempts = this.#stmt(`DELETE FROM agl_attempts WHERE rollout_id IN (${old})`).run(
      cutoffSeconds,
    ).changes;
    this.#stmt(`DELETE FROM agl_queue WHERE rollout_id IN (${old})`).run(cutoffSeconds);
    const rollouts = this.#stmt(
      `DELETE FROM agl_rollouts WHERE status IN ${FINISHED_STATUSES} AND end_time < ?`,
    ).run(cutoffSeconds).changes;
    // Counters of the pruned rollouts, and of ids no rollout has (getNextSpanSequenceId issues numbers for
    // any id; the store makes rollout ids itself, so such an id never gets a rollout later).
    this.#stmt(
      'DELETE FROM agl_span_sequences WHERE rollout_id NOT IN (SELECT rollout_id FROM agl_rollouts)',
    ).run();
    const idempotencyKeys = this.#stmt('DELETE FROM agl_idempotency WHERE created_at < ?').run(
      cutoffSeconds,
    ).changes;
    return {
      rollouts,
      attempts: Number(attempts),
      spans: Number(spans),
      idempotencyKeys: Number(idempotencyKeys),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
