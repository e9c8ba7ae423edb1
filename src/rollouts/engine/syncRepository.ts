/**
 * A synchronous `RolloutRepository` (memory, SQLite) as an `AsyncRolloutRepository`: every call returns its
 * value, not a promise, so the store awaits nothing it does not have to and each operation stays one
 * repository transaction with no await inside: atomic in-process, and on SQLite (`BEGIN IMMEDIATE`) across
 * processes too. Write rules run with `runSync` on one reused `RepositoryWriteTransaction`.
 */
import { ClosedError } from '../../errors.ts';
import type { RolloutStoreOptions } from '../types.ts';
import { healthCheckInterval } from './arguments.ts';
import type {
  AsyncRolloutRepository,
  GroupCommitLimits,
  PendingWrite,
  RepositoryContext,
  RolloutReads,
} from './asyncRepository.ts';
import { MAX_ROWS_PER_TRANSACTION } from './batching.ts';
import type { RolloutRepository } from './repository.ts';
import { RepositoryWriteTransaction } from './repositoryTransaction.ts';
import { runSync } from './steps.ts';
import { sweep } from './writes.ts';

// Batches run with a savepoint per write straight away after one failed without them.
const SAVEPOINT_BATCHES_AFTER_FAILURE = 16;

// An error of the database itself (better-sqlite3's SqliteError: SQLITE_FULL, SQLITE_IOERR...), not of a rule.
function isDatabaseError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_') || code === 'CORRUPT_STATE');
}

/** What one write of a batch gave: its value, or what it threw. */
interface Outcome {
  ok: boolean;
  value: unknown;
}

// One health-check pass handles at most this many expired attempts; the rest are picked up by the next pass.
const HEALTH_BATCH = 500;
// Most operations one group-commit transaction takes; bounds how long one process holds the write lock.
const MAX_BATCH = 256;

/** The synchronous backends under the one store. */
export class SyncRepositoryBackend implements AsyncRolloutRepository {
  /** Backend name. */
  readonly name: string;
  readonly limits: GroupCommitLimits;
  readonly recheckIntervalMs: number;
  readonly #repo: RolloutRepository;
  readonly #now: () => number;
  // The write rules' view of the repository; its `finished` lists the rollouts the running transaction
  // finished, whose waiters are woken once it commits.
  readonly #tx: RepositoryWriteTransaction;
  readonly #reads: RolloutReads;
  #context: RepositoryContext | undefined;
  // Batches left to run with savepoints at once (see commit).
  #savepointBatches = 0;

  /** Wraps `repo` for a store with these options. */
  constructor(repo: RolloutRepository, options: RolloutStoreOptions) {
    this.#repo = repo;
    this.name = repo.name;
    this.#now = options.now ?? Date.now;
    this.#tx = new RepositoryWriteTransaction(repo, this.#now);
    // One transaction at a time (commit returns only once it committed); a turn commits at most a
    // transaction's worth of rows, so timers and I/O still run under a flood of writes.
    this.limits = {
      maxBatch: options.groupCommit === false ? 1 : MAX_BATCH,
      maxInFlight: 1,
      rowsPerTurn: MAX_ROWS_PER_TRANSACTION,
    };
    // Writes of other processes sharing the database (SQLite) are noticed at the pace of the health check:
    // awaited rollouts are re-read once per interval.
    this.recheckIntervalMs = healthCheckInterval(options.healthCheckIntervalMs);
    this.#reads = readsOf(repo);
  }

  attach(context: RepositoryContext): void {
    this.#context = context;
  }

  closedError(): Error {
    return new ClosedError(`the ${this.name} rollout store is closed`);
  }

  exportValue<T>(value: T): T {
    return this.#repo.exportValue(value);
  }

  read<T>(_operation: string, fn: (reads: RolloutReads) => T): T {
    return fn(this.#reads);
  }

  rolloutPages(
    ...args: Parameters<RolloutRepository['rolloutPages']>
  ): ReturnType<RolloutRepository['rolloutPages']> {
    return this.#repo.rolloutPages(...args);
  }

  attemptPages(
    ...args: Parameters<RolloutRepository['attemptPages']>
  ): ReturnType<RolloutRepository['attemptPages']> {
    return this.#repo.attemptPages(...args);
  }

  spanPages(...args: Parameters<RolloutRepository['spanPages']>): ReturnType<RolloutRepository['spanPages']> {
    return this.#repo.spanPages(...args);
  }

  resourcesPages(
    ...args: Parameters<RolloutRepository['resourcesPages']>
  ): ReturnType<RolloutRepository['resourcesPages']> {
    return this.#repo.resourcesPages(...args);
  }

  workerPages(
    ...args: Parameters<RolloutRepository['workerPages']>
  ): ReturnType<RolloutRepository['workerPages']> {
    return this.#repo.workerPages(...args);
  }

  /** Wakes the waiters of the rollouts the last transaction finished (after its commit). */
  #notifyFinished(): void {
    const finished = this.#tx.finished;
    if (finished.length === 0) return;
    for (const rollout of finished.splice(0)) this.#context!.finished(rollout);
  }

