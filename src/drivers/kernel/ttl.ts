/**
 * TTL arithmetic, the same for every driver (and the same bound as `TtlStore`):
 * - `ttlMs` is a number of milliseconds in (0, MAX_TTL_MS]; fractions are allowed;
 * - a store's clock is read in whole milliseconds (`Math.floor`), since every backend stores integers;
 * - `expiresAt = now + ceil(ttlMs)`: rounded up, so a document never expires before its TTL has passed,
 *   and capped at MAX_TTL_MS, so it stays an exact integer in JavaScript, SQLite, PostgreSQL and Redis.
 * A document is live while `now < expiresAt` and expired from `expiresAt` on.
 */

import { MAX_TTL_MS } from '../../shared/maxTtl.ts';

/** Largest accepted `ttlMs` and latest expiry time (see shared/maxTtl.ts; `TtlStore` has the same bound). */
export { MAX_TTL_MS };

/** The expiry time of a write at `now` (whole ms) with a valid `ttlMs`. */
export function expiryTime(now: number, ttlMs: number): number {
  return Math.min(now + Math.ceil(ttlMs), MAX_TTL_MS);
}

/** A clock in whole milliseconds (see above). */
export function wholeMilliseconds(clock: () => number): () => number {
  return clock === Date.now ? clock : () => Math.floor(clock());
}
