/**
 * `LatestConsistencyCheck`: a consistency check that may be asked for at any time (by the server's
 * operations routes) without piling up: one run at a time, a request while one runs joins it, and the
 * latest result is kept with when it started and how long it took. A check reads every document and row,
 * so nothing here ever runs two at once or more often than the caller asks.
 */
import { errorMessage } from '../../errors.ts';
import type { ConsistencyReport } from './report.ts';

/** The latest finished run. */
export interface ConsistencyRun {
  /** When it started, epoch ms. */
  startedAt: number;
  /** How long it took, ms. */
  durationMs: number;
  /** The report, or undefined when the check failed (see `error`). */
  report?: ConsistencyReport;
  /** Why the check failed (an unreachable store). */
  error?: string;
}

/** One check at a time, the latest result kept. */
export class LatestConsistencyCheck {
  readonly #check: () => Promise<ConsistencyReport>;
  readonly #now: () => number;
  #latest: ConsistencyRun | undefined;
  #running: { startedAt: number; done: Promise<ConsistencyRun> } | undefined;

  /** Runs `check` (e.g. `() => checker.check()`) when asked; `now` is the clock (default `Date.now`). */
  constructor(check: () => Promise<ConsistencyReport>, now: () => number = Date.now) {
    this.#check = check;
    this.#now = now;
  }

  /** The latest finished run, if any. */
  get latest(): ConsistencyRun | undefined {
    return this.#latest;
  }

  /** Start time of the run in progress, epoch ms; undefined when none runs. */
  get runningSince(): number | undefined {
    return this.#running?.startedAt;
  }

  /** Starts a run unless one is in progress (then it is that run); resolves when it finishes. */
  run(): Promise<ConsistencyRun> {
    if (this.#running) return this.#running.done;
    const startedAt = this.#now();
    const done = Promise.resolve()
      .then(() => this.#check())
      .then(
        (report): ConsistencyRun => ({ startedAt, durationMs: this.#now() - startedAt, report }),
        (error: unknown): ConsistencyRun => ({
          startedAt,
          durationMs: this.#now() - startedAt,
          error: errorMessage(error),
        }),
      )
      .then((result) => {
        this.#latest = result;
        this.#running = undefined;
        return result;
      });
    this.#running = { startedAt, done };
    return done;
  }
}
