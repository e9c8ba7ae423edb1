/**
 * Statements sent together leave in one socket write. On a pipelined connection pg writes each statement
 * to the socket on its own (one `write`/`writev` system call each, the largest single cost of a busy
 * client thread here, and one wake-up of the server backend each). Corking the socket while a
 * transaction's statements are sent makes the kernel see one write for all of them.
 */
import type { QueryConfig, QueryResultRow } from 'pg';

/** Anything that runs a statement: a pool, a client, or a wrapper of either. */
export interface StatementRunner {
  query<R extends QueryResultRow = QueryResultRow>(
    config: QueryConfig | string,
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}

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

/**
 * Runs `send`, which sends statements on `client` without awaiting (pipeline mode), with the socket
 * corked: everything it sends leaves in one write when it returns.
 */
export function writeTogether<T>(client: unknown, send: () => T): T {
  const socket = socketOf(client);
  socket?.cork();
  try {
    return send();
  } finally {
    socket?.uncork();
  }
}

/**
 * A pipelined connection whose statements of one event-loop turn are written to its socket together: the
 * operations of a group-commit batch send their statements in the same turn, across microtasks, so the
 * socket is corked at the turn's first statement and uncorked once the turn's microtasks have run.
 */
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
