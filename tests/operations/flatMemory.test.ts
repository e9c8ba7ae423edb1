/**
 * Backups stream: backing up (and verifying) and restoring a SQLite store whose JSON is larger than the
 * JavaScript heap allowed to the process (--max-old-space-size=24) succeeds, so no step holds the store in
 * memory. Peak RSS of each step (a fresh process) is printed for a store and one 8x larger: it grows far
 * less than the data (what grows is native: SQLite's page cache and allocator arenas, which level off;
 * 217 MB of JSON peaked at 266 MiB in the benchmark runs).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
// The benchmark's worker: one step per process, printing its figures and peak RSS.
const CHILD = join(import.meta.dirname, '..', '..', 'bench', '_backupWorker.ts');
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Heap cap of the backup and restore processes, MiB: below the size of the large store's JSON. */
const HEAP_MIB = 24;

async function step(...args: string[]): Promise<Record<string, number>> {
  const heap = args[0]!.startsWith('seed') ? [] : [`--max-old-space-size=${HEAP_MIB}`];
  const { stdout } = await run(process.execPath, [...heap, CHILD, ...args], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

async function measure(count: number) {
  const dir = await mkdtemp(join(tmpdir(), 'agentstate-rss-'));
  dirs.push(dir);
  const db = join(dir, 'a.db');
  await step('seed-sqlite', db, String(count));
  const backup = await step('backup-sqlite', db, join(dir, 'backups'), 'big');
  const restore = await step('restore-sqlite', join(dir, 'restored.db'), join(dir, 'backups'), 'big');
  return { count, backup, restore };
}

describe('backup memory', () => {
  it('backs up and restores a store larger than its heap; RSS grows far less than the store', async () => {
    const small = await measure(4_000);
    const large = await measure(32_000);
    for (const m of [small, large]) {
      console.log(
        `backup+verify of ${m.backup.records} records (${(m.backup.rawBytes! / 2 ** 20).toFixed(1)} MiB of JSON): peak RSS ${m.backup.peakMiB} MiB, ${m.backup.ms} ms; restore: peak RSS ${m.restore.peakMiB} MiB, ${m.restore.ms} ms`,
      );
    }
    expect(large.backup.rawBytes).toBeGreaterThan(7 * small.backup.rawBytes!);
    expect(large.backup.rawBytes).toBeGreaterThan(1.5 * HEAP_MIB * 2 ** 20);
    expect(large.restore.records).toBe(large.backup.records);
    const grown = large.backup.rawBytes! / 2 ** 20 - small.backup.rawBytes! / 2 ** 20;
    expect(large.backup.peakMiB! - small.backup.peakMiB!).toBeLessThan(grown * 2);
  }, 300_000);
});
