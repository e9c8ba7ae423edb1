/**
 * `PostgresRolloutStore`: the rollout store for many server processes and machines sharing one PostgreSQL.
 * Every method is the one store's (../engine/store.ts); what PostgreSQL does differently (pipelined and
 * coalesced batches, group commit across concurrent requests, LISTEN/NOTIFY waits, the cluster's
 * health-check lease) is its backend, ./backend.ts.
 */
import type { Pool } from 'pg';
import { AsyncRepositoryStore } from '../engine/store.ts';
import type { RolloutStoreOperationalStats, RolloutStoreOptions } from '../types.ts';
import { PostgresRolloutBackend } from './backend.ts';

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
  /**
   * Group-commit batches committing at once (default 4, at most the pool's writers). Fewer make bigger
   * batches (less CPU per call when requests arrive a few at a time); more keep writes moving when some
   * batches are slow (a large prune, a batch waiting on a row another session holds).
   */
  concurrentCommits?: number;
  /** Safety re-check of awaited rollouts, ms (default 30000): only matters if a notification was lost. */
  waitRecheckIntervalMs?: number;
  /**
   * `statement_timeout` of every connection of the pool the store creates, ms (default 60000; 0 = none).
   * A pool you pass keeps its own settings.
   */
  statementTimeoutMs?: number;
}

/** The rollout store on PostgreSQL. */
export class PostgresRolloutStore extends AsyncRepositoryStore {
  /** The schema holding the tables. */
  readonly schema: string;
  readonly #backend: PostgresRolloutBackend;

  /** Connects lazily: the first operation creates the schema (under an advisory lock) when missing. */
  constructor(options: PostgresRolloutStoreOptions) {
    const backend = new PostgresRolloutBackend(options);
    super(backend, options);
    this.#backend = backend;
    this.schema = backend.schema;
  }

  /**
   * Ready to serve: PostgreSQL answers and the schema is at this code's version (created on first use).
   * Rejects with UNAVAILABLE while the server cannot be reached, CORRUPT_STATE for a newer schema.
   */
  ready(): Promise<void> {
    return this.#backend.ready();
  }

  /** Pool usage, round trips per operation and health-check leadership of this process. */
  operationalStats(): RolloutStoreOperationalStats {
    return this.#backend.operationalStats();
  }
}
