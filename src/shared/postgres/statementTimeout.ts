import { integerOption } from '../integerOption.ts';

/**
 * Default `statementTimeoutMs` of the pools the PostgreSQL stores create: a statement running longer is
 * cancelled by the server (SQLSTATE 57014, reported as TIMEOUT), so no request can occupy a backend and
 * hold its locks for minutes. Every statement the stores send is small and indexed; one minute is far
 * above any of them and far below the half hour an unbounded statement once took.
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 60_000;

/** The `statementTimeoutMs` option, checked: a whole number of ms >= 0 (0 = no timeout). */
export function statementTimeoutMs(value: number | undefined): number {
  return integerOption(value, DEFAULT_STATEMENT_TIMEOUT_MS, 'statementTimeoutMs', 0);
}
