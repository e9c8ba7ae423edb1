/**
 * The default clock of the memory store: `Date.now()` read at most once per REUSE_READS calls within one
 * synchronous run. `Date.now()` costs ~40 ns here, as much as a whole cache hit, so every get reading it
 * would halve throughput (lru-cache makes the same trade with its `ttlResolution` timer).
 *
 * Staleness is bounded two ways: the cached value is dropped in a microtask at the end of the current
 * synchronous run (so after any `await` or timer a read is fresh), and within one long synchronous run it
 * is re-read every REUSE_READS calls. An entry may therefore live past its expiry by at most that window;
 * tests and callers who need an exact clock inject `now`.
 */
const REUSE_READS = 64;

let cached = 0;
let readsLeft = 0;
let invalidationPending = false;

function invalidate(): void {
  readsLeft = 0;
  invalidationPending = false;
}

/** Epoch ms, cached for the current synchronous run (see file comment). */
export function coarseNow(): number {
  if (readsLeft > 0) {
    readsLeft--;
    return cached;
  }
  if (!invalidationPending) {
    invalidationPending = true;
    queueMicrotask(invalidate);
  }
  cached = Date.now();
  readsLeft = REUSE_READS;
  return cached;
}
