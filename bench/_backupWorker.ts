/**
 * One step of `npm run bench backup` in a fresh process, so its peak RSS is its own. Prints one JSON line.
 *   seed-sqlite <db> <docs>                 documents of ~1 KiB plus docs/50 rollouts with 5 spans each
 *   seed-postgres <url> <schema> <docs>     the same in a PostgreSQL schema
 *   backup-sqlite <db> <dir> <name>         BackupManager.create + verify
 *   restore-sqlite <db> <dir> <name>        BackupManager.restore (replace) into <db> (new or existing)
 *   raw-sqlite <db> <file>                  SQLite's online backup API (better-sqlite3 db.backup)
 *   backup-postgres <url> <schema> <dir> <name> / restore-postgres <url> <schema> <dir> <name>
 *   check-sqlite <db>                       ConsistencyChecker.check over the file
 */
import { rm } from 'node:fs/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createPostgresStore, createSqliteStore, type DocumentStore } from '../src/drivers/index.ts';
import {
  BackupManager,
  ConsistencyChecker,
  postgresSource,
  sqliteRunner,
  sqliteSource,
} from '../src/operations/index.ts';
import { PostgresRolloutStore, type RolloutStore, SqliteRolloutStore } from '../src/rollouts/index.ts';

const [mode, ...args] = process.argv.slice(2) as [string, ...string[]];
const started = performance.now();
const done = (figures: Record<string, unknown>) => {
  const peakMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(
    `${JSON.stringify({ mode, ms: Math.round(performance.now() - started), peakMiB, ...figures })}\n`,
  );
};
const FILLER = 'lorem ipsum dolor sit amet consectetur '.repeat(26);

async function seed(store: DocumentStore, rollouts: RolloutStore, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1000) {
    const ops = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) {
      ops.push({
        type: 'put' as const,
        namespace: `ns${j % 4}`,
        id: `doc-${String(j).padStart(8, '0')}`,
        value: { j, at: new Date(j), text: `${j}:${FILLER}` },
      });
    }
    await store.batch(ops);
  }
  for (let r = 0; r < count / 50; r++) {
    const s = await rollouts.startRollout({ input: { r } });
    await rollouts.addManySpans(
      Array.from({ length: 5 }, (_, k) => ({
        rolloutId: s.rolloutId,
        attemptId: s.attempt.attemptId,
        traceId: `t${r}`,
        spanId: `s${k}`,
        name: `step ${k}`,
        attributes: { text: FILLER },
      })),
    );
  }
}

/** backup-*: create and verify `name`; restore-*: restore it (into the source, which may be empty). */
async function step(manager: BackupManager, name: string): Promise<void> {
  if (mode.startsWith('backup')) {
    await rm(manager.file(name), { force: true });
    const info = await manager.create({ name });
    await manager.verify(name);
    const rawBytes = (await manager.manifest(name)).sections.reduce((n, s) => n + s.rawBytes, 0);
    done({ records: info.records, fileBytes: info.bytes, rawBytes });
  } else {
    const result = await manager.restore(name);
    done({ records: result.sources.reduce((n, s) => n + s.written + s.unchanged, 0) });
  }
}

switch (mode) {
  case 'seed-sqlite': {
    const [db, count] = args as [string, string];
    const store = createSqliteStore({ path: db });
    const rollouts = new SqliteRolloutStore({ path: db });
    await seed(store, rollouts, Number(count));
    await store.close();
    await rollouts.close();
    done({});
    break;
  }
  case 'seed-postgres': {
    const [url, schema, count] = args as [string, string, string];
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    const store = createPostgresStore({ pool, schema });
    const rollouts = new PostgresRolloutStore({ pool, schema });
    await seed(store, rollouts, Number(count));
    await store.close();
    await rollouts.close();
    await pool.end();
    done({});
    break;
  }
  case 'backup-sqlite':
  case 'restore-sqlite': {
    const [db, dir, name] = args as [string, string, string];
    await step(new BackupManager({ dir, sources: [sqliteSource({ path: db })] }), name);
    break;
  }
  case 'raw-sqlite': {
    const [db, file] = args as [string, string];
    await rm(file, { force: true });
    const source = new Database(db, { readonly: true });
    await source.backup(file);
    source.close();
    done({});
    break;
  }
  case 'backup-postgres':
  case 'restore-postgres': {
    const [url, schema, dir, name] = args as [string, string, string, string];
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    await step(new BackupManager({ dir, sources: [postgresSource({ pool, schema })] }), name);
    await pool.end();
    break;
  }
  case 'check-sqlite': {
    const [db] = args as [string];
    const conn = new Database(db);
    const report = await new ConsistencyChecker({
      sql: { runner: sqliteRunner(conn), documentsTable: 'agentstate_documents' },
    }).check();
    conn.close();
    done({ errors: report.errors.length, counts: report.counts });
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}
