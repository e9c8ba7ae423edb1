/**
 * `PostgresRolloutStore`: the rollout store for many server processes and machines sharing one PostgreSQL.
 *
 * - Every write is one transaction running the shared write rules (../engine/writes.ts) with `runAsync`;
 *   ./transaction.ts is what those rules see of the transaction (locking reads, the worker upsert).
 * - Group commit: writes submitted in the same event-loop turn share one transaction (one BEGIN/COMMIT and
 *   one WAL flush for many runners). If one of them fails, the transaction is rolled back and run again
 *   without it, so each call still succeeds or fails on its own. Several such batches run at once on
 *   different pool connections. `groupCommit: false`: one transaction per call (queue writes of one store
 *   still one at a time, in call order).
 * - The queue: `FOR UPDATE SKIP LOCKED` takes the queue head, so any number of consumers in any number of
 *   processes never get the same rollout, and never wait for each other.
 * - Span ids per rollout come from a counter row updated with `... RETURNING` (its row lock serializes
 *   reservations); duplicate spans are caught by the unique index with `ON CONFLICT DO NOTHING RETURNING`.
 * - `waitForRollouts` wakes on the finishing write in any process: the writer sends NOTIFY inside its
 *   transaction, one LISTEN connection per store receives it. No polling; a long safety re-check
 *   (`waitRecheckIntervalMs`, default 30 s) only covers notifications lost while that connection was down.
 * - Health checks run on a timer (unref'd) and before reads, as in the other backends. The timed pass runs
 *   only in the process holding the cluster's health-check lease (./healthLease.ts), so N processes sweep
 *   once per interval, not N times. A sweep takes a transaction-scoped advisory lock, so a sweep before a
 *   read and the timed one never run at once (the timer skips, a read waits).
 * - Every statement is counted per operation (./roundTrips.ts) for `/metrics`; `ready()` answers
 *   `/health/ready`.
 * - Deadlocks and serialization failures between concurrent transactions are retried (the transaction is
 *   re-run from the start), invisible to callers.
 */
import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import {
  type AgentStateError,
  ClosedError,
  CorruptStateError,
  InvalidInputError,
  UnavailableError,
} from '../../errors.ts';
import { loadPackage } from '../../shared/optionalPackage.ts';
import { checkOut } from '../../shared/postgres/checkout.ts';
import { postgresFailure } from '../../shared/postgres/failure.ts';
import { channelFor, checkSchemaName, schemaLockKey } from '../../shared/postgres/identifiers.ts';
import { ChannelListener } from '../../shared/postgres/listener.ts';
import { statementTimeoutMs } from '../../shared/postgres/statementTimeout.ts';
import {
  attemptPage,
  dequeueArguments,
  healthCheckInterval,
  heartbeatStats,
  maxDequeuePerCall,
  optionalWorkerId,
  otelSpanInput,
  pruneAge,
  readPageRows,
  requireArray,
  resourcesListing,
  rolloutListing,
  spanListing,
  waitArguments,
  workerListing,
} from '../engine/arguments.ts';
import { batchLength, MAX_ROWS_PER_TRANSACTION, type Weighted } from '../engine/batching.ts';
import type { RolloutRow } from '../engine/repository.ts';
import { toAttempt, toAttempted, toRollout } from '../engine/rows.ts';
import { addSpans, firstStored, writeResult } from '../engine/spanWrites.ts';
import { runAsync, type Steps } from '../engine/steps.ts';
import {
  addResources,
  dequeue,
  enqueue,
  idempotent,
  nextSpanSequenceId,
  prune,
  startAttempt,
  startRollout,
  sweep,
  updateAttempt,
  updateResources,
  updateRollout,
  updateWorker,
} from '../engine/writes.ts';
import { normalizeAttemptPatch, normalizeResources, normalizeRolloutPatch, requireId } from '../normalize.ts';
import type { Page } from '../query.ts';
import { KeysetPlan, type KeysetRequest } from '../sql/keyset.ts';
import { isFinishedRollout } from '../transitions.ts';
import type {
  AddOtelSpanOptions,
  Attempt,
  AttemptedRollout,
  AttemptPatch,
  AttemptQuery,
  DequeueManyOptions,
  DequeueOptions,
  EnqueueRolloutRequest,
  IterateOptions,
  NamedResources,
  PaginatedResult,
  PruneOptions,
  PruneResult,
  ReadableSpanLike,
  ResourcesQuery,
  ResourcesUpdate,
  Rollout,
  RolloutPatch,
  RolloutQuery,
  RolloutStore,
  RolloutStoreOperationalStats,
  RolloutStoreOptions,
  RolloutStoreStatistics,
  Span,
  SpanInput,
  SpanQuery,
  SpanWriteResult,
  StartAttemptOptions,
  StartRolloutRequest,
  UpdateWorkerOptions,
  WaitForRolloutsOptions,
  Worker,
  WorkerQuery,
  WriteOptions,
} from '../types.ts';
import { RolloutWaiters } from '../waiters.ts';
import { CoalescedWrites } from './coalescedWrites.ts';
import { acquireHealthLease, releaseHealthLease } from './healthLease.ts';
import {
  type BatchOperation,
  batchFailure,
  OperationFailed,
  OperationsOverlapped,
  runOperations,
} from './operations.ts';
import { BufferedWrites, type KeysetPage, PostgresRolloutRepository, type Queryable } from './repository.ts';
import { CountedRunner, RoundTripCounter, type StatementRunner } from './roundTrips.ts';
import { POSTGRES_ROLLOUT_SCHEMA_VERSION, postgresRolloutSchema } from './schema.ts';
import { RolloutTransaction } from './transaction.ts';

