/**
 * Round trips per store operation: each time the store waits for PostgreSQL's answer is one network round
 * trip, the unit that dominates a small operation's cost. Statements sent while an earlier one is still
 * unanswered (pipelined: BEGIN with the first statement, the last writes with COMMIT) share its round trip.
 * A group-commit batch shares its round trips among the operations in it, so the count per operation falls
 * as batches fill.
 */
import type { QueryConfig, QueryResultRow } from 'pg';
import type { StatementRunner } from '../../shared/postgres/coalescedWrites.ts';

/** A connection or pool whose round trips are counted. */
export class CountedRunner implements StatementRunner {
  readonly #inner: StatementRunner;
  #unanswered = 0;
  /** Round trips so far: statements sent while none was waiting for its answer. */
  count = 0;

  constructor(inner: StatementRunner) {
    this.#inner = inner;
  }

  query<R extends QueryResultRow = QueryResultRow>(
    config: QueryConfig | string,
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }> {
    if (this.#unanswered === 0) this.count++;
    this.#unanswered++;
    const answered = () => {
      this.#unanswered--;
    };
    const result = this.#inner.query<R>(config, values);
    result.then(answered, answered);
    return result;
  }
}

/** Operations and round trips by operation name, cumulative since the store opened. */
export class RoundTripCounter {
  readonly #byOperation = new Map<string, { operations: number; roundTrips: number }>();

  /** Records that `operations` (names, one per call) together took `roundTrips` statements. */
  record(operations: readonly string[], roundTrips: number): void {
    if (operations.length === 0) return;
    const share = roundTrips / operations.length;
    for (const name of operations) {
      let entry = this.#byOperation.get(name);
      if (entry === undefined) {
        entry = { operations: 0, roundTrips: 0 };
        this.#byOperation.set(name, entry);
      }
      entry.operations++;
      entry.roundTrips += share;
    }
  }

  /** A copy of the counts. */
  snapshot(): Record<string, { operations: number; roundTrips: number }> {
    const out: Record<string, { operations: number; roundTrips: number }> = {};
    for (const [name, entry] of this.#byOperation) out[name] = { ...entry };
    return out;
  }
}
