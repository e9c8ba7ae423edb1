/**
 * One PostgreSQL transaction of the rollout store, re-run from the start after a deadlock or serialization
 * failure. Rollouts its operations finished are announced with NOTIFY inside the transaction (so every
 * process hears of them exactly when it commits) and to this process's waiters after COMMIT.
 */
import type { Pool } from 'pg';
import { checkOut } from '../../shared/postgres/checkout.ts';
import { CoalescedWrites, type StatementRunner } from '../../shared/postgres/coalescedWrites.ts';
import { RACE_RETRIES } from '../../shared/postgres/failure.ts';
import type { Rollout } from '../types.ts';
import { QueueTakes } from './queueTakes.ts';
import { BufferedWrites, type PostgresRolloutRepository } from './repository.ts';
import { CountedRunner, type RoundTripCounter } from './roundTrips.ts';
import { RolloutTransaction } from './transaction.ts';
import { isTransient } from './transient.ts';

// NOTIFY payloads must stay under 8000 bytes.
const NOTIFY_PAYLOAD_BYTES = 7000;

/** What a transaction's body gets: `open` makes one `RolloutTransaction` per operation. */
export type TransactionBody<T> = (open: () => RolloutTransaction, client: StatementRunner) => Promise<T>;

/** Runs transactions of one store. */
export class Transactions {
  readonly #pool: Pool;
  readonly #repo: PostgresRolloutRepository;
  readonly #channel: string;
  readonly #seconds: () => number;
  readonly #roundTrips: RoundTripCounter;
  readonly #finished: (rollout: Rollout) => void;

  /** Transactions on `pool`, announcing finished rollouts on `channel` and to `finished` after commit. */
  constructor(options: {
    pool: Pool;
    repo: PostgresRolloutRepository;
    channel: string;
    seconds: () => number;
    roundTrips: RoundTripCounter;
    finished: (rollout: Rollout) => void;
  }) {
    this.#pool = options.pool;
    this.#repo = options.repo;
    this.#channel = options.channel;
    this.#seconds = options.seconds;
    this.#roundTrips = options.roundTrips;
    this.#finished = options.finished;
  }

  /**
   * One transaction running `fn`, its statements counted for `operations`. The writes the operations'
   * transactions still hold back at the end are sent with the COMMIT; a failure among them is reported by
   * `lastWritesFailed` with the index of the transaction that held them.
   */
  async run<T>(
    operations: readonly string[],
    fn: TransactionBody<T>,
    lastWritesFailed: (error: unknown, index: number) => unknown = (error) => error,
  ): Promise<T> {
    let roundTrips = 0;
    try {
      return await this.#attempts(
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

  async #attempts<T>(
    fn: TransactionBody<T>,
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
      const takes = new QueueTakes(this.#repo);
      const open = () => {
        const buffer = new BufferedWrites(client, (text) => this.#repo.statementName(text), pipelined);
        const tx = new RolloutTransaction(this.#repo, buffer, this.#seconds, takes);
        txs.push(tx);
        return tx;
      };
      let result: T;
      try {
        result = pipelined
          ? await this.#pipelined(client, fn, open, txs, lastWritesFailed)
          : await this.#oneByOne(client, fn, open, txs, lastWritesFailed);
      } catch (error) {
        let broken = false;
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        release(broken);
        if (isTransient(error) && attempt < RACE_RETRIES) continue;
        throw error;
      }
      release();
      for (const tx of txs) for (const rollout of tx.finished) this.#finished(rollout);
      return result;
    }
  }

  async #pipelined<T>(
    client: StatementRunner,
    fn: TransactionBody<T>,
    open: () => RolloutTransaction,
    txs: readonly RolloutTransaction[],
    lastWritesFailed: (error: unknown, index: number) => unknown,
  ): Promise<T> {
    const begun = client.query('BEGIN');
    begun.catch(() => {});
    const result = await fn(open, client);
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
    return result;
  }

  async #oneByOne<T>(
    client: StatementRunner,
    fn: TransactionBody<T>,
    open: () => RolloutTransaction,
    txs: readonly RolloutTransaction[],
    lastWritesFailed: (error: unknown, index: number) => unknown,
  ): Promise<T> {
    await client.query('BEGIN');
    const result = await fn(open, client);
    for (let i = 0; i < txs.length; i++) {
      await txs[i]!.flush().catch((error: unknown) => {
        throw lastWritesFailed(error, i);
      });
    }
    await this.#notify(client, txs);
    await client.query('COMMIT');
    return result;
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
}
