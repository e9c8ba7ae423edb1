/**
 * In-process waits for rollouts to finish. The write that finishes a rollout calls `notify`, which resolves
 * its waiters at once: no polling loop, unlike the reference's 10-second sleep-and-check.
 */
import { ClosedError } from '../errors.ts';
import type { Rollout } from './types.ts';

type Listener = (rollout: Rollout) => void;

// Node's largest timer delay; a longer one fires after 1 ms, so longer waits re-arm the timer in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Waiters per rollout id. */
export class RolloutWaiters {
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #cancels = new Set<(error: Error) => void>();

  /** Ids someone is waiting for (the backstop re-checks them for writes made by other processes). */
  waitedIds(): string[] {
    return [...this.#listeners.keys()];
  }

  /** Whether anyone waits. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Resolves the waiters of a finished rollout. */
  notify(rollout: Rollout): void {
    const listeners = this.#listeners.get(rollout.rolloutId);
    if (listeners === undefined) return;
    this.#listeners.delete(rollout.rolloutId);
    for (const listener of listeners) listener(rollout);
  }

  /**
   * Waits until every id finished, `timeoutMs` passed or `signal` aborted; resolves with the finished
   * rollouts by id. An aborted wait unregisters at once: a waiter kept after its client left would hold
   * memory until the rollout finished, which may be never.
   */
  waitAll(
    rolloutIds: readonly string[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Map<string, Rollout>> {
    const finished = new Map<string, Rollout>();
    if (signal?.aborted) return Promise.resolve(finished);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const registered: Array<[string, Listener]> = [];
      const onAbort = (): void => {
        finish();
        resolve(finished);
      };
      const finish = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        for (const [id, listener] of registered) {
          const set = this.#listeners.get(id);
          set?.delete(listener);
          if (set?.size === 0) this.#listeners.delete(id);
        }
        this.#cancels.delete(cancel);
      };
      const cancel = (error: Error): void => {
        finish();
        reject(error);
      };
      for (const id of rolloutIds) {
        const listener: Listener = (rollout) => {
          finished.set(id, rollout);
          if (finished.size === rolloutIds.length) {
            finish();
            resolve(finished);
          }
        };
        registered.push([id, listener]);
        let set = this.#listeners.get(id);
        if (set === undefined) {
          set = new Set();
          this.#listeners.set(id, set);
        }
        set.add(listener);
      }
      this.#cancels.add(cancel);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (Number.isFinite(timeoutMs)) {
        const deadline = Date.now() + timeoutMs;
        const arm = (delay: number): void => {
          timer = setTimeout(() => {
            const left = deadline - Date.now();
            if (left > 0) return arm(Math.min(left, MAX_TIMER_MS));
            finish();
            resolve(finished);
          }, delay);
        };
        arm(Math.min(timeoutMs, MAX_TIMER_MS));
      }
    });
  }

  /** Rejects every pending wait with ClosedError. */
  close(): void {
    for (const cancel of [...this.#cancels])
      cancel(new ClosedError('the rollout store was closed while waiting'));
  }
}
