/** Constants and error classes the PostgreSQL rollout backend's parts share. */
import { lostRace } from '../../shared/postgres/failure.ts';

// First key of the advisory locks: ASCII "aglr" (rollouts), apart from the document driver's "agst".
export const LOCK_CLASS = 0x61676c72;

/** Deadlock, serialization failure, or a concurrent first use of the same idempotency key: re-run the transaction. */
export function isTransient(error: unknown): boolean {
  if (lostRace(error)) return true;
  const e = error as { code?: unknown; constraint?: unknown };
  return e?.code === '23505' && e.constraint === 'agl_idempotency_pkey';
}
