/**
 * One step of `npm run bench backup` in a fresh process, so its peak RSS is its own. Prints one JSON line.
 *   seed-sqlite <db> <docs>                 documents of ~1 KiB plus docs/50 rollouts with 5 spans each
 *   seed-postgres <url> <schema> <docs>     the same in a PostgreSQL schema
 *   backup-sqlite <db> <dir> <name> [only]  BackupManager.create (of the sections in `only`, a comma list) + verify
 *   restore-sqlite <db> <dir> <name>        BackupManager.restore (replace) into <db> (new or existing)
 *   raw-sqlite <db> <file>                  SQLite's online backup API (better-sqlite3 db.backup)
 *   backup-postgres <url> <schema> <dir> <name> / restore-postgres <url> <schema> <dir> <name>
 *   check-sqlite <db>                       ConsistencyChecker.check over the file
 *   seed-check <db> <docs> <rollouts>       documents and finished rollouts (1 attempt, 1 span each) by
 *                                           direct multi-row INSERTs: millions of rows in seconds
 *   quick-check <db>                        SQLite's PRAGMA quick_check (a full read of the file)
 */
import { rm } from 'node:fs/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createPostgresStore, createSqliteStore } from '../src/drivers/index.ts';
import {
  BackupManager,
  ConsistencyChecker,
  postgresRunner,
  postgresSource,
  sqliteRunner,
  sqliteSource,
} from '../src/operations/index.ts';
import { PostgresRolloutStore, type RolloutStore, SqliteRolloutStore } from '../src/rollouts/index.ts';
import { idKey } from '../src/shared/idKey.ts';
import { insertDocuments, type SeedDocument } from './_seedDocuments.ts';

const [mode, ...args] = process.argv.slice(2) as [string, ...string[]];
const started = performance.now();
const done = (figures: Record<string, unknown>) => {
  const peakMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(
    `${JSON.stringify({ mode, ms: Math.round(performance.now() - started), peakMiB, ...figures })}\n`,
  );
};
const FILLER = 'lorem ipsum dolor sit amet consectetur '.repeat(26);

/** Documents per seeding transaction: bounded WAL (SQLite) and transaction size. */
const SEED_CHUNK = 20_000;

/** Benchmark documents `from`..`to - 1`: ~1 KiB, with a Date so the codec's tagged form is exercised. */
function* benchDocuments(from: number, to: number): Iterable<SeedDocument> {
  for (let j = from; j < to; j++) {
    const value = { j, at: new Date(j), text: `${j}:${FILLER}` };
    yield { namespace: `ns${j % 4}`, id: `doc-${String(j).padStart(8, '0')}`, value };
  }
}

/**
 * `count` documents as the driver stores them (direct multi-row INSERTs, see ./_seedDocuments.ts), then
 * count/50 rollouts with 5 spans each through the rollout store's API.
 */
