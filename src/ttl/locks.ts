import { randomUUID } from 'node:crypto';
import { InvalidInputError } from '../errors.ts';
import { Backoff, sleep } from '../shared/backoff.ts';
import type { LockOptions, MaybePromise, TtlLock } from './types.ts';
import { checkKey, checkTtl } from './validate.ts';

/** The three owner-checked primitives a store provides; `acquireLockWith` builds handles on them. */
export interface LockBackend {
  /** Stores `token` under `name` for `ttlMs` only if no unexpired lock is there. */
  tryAcquire(name: string, token: string, ttlMs: number): MaybePromise<boolean>;
  /** Deletes the lock only if its stored token is `token`. */
  release(name: string, token: string): MaybePromise<boolean>;
  /** Resets the expiry only if the stored token is `token`. */
  extend(name: string, token: string, ttlMs: number): MaybePromise<boolean>;
}

// Polling bounds while waiting for a lock. Polling (rather than a release notification) works the same
// on memory and on Redis, and also notices locks that simply expire; 50 ms caps the added latency.
const FIRST_RETRY_MS = 2;
const MAX_RETRY_MS = 50;

/**
 * Takes a lock through `backend`, retrying until `waitMs` (real time) has passed. Every handle carries a
 * fresh random token, and release/extend are conditional on it, so a holder whose lock expired and was
 * taken by someone else can never free or prolong the new holder's lock.
 */
export async function acquireLockWith(
  backend: LockBackend,
  name: string,
  options: LockOptions,
): Promise<TtlLock | null> {
  checkKey(name, 'lock name');
  checkTtl(options?.ttlMs, name);
  const waitMs = options.waitMs ?? 0;
  if (typeof waitMs !== 'number' || Number.isNaN(waitMs) || waitMs < 0) {
    throw new InvalidInputError(`waitMs of lock '${name}' must be a number >= 0, got ${String(waitMs)}`, {
      key: name,
      waitMs: String(waitMs),
    });
  }
  const token = randomUUID();
  const deadline = performance.now() + waitMs;
  const backoff = new Backoff(FIRST_RETRY_MS, MAX_RETRY_MS);
  for (;;) {
    if (await backend.tryAcquire(name, token, options.ttlMs)) return lockHandle(backend, name, token);
    const remaining = deadline - performance.now();
    if (remaining <= 0) return null;
    await sleep(Math.min(remaining, backoff.next()));
  }
}

function lockHandle(backend: LockBackend, name: string, token: string): TtlLock {
  return {
    name,
    token,
    release: async () => backend.release(name, token),
    extend: async (ttlMs: number) => {
      checkTtl(ttlMs, name);
      return backend.extend(name, token, ttlMs);
    },
    [Symbol.asyncDispose]: async () => {
      await backend.release(name, token);
    },
  };
}
