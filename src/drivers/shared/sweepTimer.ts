/** How often drivers sweep expired documents unless `sweepIntervalMs` says otherwise. */
export const DEFAULT_SWEEP_INTERVAL_MS = 30_000;

/**
 * Calls `sweep` every `intervalMs` on a timer that never keeps the process alive. Nobody awaits the
 * timer, so `sweep` reports its own failures (see kernel/documentStore.ts: to the store's `onError`).
 */
export function startSweepTimer(intervalMs: number | undefined, sweep: () => unknown): NodeJS.Timeout {
  const timer = setInterval(sweep, intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
  timer.unref();
  return timer;
}
