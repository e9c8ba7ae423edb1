/**
 * Largest accepted `ttlMs` and latest expiry time (about 285,000 years): the largest exact integer, so an
 * expiry stays exact in JavaScript, SQLite, PostgreSQL and Redis (Redis refuses a PX whose expiry
 * overflows its 64-bit ms clock, and a larger number is sent as "1e+21", not an integer). The document
 * drivers and the TTL stores share this bound.
 */
export const MAX_TTL_MS = Number.MAX_SAFE_INTEGER;
