/**
 * The default clock of the memory store: `Date.now()` read at most once per REUSE_READS calls within one
 * synchronous run. `Date.now()` costs ~40 ns here, as much as a whole cache hit, so every get reading it
 * would halve throughput (lru-cache makes the same trade with its `ttlResolution` timer).
 *
 * Staleness is bounded two ways: the cached value is dropped in a microtask at the end of the current
 * synchronous run (so after any `await` or timer a read is fresh), and within one long synchronous run it
 * is re-read every REUSE_READS calls. An entry may therefore live past its expiry by at most that window;
 * tests and callers who need an exact clock inject `now`, which is then called on every read.
 *
 * One instance per store (no module-level state), so an injected clock and the cache never mix.
 */
const REUSE_READS = 64;

/** Epoch ms, cached for the current synchronous run unless an exact clock is given. */
export class CachedClock {
  readonly #exact: (() => number) | undefined;
  #cached = 0;
  #readsLeft = 0;
  #invalidationPending = false;
  readonly #onInvalidate: (() => void) | undefined;
  readonly #invalidate = (): void => {
    this.#readsLeft = 0;
    this.#invalidationPending = false;
    this.#onInvalidate?.();
  };

  /** `onInvalidate` runs whenever the cached time is dropped (end of a synchronous run). */
  constructor(exact?: () => number, onInvalidate?: () => void) {
    this.#exact = exact;
    this.#onInvalidate = onInvalidate;
  }

  /**
   * Hands the remaining reuses of the cached time to the caller, who counts them down itself (a field
   * decrement instead of a call), and returns how many (0 with an exact clock). The clock then refreshes
   * on its next read, so all reads of one cached time, counted here or by the caller, stay within
   * REUSE_READS.
   */
  takeReuses(): number {
    const reuses = this.#readsLeft;
    this.#readsLeft = 0;
    return reuses;
  }

  /** The time (cached, see above). */
  read(): number {
    if (this.#readsLeft > 0) {
      this.#readsLeft--;
      return this.#cached;
    }
    return this.#refresh();
  }

  /** The time, never cached (for sweeps and snapshots). */
  readExact(): number {
    return this.#exact ? this.#exact() : Date.now();
  }

  #refresh(): number {
    if (this.#exact) return this.#exact();
    this.#cached = Date.now();
    this.#readsLeft = REUSE_READS - 1;
    if (!this.#invalidationPending) {
      this.#invalidationPending = true;
      queueMicrotask(this.#invalidate);
    }
    return this.#cached;
  }
}
