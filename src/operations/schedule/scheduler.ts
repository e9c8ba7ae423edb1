/**
 * `BackupScheduler` (the seed's `AutoBackupScheduler`): backups every `intervalMs` or on a cron
 * expression (parsed by croner), pruned by a retention policy. Unlike the seed's loop, the timer never
 * keeps the process alive (unref), a run never overlaps another (the next one is armed only when the
 * previous finished; `runNow` during a run joins it), and a failure is reported as a process warning, the
 * channel of every other background failure in agentstate, instead of only a log line.
 */
import { Cron } from 'croner';
import { InvalidInputError } from '../../errors.ts';
import { type BackgroundErrorHandler, reportBackgroundError } from '../../shared/backgroundErrors.ts';
import { settled } from '../../shared/settled.ts';
import type { BackupInfo, BackupManager } from '../backup/manager.ts';
import { hasRetention, type RetentionPolicy, toPrune } from './retention.ts';

/** Timers and time, injectable so tests can run a month of schedules in milliseconds. */
export interface SchedulerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock; its timers are unref'd so a schedule never keeps the process alive. */
export const systemClock: SchedulerClock = {
  now: Date.now,
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Options of a schedule. */
export interface ScheduleOptions extends RetentionPolicy {
  /** Run every this many milliseconds (at least 1000). */
  intervalMs?: number;
  /** Or on a cron expression (5 or 6 fields, UTC), e.g. `0 3 * * *`. */
  cron?: string;
  /** Name prefix of the scheduled backups (default `auto`); retention only ever deletes these. */
  prefix?: string;
  /** Only these namespaces, tables or sources. */
  only?: readonly string[];
  /** Clock (default: the system clock with unref'd timers). */
  clock?: SchedulerClock;
  /** Receives the failure of a scheduled run (default: a process warning). */
  onError?: BackgroundErrorHandler;
  /** Called after each backup and pruning. */
  onBackup?: (info: BackupInfo, pruned: string[]) => void;
}

/** Longest single timer: Node's timers overflow above 2^31-1 ms, so longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A time as it appears in a scheduled backup's name: `20260101T030000000Z`. */
export const nameOfTime = (epochMs: number): string => new Date(epochMs).toISOString().replace(/[-:.]/g, '');

/** The time in a scheduled backup's name; undefined when the name has none. */
function timeOfName(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(text);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!) : undefined;
}

/** Runs backups on a schedule until `stop()`. */
export class BackupScheduler {
  readonly #manager: BackupManager;
  readonly #options: ScheduleOptions;
  readonly #clock: SchedulerClock;
  readonly #cron: Cron | undefined;
  readonly #prefix: string;
  #timer: unknown;
  #running: Promise<BackupInfo | undefined> | undefined;
  #stopped = true;
  #next: number | undefined;
  /** Completed runs, failed runs. */
  readonly stats = { runs: 0, failures: 0 };

  /** A schedule for `manager` (not started: call `start()`). */
  constructor(manager: BackupManager, options: ScheduleOptions) {
    const { intervalMs, cron } = options;
    if ((intervalMs === undefined) === (cron === undefined)) {
      throw new InvalidInputError('a backup schedule needs exactly one of intervalMs and cron', {
        option: 'intervalMs',
      });
    }
    if (intervalMs !== undefined && (!Number.isInteger(intervalMs) || intervalMs < 1000)) {
      throw new InvalidInputError('intervalMs must be an integer of at least 1000', {
        option: 'intervalMs',
        value: intervalMs,
      });
    }
    for (const key of ['keepLast', 'keepDaily', 'keepWeekly'] as const) {
      const v = options[key];
      if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
        throw new InvalidInputError(`${key} must be a whole number`, { option: key, value: v });
      }
    }
    if (cron !== undefined) {
      try {
        this.#cron = new Cron(cron, { paused: true, timezone: 'UTC' });
      } catch (error) {
        throw new InvalidInputError(
          `invalid cron expression ${JSON.stringify(cron)}: ${(error as Error).message}`,
          {
            option: 'cron',
            value: cron,
          },
        );
      }
    }
    this.#manager = manager;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#prefix = options.prefix ?? 'auto';
  }

  /** When the next run is due (epoch ms), while started. */
  get nextRunAt(): number | undefined {
    return this.#stopped ? undefined : this.#next;
  }

  /** Starts the schedule; the first run is one interval (or the next cron time) from now. */
  start(): this {
    if (!this.#stopped) return this;
    this.#stopped = false;
    this.#arm();
    return this;
  }

  /** Stops the schedule; resolves when a run in progress has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await settled(this.#running);
  }

  /** Runs a backup and pruning now; a run already in progress is joined, never doubled. */
  runNow(): Promise<BackupInfo | undefined> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #due(from: number): number | undefined {
    if (this.#options.intervalMs !== undefined) return from + this.#options.intervalMs;
    return this.#cron!.nextRun(new Date(from))?.getTime();
  }

  #arm(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    this.#next = this.#due(now);
    if (this.#next === undefined) return;
    const wait = (at: number) => {
      this.#timer = this.#clock.setTimeout(
        () => {
          if (this.#stopped) return;
          if (this.#clock.now() < at) return wait(at);
          void this.runNow().finally(() => this.#arm());
        },
        Math.min(Math.max(0, at - this.#clock.now()), MAX_TIMER_MS),
      );
    };
    wait(this.#next);
  }

  async #run(): Promise<BackupInfo | undefined> {
    try {
      const now = this.#clock.now();
      const name = `${this.#prefix}-${nameOfTime(now)}`;
      const info = await this.#manager.create({
        name,
        ...(this.#options.only ? { only: this.#options.only } : {}),
      });
      const pruned = await this.#prune();
      this.stats.runs++;
      this.#options.onBackup?.(info, pruned);
      return info;
    } catch (error) {
      this.stats.failures++;
      reportBackgroundError(this.#options.onError, error, {
        source: 'scheduled backup',
        details: { prefix: this.#prefix },
      });
      return undefined;
    }
  }

  async #prune(): Promise<string[]> {
    if (!hasRetention(this.#options)) return [];
    // Scheduled names carry their time, so pruning reads the directory, not every manifest.
    const ours: Array<{ name: string; createdAt: number }> = [];
    for (const name of await this.#manager.names()) {
      if (!name.startsWith(`${this.#prefix}-`)) continue;
      const createdAt = timeOfName(name.slice(this.#prefix.length + 1));
      if (createdAt !== undefined) ours.push({ name, createdAt });
    }
    const names = toPrune(ours, this.#options);
    for (const name of names) await this.#manager.delete(name);
    return names;
  }
}
