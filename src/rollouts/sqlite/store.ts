/**
 * `SqliteRolloutStore`: the embedded default. Durable in one file; any number of processes on the same
 * machine may open it at once (the queue hands each rollout to exactly one of them). In-process waits wake
 * on the finishing write; writes from another process are noticed by the health-check timer, within one
 * `healthCheckIntervalMs`.
 *
 * better-sqlite3 is synchronous: each operation blocks the event loop for its transaction (tens of
 * microseconds), and a writer blocked by another process waits up to `busyTimeoutMs`.
 */

import { withCorruptionReports } from '../../shared/sqliteCorruption.ts';
import { RepositoryRolloutStore } from '../engine/repositoryStore.ts';
import type { RolloutStoreOptions } from '../types.ts';
import {
  DEFAULT_ROLLOUT_DB_PATH,
  type SqliteRepositoryOptions,
  SqliteRolloutRepository,
} from './repository.ts';

/** Options of `SqliteRolloutStore`. */
export interface SqliteRolloutStoreOptions extends RolloutStoreOptions, SqliteRepositoryOptions {}

/** The rollout store in a SQLite file (WAL). */
export class SqliteRolloutStore extends RepositoryRolloutStore {
  /** Opens (and creates when needed) the database at `options.path`. */
  constructor(options: SqliteRolloutStoreOptions = {}) {
    // A damaged page reached by any call is CORRUPT_STATE naming the file, with the recovery steps.
    super(
      withCorruptionReports(new SqliteRolloutRepository(options), options.path ?? DEFAULT_ROLLOUT_DB_PATH),
      options,
    );
  }
}
