/** Constants and error classes the PostgreSQL rollout backend's parts share. */
import { lostRace, RACE_RETRIES } from '../../shared/postgres/failure.ts';

// How often a transaction that lost a deadlock or serialization race is re-run before the error surfaces.
export const MAX_TRANSIENT_RETRIES = RACE_RETRIES;
// First key of the advisory locks: ASCII "aglr" (rollouts), apart from the document driver's "agst".
export const LOCK_CLASS = 0x61676c72;

/** Deadlock, serialization failure, or a concurrent first use of the same idempotency key: re-run the transaction. */
export function isTransient(error: unknown): boolean {
  if (lostRace(error)) return true;
  const e = error as { code?: unknown; constraint?: unknown };
  return e?.code === '23505' && e.constraint === 'agl_idempotency_pkey';
}
