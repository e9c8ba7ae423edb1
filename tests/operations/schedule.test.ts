/**
 * Backup schedules with an injected clock: a month of hourly backups pruned by keepLast/keepDaily/
 * keepWeekly, a month of cron backups, no overlapping runs, failures reported and the schedule going on,
 * and timers that never keep the process alive.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BackupManager,
  type BackupSource,
  createMemoryStore,
  type DocumentStore,
  documentStoreSource,
  type SchedulerClock,
} from '../../src/index.ts';
import { systemClock, toPrune } from '../../src/operations/index.ts';

/** Timers fired by `advance`, in time order; each fired run is awaited before the next timer. */
class FakeClock implements SchedulerClock {
  time = Date.UTC(2026, 0, 1);
  timers: Array<{ at: number; fn: () => void; id: number }> = [];
  #id = 0;
  now = () => this.time;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#id;
    this.timers.push({ at: this.time + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** Moves time to `end`, firing every timer due on the way and letting each run finish. */
  async advanceTo(end: number): Promise<void> {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.time = next.at;
      next.fn();
      // A run re-arms the timer when it is done: wait for that (real time, at most ~5 s: then nothing re-armed).
      const deadline = performance.now() + 5000;
      while (this.timers.length === 0 && performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 0));
    }
    this.time = end;
  }
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('BackupScheduler', () => {
  let dir: string;
  let store: DocumentStore;
  let manager: BackupManager;
  let clock: FakeClock;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-schedule-'));
    store = createMemoryStore();
    await store.put('agents', 'a1', { n: 1 });
    clock = new FakeClock();
    manager = new BackupManager({
      dir,
      now: clock.now,
      sources: [documentStoreSource({ store, namespaces: ['agents'] })],
    });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs hourly for a month and keeps the last 24, one per day for 7 days, one per week for 4 weeks', async () => {
    const start = clock.time;
    const scheduler = manager.schedule({
      intervalMs: HOUR,
      keepLast: 24,
      keepDaily: 7,
      keepWeekly: 4,
      clock,
    });
    await clock.advanceTo(start + 30 * DAY);
    await scheduler.stop();
    expect(scheduler.stats).toEqual({ runs: 720, failures: 0 });
    const kept = (await manager.list()).backups.map((b) => Date.parse(b.createdAt)).sort((a, b) => a - b);
    const end = start + 30 * DAY;
    // The newest 24 hours are all there.
    for (let h = 0; h < 24; h++) expect(kept).toContain(end - h * HOUR);
    // The last run is at 00:00 of day 31: each of the 6 days before has its newest backup (23:00), and
    // each of the last 4 ISO weeks one.
    for (let d = 0; d < 6; d++) expect(kept).toContain(end - HOUR - d * DAY);
    const weeks = new Set(kept.map((t) => Math.floor((t - Date.UTC(2025, 11, 29)) / (7 * DAY))));
    expect(weeks.size).toBe(4);
    // 24 hourly + 5 daily beyond them + 2 weekly beyond those (the other two weeks are covered already).
    expect(kept.length).toBe(24 + 5 + 2);
    expect(Math.min(...kept)).toBeGreaterThan(end - 28 * DAY);
  });

  it('runs on a cron expression (UTC) for a month', async () => {
    const created: string[] = [];
    const scheduler = manager.schedule({
      cron: '0 3 * * *',
      clock,
      onBackup: (info) => created.push(info.createdAt),
    });
    await clock.advanceTo(clock.time + 31 * DAY);
    await scheduler.stop();
    expect(created).toHaveLength(31);
    expect(created.every((c) => c.endsWith('T03:00:00.000Z'))).toBe(true);
  });

  it('never runs two backups at once, reports failures and keeps going', async () => {
    let active = 0;
    let most = 0;
    let fail = true;
    const slow: BackupSource = {
      name: 'slow',
      backend: 'memory',
      holds: ['documents'],
      async openRead() {
        active++;
        most = Math.max(most, active);
        await new Promise((r) => setTimeout(r, 20));
        if (fail) {
          active--;
          throw new Error('disk full');
        }
        return {
          sections: async () => [],
          records: async function* () {},
          close: async () => {
            active--;
          },
        };
      },
      restore: async () => ({ written: 0, deleted: 0, unchanged: 0, conflicts: [] }),
    };
    const errors: unknown[] = [];
    const sources: unknown[] = [];
    const scheduler = new BackupManager({ dir, now: clock.now, sources: [slow] }).schedule({
      intervalMs: 60_000,
      clock,
      onError: (e, context) => {
        errors.push(e);
        sources.push(context);
      },
    });
    await clock.advanceTo(clock.time + 60_000);
    expect(errors.map((e) => (e as Error).message)).toEqual(['disk full']);
    expect(sources).toEqual([{ source: 'scheduled backup', details: { prefix: 'auto' } }]);
    fail = false;
    const [a, b] = [scheduler.runNow(), scheduler.runNow()];
    expect(a).toBe(b);
    await a;
    await clock.advanceTo(clock.time + 5 * 60_000);
    await scheduler.stop();
    expect(most).toBe(1);
    expect(scheduler.stats.failures).toBe(1);
    expect(scheduler.stats.runs).toBeGreaterThanOrEqual(5);
  });

  it('reports failures as process warnings by default, and its timers never keep the process alive', async () => {
    const timer = systemClock.setTimeout(() => {}, 1000) as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    systemClock.clearTimeout(timer);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const broken = new BackupManager({ dir: join(dir, 'file-not-dir', 'x'), sources: [] });
    await rm(join(dir, 'file-not-dir'), { force: true });
    await (await import('node:fs/promises')).writeFile(join(dir, 'file-not-dir'), '');
    const scheduler = broken.schedule({ intervalMs: 1000 });
    await scheduler.runNow();
    await scheduler.stop();
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(warnings.some((w) => w.startsWith('agentstate: scheduled backup failed'))).toBe(true);
  });

  it('refuses bad schedules and prunes only what the policy drops', () => {
    expect(() => manager.schedule({ clock: new FakeClock() })).toThrow(/exactly one/);
    expect(() => manager.schedule({ cron: 'not a cron' })).toThrow(/invalid cron/);
    expect(() => manager.schedule({ intervalMs: 10 })).toThrow(/at least 1000/);
    expect(toPrune([{ name: 'a', createdAt: 1 }], {})).toEqual([]);
    expect(
      toPrune(
        [
          { name: 'a', createdAt: 1 },
          { name: 'b', createdAt: 2 },
        ],
        { keepLast: 1 },
      ),
    ).toEqual(['a']);
  });
});
