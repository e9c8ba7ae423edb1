import { AgentStateError, ClosedError, TimeoutError, UnavailableError } from '../../errors.ts';

// SQLSTATE class 08 (connection exceptions), admin/crash shutdown, cannot connect now, too many
// connections, and the socket errors pg passes through: the server is unreachable, not the call wrong.
const UNAVAILABLE_CODES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
]);

/** How often a transaction that lost a race (`lostRace`) is run again before its error surfaces. */
export const RACE_RETRIES = 8;

/**
 * A deadlock (40P01) or serialization failure (40001): PostgreSQL rolled the transaction back as the loser
 * of a race with another one, so running it again from the start is safe and usually succeeds.
 */
export function lostRace(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === '40P01' || code === '40001';
}

// pg's own words when the server went away under a query or a pooled connection (no SQLSTATE then).
const LOST_CONNECTION = /connection terminated|not queryable|connection error|server closed the connection/i;

/**
 * Turns a pg driver or network failure into an AgentStateError with a code: CLOSED when the store was
 * closed during the call, UNAVAILABLE when the server cannot be reached, INTERNAL otherwise (with the
 * SQLSTATE as `pgCode`). AgentStateErrors pass through unchanged. `what` names the store in messages.
 */
export function postgresFailure(
  error: unknown,
  what: string,
  closed: boolean,
  details: Record<string, unknown>,
): AgentStateError {
  if (error instanceof AgentStateError) return error;
  if (closed) return new ClosedError(`the ${what} was closed during the call`, details);
  const e = error as { message?: string; code?: string };
  // 57014: cancelled, by the statement timeout of the store's pool (or an administrator).
  if (e.code === '57014') {
    return new TimeoutError(`${what}: the statement was cancelled (statementTimeoutMs): ${e.message}`, {
      ...details,
      pgCode: e.code,
    });
  }
  const unavailable =
    (typeof e.code === 'string' && (e.code.startsWith('08') || UNAVAILABLE_CODES.has(e.code))) ||
    LOST_CONNECTION.test(e.message ?? '');
  const message = `${what}: ${e.message ?? String(error)}`;
  const allDetails = { ...details, ...(e.code !== undefined && { pgCode: e.code }) };
  return unavailable
    ? new UnavailableError(message, allDetails, { cause: error })
    : new AgentStateError('INTERNAL', message, allDetails, { cause: error });
}
