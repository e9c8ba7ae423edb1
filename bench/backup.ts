/**
 * `npm run bench backup`: BackupManager against the engines' own tools on the same data in the same run:
 * SQLite's online backup API (page copy) and `pg_dump --format=custom` / `pg_restore`. Throughput is
 * the logical data (the backup's uncompressed JSON, the same numerator for every tool) per second, and
 * documents+rows per second; peak RSS is each step's own process. Also `check()` over the SQLite store.
 *
 * Sizes are scaled down from 1 GB / 200 MB to keep a pass within seconds on a shared 2-core machine
 * (BENCH_BACKUP_DOCS and BENCH_BACKUP_PG_DOCS override them). Passes are interleaved; ratios are the
 * median of per-pass ratios.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { type BenchRow, percentile, report, round } from './_report.ts';

const run = promisify(execFile);
const WORKER = new URL('./_backupWorker.ts', import.meta.url).pathname;
const DOCS = Number(process.env.BENCH_BACKUP_DOCS ?? 60_000);
const PG_DOCS = Number(process.env.BENCH_BACKUP_PG_DOCS ?? 20_000);
const PASSES = 3;
const PG_URL = process.env.AGENTSTATE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

type Step = { ms: number; peakMiB: number; records?: number; rawBytes?: number; fileBytes?: number };

async function worker(...args: string[]): Promise<Step> {
  // A step that hangs fails the run (with its arguments) instead of stalling it.
  const { stdout } = await run(process.execPath, [WORKER, ...args], { maxBuffer: 1 << 20, timeout: 180_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Step;
}

/** Runs a command; its time and peak RSS (from getrusage of children, through python). */
async function external(command: string[]): Promise<Step> {
  const started = performance.now();
  const { stdout } = await run('python3', [
    '-c',
    'import resource,subprocess,sys; subprocess.run(sys.argv[1:], check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)',
    ...command,
  ]);
  return { ms: Math.round(performance.now() - started), peakMiB: Math.round(Number(stdout.trim()) / 1024) };
}

const median = (values: number[]) => percentile(values, 50);

/** A table row: best pass's throughput over the backup's data, worst peak RSS, median ratio to the peer. */
function line(
  rows: BenchRow[],
  store: string,
  step: string,
  backups: Step[],
  steps: Step[],
  peer?: Step[],
): void {
  const mb = backups[0]!.rawBytes! / 1e6;
  const records = backups[0]!.records!;
  const best = steps.reduce((a, b) => (a.ms <= b.ms ? a : b));
  const row: BenchRow = {
    store: `${store}, ${records} docs+rows, ${round(mb)} MB JSON`,
    step,
    'MB/s': round(mb / (best.ms / 1000), 1),
    'docs/s': round(records / (best.ms / 1000)),
    'peak RSS MiB': Math.max(...steps.map((s) => s.peakMiB)),
  };
  if (peer)
    row['time vs peer (median of passes)'] = round(median(steps.map((s, i) => s.ms / peer[i]!.ms)), 2);
  rows.push(row);
}

export default async function bench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'agentstate-bench-backup-'));
  const rows: BenchRow[] = [];
  try {
    // SQLite.
    const db = join(dir, 'a.db');
    await worker('seed-sqlite', db, String(DOCS));
    const dbBytes = (await stat(db)).size;
    const sqlite = { ours: [] as Step[], raw: [] as Step[], restore: [] as Step[], check: [] as Step[] };
    for (let p = 0; p < PASSES; p++) {
      sqlite.ours.push(await worker('backup-sqlite', db, join(dir, 'b'), 'bench'));
      sqlite.raw.push(await worker('raw-sqlite', db, join(dir, 'raw.db')));
      // Into a new file each pass, as the page copy is: the same work for both.
      sqlite.restore.push(
        await worker('restore-sqlite', join(dir, `restored-${p}.db`), join(dir, 'b'), 'bench'),
      );
      sqlite.check.push(await worker('check-sqlite', db));
    }
    const sqliteLabel = `SQLite ${round(dbBytes / 1e6)} MB file`;
    line(rows, sqliteLabel, 'agentstate backup create + verify', sqlite.ours, sqlite.ours, sqlite.raw);
    rows.at(-1)!.note =
      `backup file ${round(sqlite.ours[0]!.fileBytes! / 1e6, 1)} MB (gzip) vs ${round(dbBytes / 1e6)} MB page copy`;
    line(rows, sqliteLabel, 'SQLite online backup API (peer)', sqlite.ours, sqlite.raw);
    line(rows, sqliteLabel, 'agentstate restore into a new file', sqlite.ours, sqlite.restore, sqlite.raw);
    line(rows, sqliteLabel, 'ConsistencyChecker.check()', sqlite.ours, sqlite.check);

    // PostgreSQL.
    const schema = `bench_backup_${process.pid}`;
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    try {
      await worker('seed-postgres', PG_URL, schema, String(PG_DOCS));
      const pgSteps = {
        ours: [] as Step[],
        dump: [] as Step[],
        restore: [] as Step[],
        pgRestore: [] as Step[],
      };
      const dump = join(dir, 'pg.dump');
      for (let p = 0; p < PASSES; p++) {
        pgSteps.ours.push(await worker('backup-postgres', PG_URL, schema, join(dir, 'pgb'), 'bench'));
        pgSteps.dump.push(
          await external(['pg_dump', '--format=custom', `--schema=${schema}`, '-f', dump, PG_URL]),
        );
        // Into an empty schema, as pg_restore --clean drops and recreates everything.
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}_r" CASCADE`);
        pgSteps.restore.push(
          await worker('restore-postgres', PG_URL, `${schema}_r`, join(dir, 'pgb'), 'bench'),
        );
        pgSteps.pgRestore.push(
          await external([
            'pg_restore',
            '--clean',
            '--if-exists',
            '--single-transaction',
            '-d',
            PG_URL,
            dump,
          ]),
        );
      }
      const label = 'PostgreSQL';
      line(rows, label, 'agentstate backup create + verify', pgSteps.ours, pgSteps.ours, pgSteps.dump);
      rows.at(-1)!.note =
        `backup file ${round(pgSteps.ours[0]!.fileBytes! / 1e6, 1)} MB vs dump ${round((await stat(dump)).size / 1e6, 1)} MB`;
      line(rows, label, 'pg_dump --format=custom (peer)', pgSteps.ours, pgSteps.dump);
      line(
        rows,
        label,
        'agentstate restore into an empty schema',
        pgSteps.ours,
        pgSteps.restore,
        pgSteps.pgRestore,
      );
      line(rows, label, 'pg_restore --clean --single-transaction (peer)', pgSteps.ours, pgSteps.pgRestore);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}_r" CASCADE`);
      await pool.end();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await report('backup', rows, { docs: DOCS, pgDocs: PG_DOCS, passes: PASSES });
}
