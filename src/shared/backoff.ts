/**
 * Exponential back-off with jitter, for every retry loop: a lock that is busy, an HTTP request that
 * failed, a LISTEN connection that dropped. The jitter matters more than the curve: processes that failed
 * together (a database restart, one lock released to many waiters) would otherwise retry in lockstep and
 * collide again. Uses only the global `setTimeout`, so the HTTP client can use it in edge runtimes.
 */
export class Backoff {
  readonly #firstMs: number;
  readonly #maxMs: number;
  #stepMs: number;

  /** Delays start near `firstMs` and double on each `next()` up to `maxMs`. */
  constructor(firstMs: number, maxMs: number) {
    this.#firstMs = firstMs;
    this.#maxMs = maxMs;
    this.#stepMs = firstMs;
  }

  /**
   * The next delay, ms: the current step scaled by a random factor in [0.5, 1) ("equal jitter": at least
   * half the step, so a crowd still spreads out without ever retrying at once), then the step doubles.
   */
  next(): number {
    const delayMs = this.#stepMs * (0.5 + Math.random() / 2);
    this.#stepMs = Math.min(this.#stepMs * 2, this.#maxMs);
    return delayMs;
  }

  /** Back to the first step, after a success. */
  reset(): void {
    this.#stepMs = this.#firstMs;
  }
}

/** Resolves after `ms` (a timer that keeps the process alive, as the caller awaits it). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