  /**
   * One write transaction for the batch. A repository that undoes a whole transaction that throws
   * (`undoesFailedWrite`: SQLite) first runs the batch without a savepoint per write: each savepoint costs
   * two statements and a copy of every page its write touches first, about a tenth of a small write's
   * cost. Should a write throw, that attempt is rolled back (nothing of it was committed or answered) and
   * the batch runs again with each write inside its own savepoint (`repo.atomic`), so the failing write
   * undoes only itself. Writes are re-runnable: a rule reads what it needs inside the transaction.
   */
  commit(batch: PendingWrite[]): undefined {
    const finished = this.#tx.finished;
    finished.length = 0;
    let outcomes: Outcome[] | undefined;
    try {
      if (this.#repo.undoesFailedWrite === true && this.#savepointBatches === 0) {
        outcomes = this.#withoutSavepoints(batch);
        // Writes are failing: the next batches take savepoints at once rather than run twice each.
        if (outcomes === undefined) this.#savepointBatches = SAVEPOINT_BATCHES_AFTER_FAILURE;
      } else if (this.#savepointBatches > 0) this.#savepointBatches--;
      outcomes ??= this.#repo.write(() => this.#withSavepoints(batch));
    } catch (error) {
      // The commit itself failed (another process held the lock past busyTimeoutMs), or the database did
      // under a write (see #withoutSavepoints): nothing was written.
      finished.length = 0;
      for (const op of batch) op.reject(error);
      return;
    }
    this.#notifyFinished();
    for (let i = 0; i < batch.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.ok) batch[i]!.resolve(outcome.value);
      else batch[i]!.reject(outcome.value);
    }
    return undefined;
  }

  // The batch in one transaction, no savepoints; undefined (the transaction rolled back) when a write threw.
  #withoutSavepoints(batch: PendingWrite[]): Outcome[] | undefined {
    let threw = false;
    let thrown: unknown;
    try {
      return this.#repo.write(() => {
        const outcomes: Outcome[] = [];
        for (const op of batch) {
          try {
            outcomes.push({ ok: true, value: runSync(op.steps(this.#tx)) });
          } catch (error) {
            threw = true;
            thrown = error;
            throw error;
          }
        }
        return outcomes;
      });
    } catch (error) {
      // Not a write rule's refusal but the database's own failure (disk full, I/O, corruption), after which
      // SQLite may have rolled the transaction back itself: nothing was written, every write gets it.
      if (!threw || isDatabaseError(thrown)) throw error;
      this.#tx.finished.length = 0;
      // A write alone in its batch failed as it would in a savepoint: nothing to run again.
      return batch.length === 1 ? [{ ok: false, value: thrown }] : undefined;
    }
  }

  // The batch with each write in its own savepoint, inside the caller's transaction.
  #withSavepoints(batch: PendingWrite[]): Outcome[] {
    const finished = this.#tx.finished;
    const outcomes: Outcome[] = [];
    for (const op of batch) {
      const mark = finished.length;
      try {
        outcomes.push({ ok: true, value: this.#repo.atomic(() => runSync(op.steps(this.#tx))) });
      } catch (error) {
        // The failed operation's writes were undone, so must be the rollouts it finished.
        finished.length = mark;
        outcomes.push({ ok: false, value: error });
      }
    }
    return outcomes;
  }

  /** Marks expired attempts timeout/unresponsive and propagates; an indexed lookup when nothing is due. */
  healthCheck(): undefined {
    if (!this.#repo.hasDueAttempts(this.#now() / 1000)) return;
    this.#tx.finished.length = 0;
    try {
      this.#repo.write(() => runSync(sweep(this.#tx, HEALTH_BATCH)));
    } catch (error) {
      this.#tx.finished.length = 0;
      throw error;
    }
    this.#notifyFinished();
    return undefined;
  }

  sweep(): undefined {
    return this.healthCheck();
  }

  timedSweep(): undefined {
    return this.healthCheck();
  }

  close(): undefined {
    this.#repo.close();
    return undefined;
  }
}

/** The reads of a synchronous repository, plus the two it answers one row at a time. */
function readsOf(repo: RolloutRepository): RolloutReads {
  return {
    getRollout: (rolloutId) => repo.getRollout(rolloutId),
    getRollouts: (rolloutIds) => rolloutIds.flatMap((id) => repo.getRollout(id) ?? []),
    getAttempt: (rolloutId, attemptId) => repo.getAttempt(rolloutId, attemptId),
    latestAttempts: (rows) =>
      rows.flatMap((row) =>
        row.latestAttemptId === null ? [] : (repo.getAttempt(row.rolloutId, row.latestAttemptId) ?? []),
      ),
    queryRollouts: (filter, page) => repo.queryRollouts(filter, page),
    queryAttempts: (rolloutId, page) => repo.queryAttempts(rolloutId, page),
    querySpans: (rolloutId, attemptId, filter, page) => repo.querySpans(rolloutId, attemptId, filter, page),
    getResources: (resourcesId) => repo.getResources(resourcesId),
    latestResources: () => repo.latestResources(),
    queryResources: (filter, page) => repo.queryResources(filter, page),
    getWorker: (workerId) => repo.getWorker(workerId),
    queryWorkers: (filter, page) => repo.queryWorkers(filter, page),
    statistics: () => repo.statistics(),
  };
}