/** Options of `PostgresRolloutStore`: a connection string or a pool, the schema, and the common options. */
export interface PostgresRolloutStoreOptions extends RolloutStoreOptions {
  /** `postgres://user@host:5432/db`; the store then owns its pool and ends it on `close()`. */
  connectionString?: string;
  /** A pool you own (not ended by `close()`); one of its connections is held for LISTEN while someone waits. */
  pool?: Pool;
  /** Schema holding the tables (default `agentstate`); created on first use. One rollout store per schema. */
  schema?: string;
  /**
   * Connections of the pool the store creates (default 24, plus one for LISTEN). Write batches run on up to
   * this many minus two connections at once (two stay free for reads and the health check).
   */
  poolSize?: number;
  /** Safety re-check of awaited rollouts, ms (default 30000): only matters if a notification was lost. */
  waitRecheckIntervalMs?: number;
  /**
   * `statement_timeout` of every connection of the pool the store creates, ms (default 60000; 0 = none).
   * A pool you pass keeps its own settings.
   */
  statementTimeoutMs?: number;
}

const DEFAULT_POOL_SIZE = 24;
const DEFAULT_HEALTH_INTERVAL_MS = 1000;
const DEFAULT_WAIT_RECHECK_MS = 30_000;
// One health-check pass handles at most this many expired attempts; the next pass takes the rest.
const HEALTH_BATCH = 500;
// Operations per group-commit transaction: big enough to amortize BEGIN/COMMIT, small enough that a
// transaction holds its row locks briefly and several batches run side by side.
const MAX_BATCH = 32;
// How often a transaction that lost a deadlock or serialization race is re-run before the error surfaces.
const MAX_TRANSIENT_RETRIES = 8;
// NOTIFY payloads must stay under 8000 bytes.
const NOTIFY_PAYLOAD_BYTES = 7000;
// The health-check lease lasts this many intervals.
const LEASE_INTERVALS = 3;
// First key of the advisory locks: ASCII "aglr" (rollouts), apart from the document driver's "agst".
const LOCK_CLASS = 0x61676c72;

type Op<T> = (tx: RolloutTransaction) => Promise<T>;

interface PendingWrite extends Weighted, BatchOperation {
  operation: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

// Operations that touch only the rows their `Touched` keys name, so a batch may run them side by side
// (./operations.ts). The others (enqueue and startRollout append in creation order, resources, prune) run
// one at a time in their place in the batch.
const CONCURRENT_OPERATIONS = new Set([
  'dequeueManyRollouts',
  'addSpan',
  'addManySpans',
  'updateAttempt',
  'updateRollout',
  'startAttempt',
  'getNextSpanSequenceId',
  'updateWorker',
]);

/** Deadlock, serialization failure, or a concurrent first use of the same idempotency key: re-run the transaction. */
function isTransient(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown };
  if (e?.code === '40P01' || e?.code === '40001') return true;
  return e?.code === '23505' && e.constraint === 'agl_idempotency_pkey';
}

/** The rollout store on PostgreSQL. */
export class PostgresRolloutStore implements RolloutStore {
  /** Backend name. */
  readonly name = 'postgres';
  /** The schema holding the tables. */
  readonly schema: string;
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #repo: PostgresRolloutRepository;
  readonly #channel: string;
  readonly #lockKey: number;
  readonly #now: () => number;
  readonly #createdAt: number;
  readonly #waiters = new RolloutWaiters();
  readonly #listener: ChannelListener;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #maxBatch: number;
  readonly #maxDequeue: number;
  readonly #maxInFlight: number;
  #ready: Promise<void> | undefined;
  #initialised = false;
  #pending: PendingWrite[] = [];
  #flushScheduled = false;
  #inFlight = 0;
  #drained: Array<() => void> = [];
  // With group commit off, queue appends and takes of one store still run one at a time, in call order,
  // so one handle keeps FIFO order (with group commit on, a turn's calls share one ordered transaction).
  #queueLane: Promise<unknown> = Promise.resolve();
  #health: { started: boolean; promise: Promise<void> } | undefined;
  #timerSweep: Promise<void> | undefined;
  // Reads and sweeps in progress: close() waits for them, because ending a pool under a running query
  // leaves that query's promise unsettled forever.
  readonly #work = new Set<Promise<unknown>>();
  #closing = false;
  readonly #roundTrips = new RoundTripCounter();
  // Names this process in the cluster's health-check lease.
  readonly #owner = randomUUID();
  readonly #leaseMs: number;
  #leader = false;
  #healthRuns = 0;

