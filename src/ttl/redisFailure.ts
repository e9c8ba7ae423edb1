/**
 * Redis client failures as AgentStateErrors: a connection that is down (refused, closed, or the client gave
 * up on a command while reconnecting) is UNAVAILABLE, which the server answers with 503 and `Retry-After`;
 * anything else the client throws is INTERNAL. AgentStateErrors pass through unchanged.
 */
import { AgentStateError, UnavailableError } from '../errors.ts';

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE']);
// ioredis' own words for "not connected": the retry limit of a queued command, a closed connection, a
// stream that cannot be written with the offline queue off.
const UNAVAILABLE_MESSAGE = /max retries per request|connection is closed|stream isn't writeable/i;

/** Turns a thrown value from the Redis client into an AgentStateError with a code. */
export function redisFailure(error: unknown): AgentStateError {
  if (error instanceof AgentStateError) return error;
  const e = error as { code?: unknown; message?: unknown; name?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const unavailable =
    (typeof e?.code === 'string' && UNAVAILABLE_CODES.has(e.code)) ||
    e?.name === 'MaxRetriesPerRequestError' ||
    UNAVAILABLE_MESSAGE.test(message);
  return unavailable
    ? new UnavailableError(
        `Redis is not reachable now (${message}); retry shortly`,
        { store: 'redis' },
        { cause: error },
      )
    : new AgentStateError('INTERNAL', `Redis failed: ${message}`, { store: 'redis' }, { cause: error });
}
