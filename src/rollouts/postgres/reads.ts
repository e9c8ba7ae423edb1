/**
 * The store's reads (`RolloutReads`) on PostgreSQL: the repository's statements on one counted runner,
 * without row locks (a read takes none; the write rules lock through ./transaction.ts).
 */
import type { RolloutReads } from '../engine/asyncRepository.ts';
import type { PostgresRolloutRepository, Queryable } from './repository.ts';

/** The reads of `repo` on `q` (the pool, one statement per call). */
export function postgresReads(repo: PostgresRolloutRepository, q: Queryable): RolloutReads {
  return {
    getRollout: (rolloutId) => repo.getRollout(q, rolloutId, false),
    getRollouts: (rolloutIds) => repo.getRollouts(q, rolloutIds),
    getAttempt: (rolloutId, attemptId) => repo.getAttempt(q, rolloutId, attemptId),
    // One query for the page's latest attempts.
    latestAttempts: (rows) =>
      repo.getAttempts(
        q,
        rows.flatMap((row) =>
          row.latestAttemptId === null ? [] : [[row.rolloutId, row.latestAttemptId] as const],
        ),
      ),
    queryRollouts: (filter, page) => repo.queryRollouts(q, filter, page),
    queryAttempts: (rolloutId, page) => repo.queryAttempts(q, rolloutId, page),
    querySpans: (rolloutId, attemptId, filter, page) =>
      repo.querySpans(q, rolloutId, attemptId, filter, page),
    getResources: (resourcesId) => repo.getResources(q, resourcesId),
    latestResources: () => repo.latestResources(q),
    queryResources: (filter, page) => repo.queryResources(q, filter, page),
    getWorker: (workerId) => repo.getWorker(q, workerId, false),
    queryWorkers: (filter, page) => repo.queryWorkers(q, filter, page),
    statistics: () => repo.statistics(q),
  };
}
