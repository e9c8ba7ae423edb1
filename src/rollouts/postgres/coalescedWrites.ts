/**
 * Statements of one event-loop turn leave in one socket write. On a pipelined connection the operations of
 * a group-commit batch send their statements in the same turn, and pg writes each statement to the socket
 * on its own (one `writev` system call each, the largest single cost of the server thread under load). The
 * socket is corked at the turn's first statement and uncorked once the turn's microtasks have run, so the
 * kernel sees one write per turn instead of one per statement.
 */
import type { QueryConfig, QueryResultRow } from 'pg';
import type { StatementRunner } from './roundTrips.ts';

interface Corkable {
  cork(): void;
  uncork(): void;
}

/** The socket of a pg client, when it can be corked (pg's `connection.stream`, a net.Socket). */
function socketOf(client: unknown): Corkable | undefined {
  const stream = (client as { connection?: { stream?: Partial<Corkable> } }).connection?.stream;
  return typeof stream?.cork === 'function' && typeof stream.uncork === 'function'
    ? (stream as Corkable)
    : undefined;
}

/** A pipelined connection whose statements of one turn are written to its socket together. */
export class CoalescedWrites implements StatementRunner {
  readonly #inner: StatementRunner;
  readonly #socket: Corkable | undefined;
  #corked = false;

  constructor(inner: StatementRunner) {
    this.#inner = inner;
    this.#socket = socketOf(inner);
  }

  query<R extends QueryResultRow = QueryResultRow>(
    config: QueryConfig | string,
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }> {
    const socket = this.#socket;
    if (socket !== undefined && !this.#corked) {
      this.#corked = true;
      socket.cork();
      // nextTick runs after the microtasks of this turn, where the other operations send theirs.
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    return this.#inner.query<R>(config, values);
  }
}
