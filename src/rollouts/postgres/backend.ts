/**
 * The PostgreSQL backend of the one rollout store (../engine/store.ts): many server processes and machines
 * sharing one database.
 *
 * - Every write batch is one transaction running the shared write rules with `runAsync` (./batches.ts,
 *   ./transactions.ts); ./transaction.ts is what those rules see of it (locking reads, the worker upsert).
 *   Several batches run at once on different pool connections; statements are pipelined, coalesced into
 *   one socket write per turn, held back and sent together (BufferedWrites), and prepared once per
 *   connection, each statement bounded in size.
 * - The queue: `FOR UPDATE SKIP LOCKED` takes the queue head, so any number of consumers in any number of
 *   processes never get the same rollout, and never wait for each other.
 * - Waits wake on the finishing write in any process: the writer sends NOTIFY inside its transaction, one
 *   LISTEN connection per store receives it. No polling; a long safety re-check (`waitRecheckIntervalMs`,
 *   default 30 s) only covers notifications lost while that connection was down.
 * - Health checks run on the store's timer and before reads. The timed pass runs only in the process
 *   holding the cluster's health-check lease (./healthLease.ts), so N processes sweep once per interval, not
 *   N times. A sweep takes a transaction-scoped advisory lock, so a sweep before a read and the timed one
 *   never run at once (the timer skips, a read waits).
 * - Every statement is counted per operation (./roundTrips.ts) for `/metrics`.
 * - Deadlocks and serialization failures between concurrent transactions are retried (the transaction is
 *   re-run from the start), invisible to callers.
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { type AgentStateError, ClosedError, InvalidInputError, UnavailableError } from '../../errors.ts';
import { loadPackage } from '../../shared/optionalPackage.ts';
import { postgresFailure } from '../../shared/postgres/failure.ts';
import { channelFor, checkSchemaName, schemaLockKey } from '../../shared/postgres/identifiers.ts';
import { ChannelListener } from '../../shared/postgres/listener.ts';
import { statementTimeoutMs } from '../../shared/postgres/statementTimeout.ts';
import { healthCheckInterval } from '../engine/arguments.ts';
import type {
  AsyncRolloutRepository,
  GroupCommitLimits,
  Pages,
  PendingWrite,
  RepositoryContext,
  RolloutReads,
} from '../engine/asyncRepository.ts';
import type {
  AttemptRow,
  ResourcesFilter,
  RolloutFilter,
  RolloutRow,
  SpanFilter,
  WorkerFilter,
} from '../engine/repository.ts';
import { runAsync } from '../engine/steps.ts';
import { sweep } from '../engine/writes.ts';
import type { Page } from '../query.ts';
import { KeysetPlan, type KeysetRequest } from '../sql/keyset.ts';
import type {
  AttemptSortField,
  ResourcesSortField,
  ResourcesUpdate,
  RolloutSortField,
  RolloutStoreOperationalStats,
  Span,
  SpanSortField,
  Worker,
  WorkerSortField,
} from '../types.ts';
import { commitBatch } from './batches.ts';
import { acquireHealthLease, releaseHealthLease } from './healthLease.ts';
import { postgresReads } from './reads.ts';
import { type KeysetPage, PostgresRolloutRepository, type Queryable } from './repository.ts';
import { CountedRunner, RoundTripCounter } from './roundTrips.ts';
import { SchemaSetup } from './schemaSetup.ts';
import type { PostgresRolloutStoreOptions } from './store.ts';
import { Transactions } from './transactions.ts';
import { LOCK_CLASS } from './transient.ts';

const DEFAULT_POOL_SIZE = 24;
const DEFAULT_WAIT_RECHECK_MS = 30_000;
// One health-check pass handles at most this many expired attempts; the next pass takes the rest.
const HEALTH_BATCH = 500;
// Operations per group-commit transaction: big enough to amortize BEGIN/COMMIT, small enough that a
// transaction holds its row locks briefly and several batches run side by side.
const MAX_BATCH = 32;
// Group-commit transactions committing at once by default (`concurrentCommits`). Over HTTP, requests
// arrive a few per event-loop turn; with one transaction per turn and up to 22 in flight (the pool's
// writers), batches held 1-3 calls. With 4, the calls arriving while they commit queue up and share the
// next one: server CPU per rollout -10%, rollouts/s +13% (`bench/_serverCpu.ts`, PostgreSQL, alternated
// passes); in process, where batches are full anyway, no change.
const GROUP_COMMITS_IN_FLIGHT = 4;
// The health-check lease lasts this many intervals.
const LEASE_INTERVALS = 3;
// The calls made while a health check runs wait this long at most for it before starting the next one.
const CHECK_WAIT_MS = 1000;

/** The PostgreSQL rollout backend. */
export class PostgresRolloutBackend implements AsyncRolloutRepository {
  readonly name = 'postgres';
  /** The schema holding the tables. */
  readonly schema: string;
  readonly limits: GroupCommitLimits;
  readonly recheckIntervalMs: number;
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #repo: PostgresRolloutRepository;
  readonly #lockKey: number;
  readonly #now: () => number;
  readonly #setup: SchemaSetup;
  readonly #transactions: Transactions;
  readonly #listener: ChannelListener;
  readonly #roundTrips = new RoundTripCounter();
  #context!: RepositoryContext;
  // The health check on its way, and the one that starts when it ends (shared by the calls made meanwhile).
  #check: Promise<void> | undefined;
  #nextCheck: Promise<void> | undefined;
  // Reads and sweeps in progress: close() waits for them, because ending a pool under a running query
  // leaves that query's promise unsettled forever.
  readonly #work = new Set<Promise<unknown>>();
  // Names this process in the cluster's health-check lease.
  readonly #owner = randomUUID();
  readonly #leaseMs: number;
  #leader = false;
  #healthRuns = 0;

