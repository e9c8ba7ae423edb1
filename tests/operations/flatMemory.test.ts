/**
 * Backups stream: backing up (create + verify) and restoring a SQLite store runs in memory that does not
 * grow with the store. Each step runs in a fresh process (the benchmark's worker, which prints its peak
 * RSS) with the JavaScript heap capped below the store's JSON, so no step can hold the store; and the
 * peak RSS of a store 4x larger must stay within a few MiB of the smaller one's, which also catches memory
 * outside the heap (Buffers, SQLite, zlib) that grows with the data.
 *
 * The young generation is capped too (--max-semi-space-size=1): V8 otherwise grows it, up to ~48 MiB of
 * RSS, with the rate a process allocates rather than with what it holds, which would hide the comparison.
 * The smaller backup (a quarter of the store: one of its 4 namespaces) reads more than SQLite's page cache
 * holds (16 MiB per connection), so both runs have it full.
 * The benchmark (`npm run bench backup`, docs/backups.md) does the same at 1 GB.
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

/** Heap cap of the backup and restore processes, MiB: well below the larger store's JSON. */
const HEAP_MIB = 24;
/**
 * How much more peak RSS the 4x store may take: what bounded memory a longer run fills further (the
 * capped heap, SQLite's 16 MiB page cache, a page of records, a zlib window). A step holding the store
 * would add its 47 MiB more of JSON; a restore of the whole store has peaked 12 MiB above the quarter's
 * (131 against 119 MiB, Node 22).
 */
const SLACK_MIB = 20;

interface Figures {
  ms: number;
  peakMiB: number;
  records: number;
  rawBytes: number;
}

async function step(...args: string[]): Promise<Figures> {
  const flags = args[0]!.startsWith('seed')
    ? []
    : [`--max-old-space-size=${HEAP_MIB}`, '--max-semi-space-size=1'];
  const { stdout } = await run(process.execPath, [...flags, CHILD, ...args], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Figures;
}

/** One store; a backup of a quarter of it (one of its 4 namespaces) and of all of it, each restored. */
async function measure(count: number) {
  const dir = await mkdtemp(join(tmpdir(), 'agentstate-rss-'));
  dirs.push(dir);
  const db = join(dir, 'a.db');
  await step('seed-sqlite', db, String(count));
  const backups = join(dir, 'backups');
  const backupAndRestore = async (name: string, only?: string) => ({
    backup: await step('backup-sqlite', db, backups, name, ...(only ? [only] : [])),
    restore: await step('restore-sqlite', join(dir, `${name}.db`), backups, name),
  });
  return { small: await backupAndRestore('quarter', 'ns0'), large: await backupAndRestore('all') };
}

const mib = (bytes: number) => bytes / 2 ** 20;

describe('backup memory', () => {
  it('backs up and restores a store 2x larger than its heap, in the same peak RSS as a quarter of it', async () => {
    const { small, large } = await measure(48_000);
    for (const m of [small, large]) {
      console.log(
        `${m.backup.records} records, ${mib(m.backup.rawBytes).toFixed(1)} MiB of JSON: backup + verify peak RSS ${m.backup.peakMiB} MiB (${m.backup.ms} ms), restore peak RSS ${m.restore.peakMiB} MiB (${m.restore.ms} ms)`,
      );
    }
    expect(large.restore.records).toBe(large.backup.records);
    expect(large.backup.rawBytes).toBeGreaterThan(3.9 * small.backup.rawBytes);
    expect(mib(large.backup.rawBytes)).toBeGreaterThan(2 * HEAP_MIB);
    // The data grows by ~47 MiB; the processes' peak memory may not follow it.
    expect(large.backup.peakMiB - small.backup.peakMiB).toBeLessThan(SLACK_MIB);
    expect(large.restore.peakMiB - small.restore.peakMiB).toBeLessThan(SLACK_MIB);
  }, 300_000);
});