  /** Connects lazily: the first operation creates the schema (under an advisory lock) when missing. */
  constructor(options: PostgresRolloutStoreOptions) {
    const schema = options?.schema ?? 'agentstate';
    checkSchemaName(schema);
    if (!options?.pool && !options?.connectionString) {
      throw new InvalidInputError('PostgresRolloutStore needs a connectionString or a pool', { schema });
    }
    const poolSize = options.poolSize ?? DEFAULT_POOL_SIZE;
    if (!Number.isInteger(poolSize) || poolSize < 3) {
      throw new InvalidInputError('poolSize must be an integer >= 3', { field: 'poolSize', value: poolSize });
    }
    this.schema = schema;
    this.#ownsPool = options.pool === undefined;
    this.#pool =
      options.pool ??
      new (loadPackage<typeof import('pg')>('pg', 'PostgresRolloutStore').Pool)({
        connectionString: options.connectionString,
        max: poolSize + 1,
        // Statements of a transaction are sent without waiting for the previous answer where the store
        // allows it (see #transactionAttempts).
        pipeline: true,
        allowExitOnIdle: true,
        statement_timeout: statementTimeoutMs(options.statementTimeoutMs),
      });
    // An idle connection that drops (server restart) must not crash the process; the next query reconnects.
    if (this.#ownsPool) this.#pool.on('error', () => {});
    const connections = this.#ownsPool ? poolSize : Math.max(3, (this.#pool.options.max ?? 10) - 1);
    this.#maxInFlight = Math.max(1, connections - 2);
    this.#maxBatch = options.groupCommit === false ? 1 : MAX_BATCH;
    this.#maxDequeue = maxDequeuePerCall(options.maxDequeuePerCall);
    this.#repo = new PostgresRolloutRepository(schema);
    this.#channel = channelFor(schema, 'agentstate_rollouts_');
    this.#lockKey = schemaLockKey(schema);
    this.#now = options.now ?? Date.now;
    this.#createdAt = this.#now();
    this.#listener = new ChannelListener(
      this.#pool,
      this.#channel,
      (payload) => this.#recheck(payload.split(',')),
      () => this.#recheck(this.#waiters.waitedIds()),
    );
    const interval = healthCheckInterval(options.healthCheckIntervalMs, DEFAULT_HEALTH_INTERVAL_MS);
    // The holder renews every interval; three missed renewals (a dead or stalled process) hand it over.
    this.#leaseMs = interval * LEASE_INTERVALS;
    if (interval > 0) this.#every(interval, () => this.#tick());
    const recheck = options.waitRecheckIntervalMs ?? DEFAULT_WAIT_RECHECK_MS;
    if (!Number.isFinite(recheck) || recheck <= 0) {
      throw new InvalidInputError('waitRecheckIntervalMs must be a number of ms > 0', {
        field: 'waitRecheckIntervalMs',
        value: recheck,
      });
    }
    this.#every(recheck, () => {
      if (this.#waiters.size > 0) this.#recheck(this.#waiters.waitedIds());
    });
  }

  #every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    // Timers never keep a process alive on their own.
    timer.unref();
    this.#timers.push(timer);
  }

  // ---------------------------------------------------------------- plumbing

  #seconds(): number {
    return this.#now() / 1000;
  }

  #assertOpen(): void {
    if (this.#closing)
      throw new ClosedError(`the postgres rollout store (schema ${this.schema}) is closed`, {
        schema: this.schema,
      });
  }

  /** Creates the schema once per store, under an advisory lock so concurrent first uses do not race. */
  #ensureSchema(): Promise<void> {
    this.#ready ??= this.#createSchema().then(
      () => {
        this.#initialised = true;
      },
      (error: unknown) => {
        this.#ready = undefined;
        throw error;
      },
    );
    return this.#ready;
  }

  /**
   * Reads the stored schema version; runs the DDL only when the tables are missing. The DDL is never run
   * against a schema in use: `CREATE INDEX IF NOT EXISTS` takes a share lock on its table before it finds
   * the index, which would queue behind (and deadlock with) other processes' writes.
   */
  async #createSchema(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (await this.#checkVersion(this.#pool)) return;
        await this.#runDdl();
        return;
      } catch (error) {
        if (isTransient(error) && attempt < MAX_TRANSIENT_RETRIES) continue;
        throw error;
      }
    }
  }

  /** True when the tables exist (at a version this code reads); CorruptStateError when newer. */
  async #checkVersion(q: Pool | PoolClient): Promise<boolean> {
    const meta = this.#repo.table('agl_meta');
    const exists = await q.query('SELECT to_regclass($1) IS NOT NULL AS ok', [meta]);
    if (exists.rows[0]?.ok !== true) return false;
    const { rows } = await q.query(`SELECT value FROM ${meta} WHERE key = 'schema_version'`);
    const version = rows[0]?.value as string | undefined;
    if (version === undefined) return false;
    if (Number(version) > POSTGRES_ROLLOUT_SCHEMA_VERSION) {
      throw new CorruptStateError(
        `rollout schema ${this.schema} has version ${version}, newer than this agentstate (${POSTGRES_ROLLOUT_SCHEMA_VERSION}); upgrade agentstate`,
        { schema: this.schema, schemaVersion: version },
      );
    }
    return true;
  }

  async #runDdl(): Promise<void> {
    const client = await checkOut(this.#pool);
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, this.#lockKey]);
      // Another process may have created it while this one waited for the lock.
      if (!(await this.#checkVersion(client))) {
        await client.query(postgresRolloutSchema(this.schema));
        await client.query(
          `INSERT INTO ${this.#repo.table('agl_meta')} (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING`,
          [String(POSTGRES_ROLLOUT_SCHEMA_VERSION)],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /** A read on any pool connection, after the schema exists; its statements count for `operation`. */
  #read<T>(operation: string, fn: (q: Queryable) => Promise<T>): Promise<T> {
    this.#assertOpen();
    const counted = new CountedRunner(this.#pool);
    return this.#track(
      this.#ensureSchema()
        .then(() => fn(counted))
        .catch((error: unknown) => {
          throw this.#wrap(error);
        })
        .finally(() => this.#roundTrips.record([operation], counted.count)),
    );
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#work.add(work);
    const forget = () => this.#work.delete(work);
    work.then(forget, forget);
    return work;
  }

  /**
   * One transaction running `fn`, re-run from the start after a deadlock or serialization failure. `fn`
   * opens one `RolloutTransaction` per operation (`open`); the writes they still hold back at the end are
   * sent with the COMMIT, and a failure among them is reported by `lastWritesFailed` with the index of the
   * transaction that held them. Rollouts they finished are announced with NOTIFY inside the transaction and
   * to this process's waiters after COMMIT.
   */
  async #transaction<T>(
    operations: readonly string[],
    fn: (open: () => RolloutTransaction, client: StatementRunner) => Promise<T>,
    lastWritesFailed: (error: unknown, index: number) => unknown = (error) => error,
  ): Promise<T> {
    await this.#ensureSchema();
    let roundTrips = 0;
    try {
      return await this.#transactionAttempts(
        fn,
        (n) => {
          roundTrips += n;
        },
        lastWritesFailed,
      );
    } finally {
      this.#roundTrips.record(operations, roundTrips);
    }
  }

  async #transactionAttempts<T>(
    fn: (open: () => RolloutTransaction, client: StatementRunner) => Promise<T>,
    counted: (roundTrips: number) => void,
    lastWritesFailed: (error: unknown, index: number) => unknown,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const pooled = await checkOut(this.#pool);
      // A pipelined connection takes a statement before the previous one is answered: BEGIN travels with
      // the first statement, the last buffered writes with the NOTIFY and COMMIT, two round trips saved
      // per transaction. A pool without pipeline mode (one passed in) gets the statements one at a time.
      const pipelined = (pooled as { pipeline?: boolean }).pipeline === true;
      const client = new CountedRunner(pipelined ? new CoalescedWrites(pooled) : pooled);
      const release = (broken?: boolean) => {
        counted(client.count);
        pooled.release(broken);
      };
      const txs: RolloutTransaction[] = [];
      const open = () => {
        const buffer = new BufferedWrites(client, (text) => this.#repo.statementName(text), pipelined);
        const tx = new RolloutTransaction(this.#repo, buffer, () => this.#seconds());
        txs.push(tx);
        return tx;
      };
      let result: T;
      try {
        if (pipelined) {
          const begun = client.query('BEGIN');
          begun.catch(() => {});
          result = await fn(open, client);
          await begun;
          // Sent back to back. If the writes fail, PostgreSQL answers the COMMIT with a rollback.
          const flushed = txs.map((tx) => tx.flush());
          for (const f of flushed) f.catch(() => {});
          const notified = this.#notify(client, txs);
          const committed = client.query('COMMIT');
          notified.catch(() => {});
          committed.catch(() => {});
          for (let i = 0; i < flushed.length; i++) {
            await flushed[i]!.catch((error: unknown) => {
              throw lastWritesFailed(error, i);
            });
          }
          await notified;
          await committed;
        } else {
          await client.query('BEGIN');
          result = await fn(open, client);
          for (let i = 0; i < txs.length; i++) {
            await txs[i]!.flush().catch((error: unknown) => {
              throw lastWritesFailed(error, i);
            });
          }
          await this.#notify(client, txs);
          await client.query('COMMIT');
        }
      } catch (error) {
        let broken = false;
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        release(broken);
        if (isTransient(error) && attempt < MAX_TRANSIENT_RETRIES) continue;
        throw error;
      }
      release();
      for (const tx of txs) for (const rollout of tx.finished) this.#waiters.notify(rollout);
      return result;
    }
  }

  async #notify(client: StatementRunner, txs: readonly RolloutTransaction[]): Promise<void> {
    const finished: Rollout[] = [];
    for (const tx of txs) finished.push(...tx.finished);
    if (finished.length === 0) return;
    let payload = '';
    for (const rollout of finished) {
      if (payload.length + rollout.rolloutId.length + 1 > NOTIFY_PAYLOAD_BYTES) {
        await client.query('SELECT pg_notify($1, $2)', [this.#channel, payload]);
        payload = '';
      }
      payload = payload === '' ? rollout.rolloutId : `${payload},${rollout.rolloutId}`;
    }
    await client.query('SELECT pg_notify($1, $2)', [this.#channel, payload]);
  }

  /** Queues a write for the next group commit; settles after its transaction committed (or it failed). */
  #submit<T>(operation: string, fn: Op<T>, weight = 1): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({
        operation,
        fn: fn as Op<unknown>,
        concurrent: CONCURRENT_OPERATIONS.has(operation),
        weight,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // setImmediate, not a microtask: runners resumed by one finished batch all get to submit their next
    // call first, so they share the next transaction.
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#pending.length > 0 && this.#inFlight < this.#maxInFlight) {
      // Bounded by operations and by rows (see batching.ts): a heavy dequeue shares its transaction only
      // with what fits beside it.
      const ops = this.#pending.splice(
        0,
        batchLength(this.#pending, this.#maxBatch, MAX_ROWS_PER_TRANSACTION),
      );
      this.#inFlight++;
      this.#runBatch(ops).finally(() => {
        this.#inFlight--;
        if (this.#pending.length > 0) this.#flush();
        else if (this.#inFlight === 0) for (const done of this.#drained.splice(0)) done();
      });
    }
  }

  /**
   * Runs a batch in one transaction (./operations.ts); a failing operation is dropped (rejected) and the
   * rest re-run; operations that ran side by side and touched the same rows are re-run one at a time.
   */
  async #runBatch(batch: PendingWrite[]): Promise<void> {
    let ops = batch;
    let serial = false;
    while (ops.length > 0) {
      try {
        const names = ops.map((op) => op.operation);
        const results = await this.#transaction(
          names,
          (open) =>
            runOperations(
              ops,
              ops.map(() => open()),
              serial,
              isTransient,
            ),
          // A lost lock race is the whole transaction's problem: #transaction re-runs it.
          (error, index) => batchFailure([{ index, error }], isTransient),
        );
        for (let i = 0; i < ops.length; i++) ops[i]!.resolve(results[i]);
        return;
      } catch (error) {
        if (error instanceof OperationsOverlapped) {
          serial = true;
          continue;
        }
        if (error instanceof OperationFailed) {
          ops[error.index]!.reject(this.#wrap(error.error));
          ops = ops.filter((_, i) => i !== error.index);
          continue;
        }
        for (const op of ops) op.reject(this.#wrap(error));
        return;
      }
    }
  }

  /** Driver and network failures become AgentStateErrors with a code (as the document driver does); ours pass. */
  #wrap(error: unknown): AgentStateError {
    return postgresFailure(error, `postgres rollout store (schema ${this.schema})`, this.#closing, {
      schema: this.schema,
    });
  }

  /** Submits a write rule for the next group commit, once per idempotency key (see `idempotent`). */
  #write<T>(
    operation: string,
    options: WriteOptions | undefined,
    rule: (tx: RolloutTransaction) => Steps<T>,
  ): Promise<T> {
    return this.#submit(operation, (tx) =>
      runAsync(idempotent(tx, operation, options?.idempotencyKey, rule(tx))),
    );
  }

  /** A write whose order against other queue writes of this store matters (enqueue, dequeue). */
  #inQueueOrder<T>(submit: () => Promise<T>): Promise<T> {
    if (this.#maxBatch > 1) return submit();
    this.#assertOpen();
    const turn = this.#queueLane.then(submit);
    this.#queueLane = turn.catch(() => {});
    return turn;
  }

  /**
   * The health check before an operation. Calls of the same turn share one check (one index probe for 256
   * runners, not 256); the clock is read when the check really starts, so it is never older than a call.
   */
  #healthCheck(): Promise<void> {
    this.#assertOpen();
    if (this.#health !== undefined && !this.#health.started) return this.#health.promise;
    const health = { started: false, promise: Promise.resolve() };
    health.promise = Promise.resolve().then(() => {
      health.started = true;
      if (this.#health === health) this.#health = undefined;
      this.#assertOpen();
      return this.#track(this.#sweep(true)).catch((error: unknown) => {
        throw this.#wrap(error);
      });
    });
    this.#health = health;
    return health.promise;
  }

  /**
   * Marks expired attempts and propagates. `wait`: take the sweep lock even if another process holds it
   * (before reads, which must see the result); the timer passes false and skips while another process sweeps.
   */
  async #sweep(wait: boolean): Promise<void> {
    await this.#ensureSchema();
    const probe = new CountedRunner(this.#pool);
    const due = await this.#repo.hasDueAttempts(probe, this.#seconds());
    this.#roundTrips.record(['healthCheck'], probe.count);
    if (!due) return;
    await this.#transaction(['healthCheck'], async (open, client) => {
      const tx = open();
      if (wait) await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, this.#lockKey + 1]);
      else {
        const { rows } = await client.query('SELECT pg_try_advisory_xact_lock($1, $2) AS ok', [
          LOCK_CLASS,
          this.#lockKey + 1,
        ]);
        if (rows[0]?.ok !== true) return;
      }
      await runAsync(sweep(tx, HEALTH_BATCH));
    });
  }

  #tick(): void {
    // The timer never creates the schema and never overlaps itself.
    if (this.#closing || !this.#initialised || this.#timerSweep !== undefined) return;
    this.#timerSweep = this.#leaderSweep()
      .catch(() => {
        this.#leader = false;
        // A failing background pass (server briefly away) is retried on the next tick and before the
        // next read; it must not crash the process from a timer.
      })
      .finally(() => {
        this.#timerSweep = undefined;
      });
  }

  /** The timed pass: only the holder of the cluster's health-check lease sweeps. */
  async #leaderSweep(): Promise<void> {
    const lease = new CountedRunner(this.#pool);
    try {
      this.#leader = await acquireHealthLease(
        lease,
        this.#repo.table('agl_meta'),
        this.#owner,
        this.#leaseMs,
      );
    } finally {
      this.#roundTrips.record(['healthCheckLease'], lease.count);
    }
    if (!this.#leader) return;
    this.#healthRuns++;
    await this.#sweep(false);
  }

  /** Re-reads rollouts someone waits for and wakes the waiters of those finished (NOTIFY, reconnect, backstop). */
  #recheck(ids: readonly string[]): void {
    if (this.#closing || ids.length === 0) return;
    const waited = new Set(this.#waiters.waitedIds());
    const wanted = ids.filter((id) => waited.has(id));
    if (wanted.length === 0) return;
    this.#read('waitForRollouts', (q) => this.#repo.getRollouts(q, wanted)).then(
      (rows) => {
        for (const row of rows) if (isFinishedRollout(row.status)) this.#waiters.notify(toRollout(row));
      },
      () => {
        // The next notification, reconnect or backstop pass tries again.
      },
    );
  }

  // ---------------------------------------------------------------- rollouts and the queue

  async startRollout(request: StartRolloutRequest, options?: WriteOptions): Promise<AttemptedRollout> {
    await this.#healthCheck();
    return this.#write('startRollout', options, (tx) => startRollout(tx, request));
  }

  async enqueueRollout(request: EnqueueRolloutRequest, options?: WriteOptions): Promise<Rollout> {
    const [rollout] = await this.#inQueueOrder(() =>
      this.#write('enqueueRollout', options, (tx) => enqueue(tx, [request], 'request')),
    );
    return rollout!;
  }

  async enqueueManyRollouts(requests: EnqueueRolloutRequest[], options?: WriteOptions): Promise<Rollout[]> {
    requireArray(requests, 'requests');
    return this.#inQueueOrder(() =>
      this.#write('enqueueManyRollouts', options, (tx) => enqueue(tx, requests, 'requests')),
    );
  }

  async dequeueRollout(options?: DequeueOptions): Promise<AttemptedRollout | null> {
    const [first] = await this.dequeueManyRollouts({ ...options, limit: 1 });
    return first ?? null;
  }

  async dequeueManyRollouts(options: DequeueManyOptions = {}): Promise<AttemptedRollout[]> {
    const { limit, workerId } = dequeueArguments(options, this.#maxDequeue);
    await this.#healthCheck();
    return this.#inQueueOrder(() =>
      this.#submit('dequeueManyRollouts', (tx) => runAsync(dequeue(tx, limit, workerId)), Math.max(1, limit)),
    );
  }

  async startAttempt(rolloutId: string, options?: StartAttemptOptions): Promise<AttemptedRollout> {
    await this.#healthCheck();
    const workerId = optionalWorkerId(options);
    return this.#write('startAttempt', options, (tx) => startAttempt(tx, rolloutId, workerId));
  }

  async queryRollouts(query: RolloutQuery = {}): Promise<PaginatedResult<Rollout | AttemptedRollout>> {
    await this.#healthCheck();
    const { page, filter } = rolloutListing(query);
    return this.#read('queryRollouts', async (q) => {
      const result = await this.#repo.queryRollouts(q, filter, page);
      return { ...result, items: await this.#withLatestAttempts(q, result.items) };
    });
  }

  async *iterateRollouts(
    query: RolloutQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<Array<Rollout | AttemptedRollout>> {
    const { page, filter } = rolloutListing(query);
    const pageRows = readPageRows(options);
    await this.#healthCheck();
    yield* this.#pages('iterateRollouts', page, pageRows, async (q, request) => {
      const { rows, last } = await this.#repo.rolloutPage(q, filter, page, request);
      return { rows: await this.#withLatestAttempts(q, rows), last };
    });
  }

  /**
   * A read in pages: each page one read (`readPage` of the next keyset request, see KeysetPlan), run only
   * when the page before was consumed.
   */
  async *#pages<T>(
    operation: string,
    page: Page<string>,
    pageRows: number,
    readPage: (q: Queryable, request: KeysetRequest) => Promise<KeysetPage<T>>,
  ): AsyncGenerator<T[]> {
    const plan = new KeysetPlan(page, pageRows);
    for (let request = plan.next(); request !== null; request = plan.next()) {
      const current = request;
      const { rows, last } = await this.#read(operation, (q) => readPage(q, current));
      plan.advance(current, rows.length, last);
      if (rows.length > 0) yield rows;
    }
  }

  // The latest attempts of a page of rollouts in one query, attached.
  async #withLatestAttempts(q: Queryable, rows: RolloutRow[]): Promise<Array<Rollout | AttemptedRollout>> {
    const keys = rows.flatMap((row) =>
      row.latestAttemptId === null ? [] : [[row.rolloutId, row.latestAttemptId] as const],
    );
    const attempts = new Map((await this.#repo.getAttempts(q, keys)).map((a) => [a.rolloutId, a]));
    return rows.map((row) => {
      const attempt = attempts.get(row.rolloutId);
      return attempt !== undefined && attempt.attemptId === row.latestAttemptId
        ? toAttempted(row, attempt)
        : toRollout(row);
    });
  }

  async getRolloutById(rolloutId: string): Promise<Rollout | AttemptedRollout | null> {
    await this.#healthCheck();
    requireId(rolloutId, 'rolloutId');
    return this.#read('getRolloutById', async (q) => {
      const row = await this.#repo.getRollout(q, rolloutId, false);
      if (row === null) return null;
      const attempt =
        row.latestAttemptId === null ? null : await this.#repo.getAttempt(q, rolloutId, row.latestAttemptId);
      return attempt === null ? toRollout(row) : toAttempted(row, attempt);
    });
  }

  async updateRollout(rolloutId: string, patch: RolloutPatch, options?: WriteOptions): Promise<Rollout> {
    await this.#healthCheck();
    const changes = normalizeRolloutPatch(patch);
    return this.#write('updateRollout', options, (tx) => updateRollout(tx, rolloutId, changes));
  }

  // ---------------------------------------------------------------- attempts

  async queryAttempts(rolloutId: string, query: AttemptQuery = {}): Promise<PaginatedResult<Attempt>> {
    await this.#healthCheck();
    const page = attemptPage(rolloutId, query);
    const result = await this.#read('queryAttempts', (q) => this.#repo.queryAttempts(q, rolloutId, page));
    return { ...result, items: result.items.map(toAttempt) };
  }

  async *iterateAttempts(
    rolloutId: string,
    query: AttemptQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<Attempt[]> {
    const page = attemptPage(rolloutId, query);
    const pageRows = readPageRows(options);
    await this.#healthCheck();
    yield* this.#pages('iterateAttempts', page, pageRows, async (q, request) => {
      const { rows, last } = await this.#repo.attemptPage(q, rolloutId, page, request);
      return { rows: rows.map(toAttempt), last };
    });
  }

  async getLatestAttempt(rolloutId: string): Promise<Attempt | null> {
    await this.#healthCheck();
    requireId(rolloutId, 'rolloutId');
    return this.#read('getLatestAttempt', async (q) => {
      const row = await this.#repo.getRollout(q, rolloutId, false);
      if (row === null || row.latestAttemptId === null) return null;
      const attempt = await this.#repo.getAttempt(q, rolloutId, row.latestAttemptId);
      return attempt === null ? null : toAttempt(attempt);
    });
  }

  async updateAttempt(
    rolloutId: string,
    attemptId: string,
    patch: AttemptPatch,
    options?: WriteOptions,
  ): Promise<Attempt> {
    await this.#healthCheck();
    requireId(attemptId, 'attemptId');
    const changes = normalizeAttemptPatch(patch);
    return this.#write('updateAttempt', options, (tx) => updateAttempt(tx, rolloutId, attemptId, changes));
  }

  // ---------------------------------------------------------------- spans

  async addSpan(span: SpanInput, options?: WriteOptions): Promise<Span | null> {
    return this.#write('addSpan', options, (tx) => addSpans(tx, [span], firstStored));
  }

  async addManySpans(spans: SpanInput[], options?: WriteOptions): Promise<SpanWriteResult> {
    requireArray(spans, 'spans');
    return this.#write('addManySpans', options, (tx) => addSpans(tx, spans, writeResult));
  }

  async addOtelSpan(
    rolloutId: string,
    attemptId: string,
    span: ReadableSpanLike,
    options?: AddOtelSpanOptions,
  ): Promise<Span | null> {
    return this.addSpan(otelSpanInput(rolloutId, attemptId, span, options), options);
  }

  async getNextSpanSequenceId(rolloutId: string, attemptId: string): Promise<number> {
    requireId(attemptId, 'attemptId');
    return this.#submit('getNextSpanSequenceId', (tx) => runAsync(nextSpanSequenceId(tx, rolloutId)));
  }

  async querySpans(rolloutId: string, query: SpanQuery = {}): Promise<PaginatedResult<Span>> {
    await this.#healthCheck();
    const { page, filter } = spanListing(rolloutId, query);
    return this.#read('querySpans', async (q) => {
      const attemptId = await this.#spanAttempt(q, rolloutId, query);
      if (attemptId === undefined) return { items: [], limit: page.limit, offset: page.offset, total: 0 };
      return this.#repo.querySpans(q, rolloutId, attemptId, filter, page);
    });
  }

  async *iterateSpans(
    rolloutId: string,
    query: SpanQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<Span[]> {
    const { page, filter } = spanListing(rolloutId, query);
    const pageRows = readPageRows(options);
    await this.#healthCheck();
    const attemptId = await this.#read('iterateSpans', (q) => this.#spanAttempt(q, rolloutId, query));
    if (attemptId === undefined) return;
    yield* this.#pages('iterateSpans', page, pageRows, (q, request) =>
      this.#repo.spanPage(q, rolloutId, attemptId, filter, page, request),
    );
  }

  // The attempt a span query reads (null: every attempt), 'latest' resolved; undefined when it asks for the
  // latest attempt of a rollout that has none.
  async #spanAttempt(q: Queryable, rolloutId: string, query: SpanQuery): Promise<string | null | undefined> {
    const attemptId = query.attemptId ?? null;
    if (attemptId !== 'latest') return attemptId;
    return (await this.#repo.getRollout(q, rolloutId, false))?.latestAttemptId ?? undefined;
  }

  // ---------------------------------------------------------------- resources

  async addResources(resources: NamedResources, options?: WriteOptions): Promise<ResourcesUpdate> {
    const checked = normalizeResources(resources);
    return this.#write('addResources', options, (tx) => addResources(tx, checked));
  }

  async updateResources(
    resourcesId: string,
    resources: NamedResources,
    options?: WriteOptions,
  ): Promise<ResourcesUpdate> {
    requireId(resourcesId, 'resourcesId');
    const checked = normalizeResources(resources);
    return this.#write('updateResources', options, (tx) => updateResources(tx, resourcesId, checked));
  }

  async queryResources(query: ResourcesQuery = {}): Promise<PaginatedResult<ResourcesUpdate>> {
    const { page, filter } = resourcesListing(query);
    return this.#read('queryResources', (q) => this.#repo.queryResources(q, filter, page));
  }

  async *iterateResources(
    query: ResourcesQuery = {},
    options?: IterateOptions,
  ): AsyncGenerator<ResourcesUpdate[]> {
    const { page, filter } = resourcesListing(query);
    const pageRows = readPageRows(options);
    yield* this.#pages('iterateResources', page, pageRows, (q, request) =>
      this.#repo.resourcesPage(q, filter, page, request),
    );
  }

  async getResourcesById(resourcesId: string): Promise<ResourcesUpdate | null> {
    requireId(resourcesId, 'resourcesId');
    return this.#read('getResourcesById', (q) => this.#repo.getResources(q, resourcesId));
  }

  async getLatestResources(): Promise<ResourcesUpdate | null> {
    return this.#read('getLatestResources', (q) => this.#repo.latestResources(q));
  }

  // ---------------------------------------------------------------- workers

  async queryWorkers(query: WorkerQuery = {}): Promise<PaginatedResult<Worker>> {
    await this.#healthCheck();
    const { page, filter } = workerListing(query);
    return this.#read('queryWorkers', (q) => this.#repo.queryWorkers(q, filter, page));
  }

  async *iterateWorkers(query: WorkerQuery = {}, options?: IterateOptions): AsyncGenerator<Worker[]> {
    const { page, filter } = workerListing(query);
    const pageRows = readPageRows(options);
    await this.#healthCheck();
    yield* this.#pages('iterateWorkers', page, pageRows, (q, request) =>
      this.#repo.workerPage(q, filter, page, request),
    );
  }

  async getWorkerById(workerId: string): Promise<Worker | null> {
    await this.#healthCheck();
    requireId(workerId, 'workerId');
    return this.#read('getWorkerById', (q) => this.#repo.getWorker(q, workerId, false));
  }

  async updateWorker(workerId: string, options?: UpdateWorkerOptions): Promise<Worker> {
    const stats = heartbeatStats(workerId, options);
    return this.#write('updateWorker', options, (tx) => updateWorker(tx, workerId, stats));
  }

  // ---------------------------------------------------------------- waits, statistics, retention

  async waitForRollouts(options: WaitForRolloutsOptions): Promise<Rollout[]> {
    const { ids: unique, timeoutMs } = waitArguments(options);
    await this.#healthCheck();
    // LISTEN is active before the first read, so a rollout finishing after that read is always announced.
    if (timeoutMs > 0) {
      await this.#track(this.#ensureSchema().then(() => this.#listener.start())).catch((error: unknown) => {
        this.#assertOpen();
        throw error;
      });
      this.#assertOpen();
    }
    const finished = new Map<string, Rollout>();
    const pending: string[] = [];
    const rows = new Map(
      (await this.#read('waitForRollouts', (q) => this.#repo.getRollouts(q, unique))).map((r) => [
        r.rolloutId,
        r,
      ]),
    );
    for (const id of unique) {
      const row = rows.get(id);
      // Unknown ids are left out of the result at once, as in the reference.
      if (row === undefined) continue;
      if (isFinishedRollout(row.status)) finished.set(id, toRollout(row));
      else pending.push(id);
    }
    if (pending.length > 0 && timeoutMs > 0) {
      this.#assertOpen();
      const wait = this.#waiters.waitAll(pending, timeoutMs, options.signal);
      // A notification handled between the read above and this registration found no waiter: read again now
      // that the waiters are registered, so no finishing write can slip between the two.
      this.#recheck(pending);
      const woken = await wait;
      for (const [id, rollout] of woken) finished.set(id, rollout);
      const missing = pending.filter((id) => !finished.has(id));
      if (missing.length > 0) {
        for (const row of await this.#read('waitForRollouts', (q) => this.#repo.getRollouts(q, missing))) {
          if (isFinishedRollout(row.status)) finished.set(row.rolloutId, toRollout(row));
        }
      }
    }
    return unique.flatMap((id) => (finished.has(id) ? [finished.get(id)!] : []));
  }

  async statistics(): Promise<RolloutStoreStatistics> {
    await this.#healthCheck();
    const counts = await this.#read('statistics', (q) => this.#repo.statistics(q));
    return { name: this.name, ...counts, uptimeMs: this.#now() - this.#createdAt };
  }

  /**
   * Ready to serve: PostgreSQL answers and the schema is at this code's version (created on first use).
   * Rejects with UNAVAILABLE while the server cannot be reached, CORRUPT_STATE for a newer schema.
   */
  async ready(): Promise<void> {
    this.#assertOpen();
    await this.#track(
      this.#ensureSchema()
        .then(async () => {
          // The schema was found once; ask again, so a dropped database or lost server shows.
          if (!(await this.#checkVersion(this.#pool))) {
            throw new UnavailableError(`rollout schema ${this.schema} is missing its tables`, {
              schema: this.schema,
            });
          }
        })
        .catch((error: unknown) => {
          throw this.#wrap(error);
        }),
    );
  }

  /** Pool usage, round trips per operation and health-check leadership of this process. */
  operationalStats(): RolloutStoreOperationalStats {
    const pool = this.#pool;
    return {
      pool: {
        max: pool.options.max ?? 10,
        total: pool.totalCount,
        idle: pool.idleCount,
        waiting: pool.waitingCount,
      },
      roundTrips: this.#roundTrips.snapshot(),
      healthCheckLeader: this.#leader,
      healthCheckRuns: this.#healthRuns,
    };
  }

  async runHealthCheck(): Promise<void> {
    this.#assertOpen();
    await this.#track(this.#sweep(true)).catch((error: unknown) => {
      throw this.#wrap(error);
    });
  }

  async pruneFinished(options: PruneOptions): Promise<PruneResult> {
    const olderThanMs = pruneAge(options);
    return this.#submit('pruneFinished', (tx) => runAsync(prune(tx, olderThanMs)));
  }

  /** Commits writes already submitted, stops timers and LISTEN, rejects pending waits with CLOSED, ends an owned pool. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const timer of this.#timers) clearInterval(timer);
    // Writes already submitted are committed, not dropped.
    if (this.#pending.length > 0 || this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.#drained.push(resolve);
        this.#flush();
      });
    }
    await this.#timerSweep;
    if (this.#leader) {
      this.#leader = false;
      // Hand the lease over now rather than after it expires; a failure just lets it expire.
      await releaseHealthLease(this.#pool, this.#repo.table('agl_meta'), this.#owner).catch(() => {});
    }
    this.#waiters.close();
    await Promise.allSettled([...this.#work]);
    await this.#listener.close();
    if (this.#ownsPool) await this.#pool.end();
  }
}
