/**
 * `npm run bench backup`: BackupManager against the engines' own tools on the same data in the same run:
 * SQLite's online backup API (page copy) and `pg_dump --format=custom` / `pg_restore`. Throughput is
 * the logical data (the backup's uncompressed JSON, the same numerator for every tool) per second, and
 * documents+rows per second; peak RSS is each step's own process. Also `check()` over the SQLite store.
 *
 * Sizes: by default ~100 MB of SQLite and ~33 MB of PostgreSQL, so a run takes minutes on a shared 2-core
 * machine. `BENCH_BACKUP_SIZE=full` runs the sizes of the acceptance figures: a 1 GB SQLite file
 * (620,000 documents) and a 200 MB PostgreSQL schema (120,000 documents). BENCH_BACKUP_DOCS and
 * BENCH_BACKUP_PG_DOCS set the document counts directly; BENCH_BACKUP_PASSES the passes (default 3).
 * Passes are interleaved; ratios are the median of per-pass ratios. Each step's time is printed as it
 * ends, so a slow step shows which one it is.
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
const FULL = process.env.BENCH_BACKUP_SIZE === 'full';
const DOCS = Number(process.env.BENCH_BACKUP_DOCS ?? (FULL ? 620_000 : 60_000));
const PG_DOCS = Number(process.env.BENCH_BACKUP_PG_DOCS ?? (FULL ? 120_000 : 20_000));
const PASSES = Number(process.env.BENCH_BACKUP_PASSES ?? 3);
const PG_URL = process.env.AGENTSTATE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
/** A step that runs longer than this fails the run (with its arguments) instead of stalling it. */
const STEP_TIMEOUT_MS = Math.max(180_000, Math.max(DOCS, PG_DOCS * 4) * 2);

type Step = {
  ms: number;
  peakMiB: number;
  records?: number;
  rawBytes?: number;
  fileBytes?: number;
  storeBytes?: number;
};

const elapsed = (started: number) => `${round((performance.now() - started) / 1000, 1)} s`;

async function worker(...args: string[]): Promise<Step> {
  const started = performance.now();
  const { stdout } = await run(process.execPath, [WORKER, ...args], {
    maxBuffer: 1 << 20,
    timeout: STEP_TIMEOUT_MS,
  });
  const step = JSON.parse(stdout.trim().split('\n').at(-1)!) as Step;
  console.log(
    `  ${args[0]}: ${elapsed(started)} (in process ${round(step.ms / 1000, 1)} s), peak RSS ${step.peakMiB} MiB`,
  );
  return step;
}

/** Runs a command; its time and peak RSS (from getrusage of children, through python). */
async function external(command: string[]): Promise<Step> {
  const started = performance.now();
  const { stdout } = await run(
    'python3',
    [
      '-c',
      'import resource,subprocess,sys; subprocess.run(sys.argv[1:], check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)',
      ...command,
    ],
    { timeout: STEP_TIMEOUT_MS },
  );
  const step = {
    ms: Math.round(performance.now() - started),
    peakMiB: Math.round(Number(stdout.trim()) / 1024),
  };
  console.log(`  ${command[0]}: ${elapsed(started)}, peak RSS ${step.peakMiB} MiB`);
  return step;
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
    console.log(`SQLite: ${DOCS} documents, ${round(dbBytes / 1e6)} MB file`);
    const sqlite = { ours: [] as Step[], raw: [] as Step[], restore: [] as Step[], check: [] as Step[] };
    for (let p = 0; p < PASSES; p++) {
      // A, B on even passes and B, A on odd ones, so a drift in the machine's load cancels out.
      const ours = () => worker('backup-sqlite', db, join(dir, 'b'), 'bench');
      const raw = () => worker('raw-sqlite', db, join(dir, 'raw.db'));
      if (p % 2 === 0) {
        sqlite.ours.push(await ours());
        sqlite.raw.push(await raw());
      } else {
        sqlite.raw.push(await raw());
        sqlite.ours.push(await ours());
      }
      // Into a new file each pass, as the page copy is: the same work for both.
      const restored = join(dir, `restored-${p}.db`);
      sqlite.restore.push(await worker('restore-sqlite', restored, join(dir, 'b'), 'bench'));
      await rm(restored);
      sqlite.check.push(await worker('check-sqlite', db));
    }
    await rm(join(dir, 'raw.db'));
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
      const seeded = await worker('seed-postgres', PG_URL, schema, String(PG_DOCS));
      console.log(`PostgreSQL: ${PG_DOCS} documents, ${round(seeded.storeBytes! / 1e6)} MB in the schema`);
      const pgSteps = {
        ours: [] as Step[],
        dump: [] as Step[],
        restore: [] as Step[],
        pgRestore: [] as Step[],
      };
      const dump = join(dir, 'pg.dump');
      for (let p = 0; p < PASSES; p++) {
        const ours = () => worker('backup-postgres', PG_URL, schema, join(dir, 'pgb'), 'bench');
        const pgDump = () =>
          external(['pg_dump', '--format=custom', `--schema=${schema}`, '-f', dump, PG_URL]);
        if (p % 2 === 0) {
          pgSteps.ours.push(await ours());
          pgSteps.dump.push(await pgDump());
        } else {
          pgSteps.dump.push(await pgDump());
          pgSteps.ours.push(await ours());
        }
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
      const label = `PostgreSQL ${round(seeded.storeBytes! / 1e6)} MB schema`;
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