async function seed(
  documents: (from: number, to: number) => Promise<void>,
  rollouts: RolloutStore,
  count: number,
): Promise<void> {
  for (let i = 0; i < count; i += SEED_CHUNK) await documents(i, Math.min(count, i + SEED_CHUNK));
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
async function step(manager: BackupManager, name: string, only?: string): Promise<void> {
  if (mode.startsWith('backup')) {
    await rm(manager.file(name), { force: true });
    const info = await manager.create({ name, ...(only ? { only: only.split(',') } : {}) });
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
    await createSqliteStore({ path: db }).close();
    const rollouts = new SqliteRolloutStore({ path: db });
    const conn = new Database(db);
    await seed(
      async (from, to) => {
        conn.exec('BEGIN');
        await insertDocuments(sqliteRunner(conn), 'sqlite', 'agentstate_documents', benchDocuments(from, to));
        conn.exec('COMMIT');
      },
      rollouts,
      Number(count),
    );
    conn.pragma('wal_checkpoint(TRUNCATE)');
    conn.close();
    await rollouts.close();
    done({});
    break;
  }
  case 'seed-postgres': {
    const [url, schema, count] = args as [string, string, string];
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    const store = createPostgresStore({ pool, schema });
    // Creates the schema and the documents table.
    await store.delete('ns0', 'none');
    const rollouts = new PostgresRolloutStore({ pool, schema });
    await seed(
      async (from, to) => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await insertDocuments(
            postgresRunner(client, schema),
            'postgres',
            'documents',
            benchDocuments(from, to),
          );
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      },
      rollouts,
      Number(count),
    );
    await store.close();
    await rollouts.close();
    const [size] = (
      await pool.query(
        `SELECT SUM(pg_total_relation_size(c.oid))::bigint AS bytes FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
        [schema],
      )
    ).rows as Array<{ bytes: string }>;
    await pool.end();
    done({ storeBytes: Number(size?.bytes ?? 0) });
    break;
  }
  case 'backup-sqlite':
  case 'restore-sqlite': {
    const [db, dir, name, only] = args as [string, string, string, string | undefined];
    await step(new BackupManager({ dir, sources: [sqliteSource({ path: db })] }), name, only);
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
  case 'seed-check': {
    const [db, docs, rolloutCount] = args as [string, string, string];
    await createSqliteStore({ path: db }).close();
    await new SqliteRolloutStore({ path: db }).close();
    const conn = new Database(db);
    conn.pragma('synchronous = OFF');
    // Bounded multi-row INSERTs (ROWS rows each) inside one transaction per table.
    const ROWS = 500;
    const insertMany = (table: string, columns: string[], count: number, row: (i: number) => unknown[]) => {
      const one = `(${columns.map(() => '?').join(', ')})`;
      const full = conn.prepare(
        `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: ROWS }, () => one).join(', ')}`,
      );
      conn.transaction(() => {
        for (let i = 0; i < count; i += ROWS) {
          const n = Math.min(ROWS, count - i);
          const params = Array.from({ length: n }, (_, k) => row(i + k)).flat();
          if (n === ROWS) full.run(...params);
          else
            conn
              .prepare(
                `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: n }, () => one).join(', ')}`,
              )
              .run(...params);
        }
      })();
    };
    const t = Date.now();
    insertMany(
      'agentstate_documents',
      ['namespace', 'id_key', 'id', 'value', 'revision', 'created_at', 'updated_at'],
      Number(docs),
      (i) => {
        const id = `doc-${String(i).padStart(8, '0')}`;
        return [`ns${i % 4}`, idKey(id), id, JSON.stringify({ i, text: FILLER.slice(0, 120) }), 1, t, t];
      },
    );
    const rid = (i: number) => `ro-${String(i).padStart(8, '0')}`;
    const s = t / 1000;
    insertMany(
      'agl_rollouts',
      ['rollout_id', 'input', 'start_time', 'end_time', 'status', 'config', 'latest_attempt_id'],
      Number(rolloutCount),
      (i) => [rid(i), JSON.stringify({ i }), s, s + 1, 'succeeded', '{}', `at-${i}`],
    );
    insertMany(
      'agl_attempts',
      ['rollout_id', 'attempt_id', 'sequence_id', 'start_time', 'end_time', 'status'],
      Number(rolloutCount),
      (i) => [rid(i), `at-${i}`, 1, s, s + 1, 'succeeded'],
    );
    insertMany(
      'agl_spans',
      ['rollout_id', 'attempt_id', 'span_id', 'sequence_id', 'trace_id', 'name', 'body'],
      Number(rolloutCount),
      (i) => [
        rid(i),
        `at-${i}`,
        'sp',
        1,
        `t${i}`,
        'step',
        JSON.stringify({ rolloutId: rid(i), name: 'step' }),
      ],
    );
    insertMany('agl_span_sequences', ['rollout_id', 'last_sequence_id'], Number(rolloutCount), (i) => [
      rid(i),
      1,
    ]);
    conn.pragma('wal_checkpoint(TRUNCATE)');
    conn.close();
    done({});
    break;
  }
  case 'quick-check': {
    const [db] = args as [string];
    const conn = new Database(db, { readonly: true });
    const result = conn.pragma('quick_check', { simple: true });
    conn.close();
    done({ result });
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}