  /** Checks the options and makes the pool (when given a connection string); connects lazily. */
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
    const recheck = options.waitRecheckIntervalMs ?? DEFAULT_WAIT_RECHECK_MS;
    if (!Number.isFinite(recheck) || recheck <= 0) {
      throw new InvalidInputError('waitRecheckIntervalMs must be a number of ms > 0', {
        field: 'waitRecheckIntervalMs',
        value: recheck,
      });
    }
    this.recheckIntervalMs = recheck;
    this.schema = schema;
    this.#ownsPool = options.pool === undefined;
    this.#pool =
      options.pool ??
      new (loadPackage<typeof import('pg')>('pg', 'PostgresRolloutStore').Pool)({
        connectionString: options.connectionString,
        max: poolSize + 1,
        // Statements of a transaction are sent without waiting for the previous answer where the store
        // allows it (see ./transactions.ts).
        pipeline: true,
        allowExitOnIdle: true,
        statement_timeout: statementTimeoutMs(options.statementTimeoutMs),
      });
    // An idle connection that drops (server restart) must not crash the process; the next query reconnects.
    if (this.#ownsPool) this.#pool.on('error', (error) => this.#context.backgroundError(error, 'pool'));
    const connections = this.#ownsPool ? poolSize : Math.max(3, (this.#pool.options.max ?? 10) - 1);
    // Two connections stay free for reads and the health check. With group commit, at most
    // `concurrentCommits` batches commit at once: the writes arriving meanwhile wait and leave together in
    // the next, bigger batch (fewer transactions, statements and socket writes per call).
    const writers = Math.max(1, connections - 2);
    const commits = options.concurrentCommits ?? GROUP_COMMITS_IN_FLIGHT;
    if (!Number.isInteger(commits) || commits < 1) {
      throw new InvalidInputError('concurrentCommits must be an integer >= 1', {
        field: 'concurrentCommits',
        value: commits,
      });
    }
    this.limits = {
      maxBatch: options.groupCommit === false ? 1 : MAX_BATCH,
      maxInFlight: options.groupCommit === false ? writers : Math.min(writers, commits),
      rowsPerTurn: Number.POSITIVE_INFINITY,
    };
    this.#repo = new PostgresRolloutRepository(schema);
    this.#lockKey = schemaLockKey(schema);
    this.#now = options.now ?? Date.now;
    this.#setup = new SchemaSetup(this.#pool, this.#repo, this.#lockKey);
    const channel = channelFor(schema, 'agentstate_rollouts_');
    this.#transactions = new Transactions({
      pool: this.#pool,
      repo: this.#repo,
      channel,
      seconds: () => this.#now() / 1000,
      roundTrips: this.#roundTrips,
      finished: (rollout) => this.#context.finished(rollout),
    });
    this.#listener = new ChannelListener(
      this.#pool,
      channel,
      (payload) => this.#context.changed(payload.split(',')),
      () => this.#context.changed(this.#context.waitedIds()),
      // A dropped connection and each failed reconnect.
      { onError: (error) => this.#context.backgroundError(error, 'listener') },
    );
    // The holder renews every interval; three missed renewals (a dead or stalled process) hand it over.
    this.#leaseMs = healthCheckInterval(options.healthCheckIntervalMs) * LEASE_INTERVALS;
  }

  attach(context: RepositoryContext): void {
    this.#context = context;
  }

  closedError(): Error {
    return new ClosedError(`the postgres rollout store (schema ${this.schema}) is closed`, {
      schema: this.schema,
    });
  }

  exportValue<T>(value: T): T {
    return value;
  }

  #assertOpen(): void {
    if (this.#context.isClosed()) throw this.closedError();
  }

  /** Driver and network failures become AgentStateErrors with a code (as the document driver does); ours pass. */
  #wrap(error: unknown): AgentStateError {
    return postgresFailure(
      error,
      `postgres rollout store (schema ${this.schema})`,
      this.#context.isClosed(),
      {
        schema: this.schema,
      },
    );
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#work.add(work);
    const forget = () => this.#work.delete(work);
    work.then(forget, forget);
    return work;
  }

  // ---------------------------------------------------------------- reads

  /** A read on any pool connection, after the schema exists; its statements count for `operation`. */
  read<T>(operation: string, fn: (reads: RolloutReads) => T | PromiseLike<T>): Promise<T> {
    return this.#onPool(operation, (q) => fn(postgresReads(this.#repo, q)));
  }

  #onPool<T>(operation: string, fn: (q: Queryable) => T | PromiseLike<T>): Promise<T> {
    this.#assertOpen();
    const counted = new CountedRunner(this.#pool);
    return this.#track(
      this.#setup
        .ensure()
        .then(() => fn(counted))
        .catch((error: unknown) => {
          throw this.#wrap(error);
        })
        .finally(() => this.#roundTrips.record([operation], counted.count)),
    );
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
      const { rows, last } = await this.#onPool(operation, (q) => readPage(q, current));
      plan.advance(current, rows.length, last);
      if (rows.length > 0) yield rows;
    }
  }

  rolloutPages(filter: RolloutFilter, page: Page<RolloutSortField>, pageRows: number): Pages<RolloutRow> {
    return this.#pages('iterateRollouts', page, pageRows, (q, request) =>
      this.#repo.rolloutPage(q, filter, page, request),
    );
  }

  attemptPages(rolloutId: string, page: Page<AttemptSortField>, pageRows: number): Pages<AttemptRow> {
    return this.#pages('iterateAttempts', page, pageRows, (q, request) =>
      this.#repo.attemptPage(q, rolloutId, page, request),
    );
  }

  spanPages(
    rolloutId: string,
    attemptId: string | null,
    filter: SpanFilter,
    page: Page<SpanSortField>,
    pageRows: number,
  ): Pages<Span> {
    return this.#pages('iterateSpans', page, pageRows, (q, request) =>
      this.#repo.spanPage(q, rolloutId, attemptId, filter, page, request),
    );
  }

  resourcesPages(
    filter: ResourcesFilter,
    page: Page<ResourcesSortField>,
    pageRows: number,
  ): Pages<ResourcesUpdate> {
    return this.#pages('iterateResources', page, pageRows, (q, request) =>
      this.#repo.resourcesPage(q, filter, page, request),
    );
  }

  workerPages(filter: WorkerFilter, page: Page<WorkerSortField>, pageRows: number): Pages<Worker> {
    return this.#pages('iterateWorkers', page, pageRows, (q, request) =>
      this.#repo.workerPage(q, filter, page, request),
    );
  }

  // ---------------------------------------------------------------- writes

  async commit(batch: PendingWrite[]): Promise<void> {
    try {
      await this.#setup.ensure();
    } catch (error) {
      for (const write of batch) write.reject(this.#wrap(error));
      return;
    }
    await commitBatch(batch, this.#transactions, (error) => this.#wrap(error));
  }

  // ---------------------------------------------------------------- health checks and waits

  /**
   * The health check before an operation: one index probe reads the earliest deadline of any attempt, and
   * only when it is before the check's start does a sweep run. One check is on its way at a time; the calls
   * made meanwhile share the next one, which starts when it ends (over HTTP nearly every call arrives in a
   * turn of its own, and a probe each cost two statements per rollout, about a tenth of the throughput);
   * with none on its way, the calls of the current turn share the one that starts after it.
   * A call never shares a check that started before it: that probe's snapshot could predate a write the
   * caller made or saw (a shortened timeout), and the call would miss an attempt due by then. The callers
   * of one check share its sweep too.
   */
  healthCheck(): Promise<void> {
    this.#assertOpen();
    if (this.#nextCheck === undefined) {
      // It starts after the running check, or after this turn's calls (which all share it) when none runs.
      const start = () => this.#startCheck();
      this.#nextCheck = this.#afterRunningCheck().then(start);
    }
    return this.#nextCheck;
  }

  // When the running check ends, or CHECK_WAIT_MS at most: a probe stuck on a dead connection (until the
  // statement timeout, or for ever without one) must not hold every call behind it.
  #afterRunningCheck(): Promise<void> {
    const running = this.#check;
    if (running === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, CHECK_WAIT_MS);
      timer.unref();
      const ended = () => {
        clearTimeout(timer);
        resolve();
      };
      running.then(ended, ended);
    });
  }

  #startCheck(): Promise<void> {
    this.#nextCheck = undefined;
    // It may start after close() began (it waited for the one before it): sweep() then throws CLOSED.
    const check = this.sweep();
    this.#check = check;
    const done = () => {
      if (this.#check === check) this.#check = undefined;
    };
    check.then(done, done);
    return check;
  }

  // The earliest deadline of any attempt in seconds (Infinity: none), from one index probe on the pool.
  async #earliestDeadline(): Promise<number> {
    await this.#setup.ensure();
    const probe = new CountedRunner(this.#pool);
    try {
      return await this.#repo.earliestDeadline(probe);
    } finally {
      this.#roundTrips.record(['healthCheck'], probe.count);
    }
  }

  sweep(): Promise<void> {
    this.#assertOpen();
    return this.#track(this.#sweep(true)).catch((error: unknown) => {
      throw this.#wrap(error);
    });
  }

  /**
   * Marks expired attempts and propagates. `wait`: take the sweep lock even if another process holds it
   * (before reads, which must see the result); the timer passes false and skips while another process sweeps.
   */
  async #sweep(wait: boolean): Promise<void> {
    if ((await this.#earliestDeadline()) >= this.#now() / 1000) return;
    await this.#transactions.run(['healthCheck'], async (open, client) => {
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

  /** The timed pass: only the holder of the cluster's health-check lease sweeps; never creates the schema. */
  async timedSweep(): Promise<void> {
    if (!this.#setup.initialised) return;
    try {
      await this.#leaderSweep();
    } catch (error) {
      this.#leader = false;
      throw error;
    }
  }

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

  /** LISTEN is active before the first read of a wait, so a rollout finishing after that read is announced. */
  async listen(): Promise<void> {
    await this.#track(this.#setup.ensure().then(() => this.#listener.start())).catch((error: unknown) => {
      this.#assertOpen();
      throw error;
    });
  }

  // ---------------------------------------------------------------- readiness, statistics, close

  /**
   * Ready to serve: PostgreSQL answers and the schema is at this code's version (created on first use).
   * Rejects with UNAVAILABLE while the server cannot be reached, CORRUPT_STATE for a newer schema.
   */
  async ready(): Promise<void> {
    this.#assertOpen();
    await this.#track(
      this.#setup
        .ensure()
        .then(async () => {
          // The schema was found once; ask again, so a dropped database or lost server shows.
          if (!(await this.#setup.exists(this.#pool))) {
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

  /** Gives up the lease, waits for reads in progress, stops LISTEN, ends an owned pool. */
  async close(): Promise<void> {
    if (this.#leader) {
      this.#leader = false;
      // Hand the lease over now rather than after it expires; a failure just lets it expire.
      await releaseHealthLease(this.#pool, this.#repo.table('agl_meta'), this.#owner).catch(
        (error: unknown) => this.#context.backgroundError(error, 'health-check lease release'),
      );
    }
    await Promise.allSettled([...this.#work]);
    await this.#listener.close();
    if (this.#ownsPool) await this.#pool.end();
  }
}
