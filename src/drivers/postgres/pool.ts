import type { Pool } from 'pg';
import { loadPackage } from '../../shared/optionalPackage.ts';
import { statementTimeoutMs } from '../../shared/postgres/statementTimeout.ts';

/**
 * The pool a store creates from `connectionString` and ends on close. An idle connection that drops (a
 * server restart) must not crash the process, and the next query reconnects: the drop goes to `onIdleError`.
 */
export function createPool(
  options: { connectionString?: string; poolSize?: number; statementTimeoutMs?: number },
  onIdleError: (error: Error) => void,
): Pool {
  const pool = new (loadPackage<typeof import('pg')>('pg', 'createPostgresStore').Pool)({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    // A batch sends its statements without waiting for each answer (see postgres/batch.ts).
    pipeline: true,
    statement_timeout: statementTimeoutMs(options.statementTimeoutMs),
    // Idle connections never keep the process alive; an open store with watchers does.
    allowExitOnIdle: true,
  });
  pool.on('error', onIdleError);
  return pool;
}
