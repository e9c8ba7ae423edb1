/**
 * The stores behind `agentstate serve`: by default one SQLite file, `<data>/agentstate.db`, holding both
 * the documents and the rollouts (so one consistent file is all a backup needs); with `--postgres`, both
 * live in PostgreSQL and the server keeps no state of its own.
 */
import { join } from 'node:path';
import { createPostgresStore, createSqliteStore, type DocumentStore } from '../drivers/index.ts';
import { SessionManager } from '../modules/index.ts';
import { openPersistenceRouter, PerformanceMonitor } from '../persistence/index.ts';
import { PostgresRolloutStore, type RolloutStore, SqliteRolloutStore } from '../rollouts/index.ts';
import type { BackgroundErrorHandler } from '../shared/backgroundErrors.ts';
import { RedisTtlStore, TtlStore, type TtlStoreLike } from '../ttl/index.ts';

/** Default data directory. */
export const DEFAULT_DATA_DIR = './.agentstate';
/** The database file inside the data directory. */
export const DATABASE_FILE = 'agentstate.db';

/** Where `serve` keeps data. */
export interface StoreConfig {
  /** Data directory for SQLite. */
  data: string;
  /** PostgreSQL connection string, when given. */
  postgres?: string | undefined;
  /** PostgreSQL schema of the documents (default `agentstate`). */
  postgresSchema?: string | undefined;
  /** Connections of the PostgreSQL rollout store's pool (default 24). */
  postgresPoolSize?: number | undefined;
  /** Group-commit batches of the PostgreSQL rollout store committing at once (default 4). */
  postgresConcurrentCommits?: number | undefined;
  /** Redis URL for TTL signals and locks shared by several servers, when given. */
  redis?: string | undefined;
  /** Persistence config file: documents and sessions go through its router (rollouts stay as above). */
  config?: string | undefined;
  /** `maxDequeuePerCall` of the rollout store (default 1,000). */
  maxDequeuePerCall?: number | undefined;
  /** `statementTimeoutMs` of the PostgreSQL stores (default 60 s). */
  statementTimeoutMs?: number | undefined;
  /** Receives the stores' background errors (`serve`: the server's log). */
  onError?: BackgroundErrorHandler | undefined;
}

/** The opened stores and a description for the start-up line. */
export interface OpenedStores {
  documents: DocumentStore;
  rollouts: RolloutStore;
  ttl: TtlStoreLike;
  sessions: SessionManager;
  /** Measures the router's backends when a persistence config is used. */
  monitor?: PerformanceMonitor;
  description: string;
}

/** Path of the SQLite database in a data directory. */
export const databasePath = (data: string): string => join(data, DATABASE_FILE);

/** Opens the stores; sessions saved earlier are loaded. */
export async function openStores(config: StoreConfig): Promise<OpenedStores> {
  const path = databasePath(config.data);
  const schema = {
    ...(config.postgresSchema ? { schema: config.postgresSchema } : {}),
    ...(config.statementTimeoutMs === undefined ? {} : { statementTimeoutMs: config.statementTimeoutMs }),
  };
  const dequeueCap =
    config.maxDequeuePerCall === undefined ? {} : { maxDequeuePerCall: config.maxDequeuePerCall };
  // Every store's background failures (health checks, sweeps, feeds, pools) go to the caller's handler.
  const reporting = config.onError && { onError: config.onError };
  // With PostgreSQL, documents and rollouts share one schema (their tables do not overlap), so any number
  // of servers can run on the same database.
  const rollouts: RolloutStore = config.postgres
    ? new PostgresRolloutStore({
        connectionString: config.postgres,
        ...schema,
        ...dequeueCap,
        ...(config.postgresPoolSize === undefined ? {} : { poolSize: config.postgresPoolSize }),
        ...(config.postgresConcurrentCommits === undefined
          ? {}
          : { concurrentCommits: config.postgresConcurrentCommits }),
        ...reporting,
      })
    : new SqliteRolloutStore({ path, ...dequeueCap, ...reporting });
  const monitor = config.config ? new PerformanceMonitor({ ...reporting }) : undefined;
  let documents: DocumentStore;
  try {
    documents = config.config
      ? await openPersistenceRouter(config.config, { ...(monitor && { monitor }), ...reporting })
      : config.postgres
        ? createPostgresStore({ connectionString: config.postgres, ...schema, ...reporting })
        : createSqliteStore({ path, ...reporting });
  } catch (error) {
    monitor?.stop();
    await rollouts.close();
    throw error;
  }
  const ttl: TtlStoreLike = config.redis
    ? new RedisTtlStore({ redis: config.redis, ...reporting })
    : new TtlStore({ ...reporting });
  const sessions = new SessionManager({ store: documents, ...reporting });
  await sessions.loadAll();
  // Expired sessions are dropped once a minute (the timer never keeps the process alive).
  sessions.startCleanup(60_000);
  const where = config.postgres
    ? `PostgreSQL ${withoutPassword(config.postgres)} schema ${config.postgresSchema ?? 'agentstate'} (documents and rollouts)`
    : `SQLite ${path}`;
  const routed = config.config ? `documents and sessions by ${config.config}, rollouts in ` : '';
  return {
    documents,
    rollouts,
    ttl,
    sessions,
    ...(monitor && { monitor }),
    description: `${routed}${where}, TTL ${config.redis ? 'in Redis' : 'in memory'}`,
  };
}

/** A connection URL as printed at start-up: the password never reaches the terminal or a log. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(connection string)';
  }
}
