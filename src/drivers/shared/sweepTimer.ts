/** How often drivers sweep expired documents unless `sweepIntervalMs` says otherwise. */
export const DEFAULT_SWEEP_INTERVAL_MS = 30_000;

/**
 * Calls `sweep` every `intervalMs` on a timer that never keeps the process alive. `sweep` returns
 * undefined to skip a round; a failed sweep becomes a process warning naming the driver (`what`), since
 * nobody awaits the timer.
 */
export function startSweepTimer(
  intervalMs: number | undefined,
  what: string,
  sweep: () => Promise<unknown> | undefined,
): NodeJS.Timeout {
  const timer = setInterval(() => {
    sweep()?.catch((error: unknown) =>
      process.emitWarning(`agentstate: ${what} sweep failed: ${(error as Error).message}`),
    );
  }, intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
  timer.unref();
  return timer;
}
