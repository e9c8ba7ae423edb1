/**
 * The portable format: a backup of the SQLite file restores into PostgreSQL, a backup of that restores into
 * a new SQLite file, and every document, rollout, attempt, span, resource and worker is equal at each step.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackupManager,
  ConsistencyChecker,
  createPostgresStore,
  createSqliteStore,
  PostgresRolloutStore,
  postgresSource,
  SqliteRolloutStore,
  sqliteRunner,
  sqliteSource,
} from '../../src/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';
import { documentSnapshot, rolloutSnapshot, seedDocuments, seedRollouts } from './fixtures.ts';

const pgOk = await postgresAvailable();

describe.skipIf(!pgOk)('backup round trip SQLite -> PostgreSQL -> SQLite', () => {
  let dir: string;
  let pool: pg.Pool;
  const schema = uniqueName('as_backup');
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-roundtrip-'));
    pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
  });
  afterAll(async () => {
    await pool.end();
    await dropSchema(schema);
    await rm(dir, { recursive: true, force: true });
  });

  async function sqliteSnapshots(path: string) {
    const docs = createSqliteStore({ path });
    const rollouts = new SqliteRolloutStore({ path });
    try {
      return { documents: await documentSnapshot(docs), rollouts: await rolloutSnapshot(rollouts) };
    } finally {
      await docs.close();
      await rollouts.close();
    }
  }

  it('keeps every document and rollout/attempt/span equal', async () => {
    const first = join(dir, 'first.db');
    const docs = createSqliteStore({ path: first });
    const rollouts = new SqliteRolloutStore({ path: first });
    await seedDocuments(docs);
    await seedRollouts(rollouts);
    await docs.close();
    await rollouts.close();
    const original = await sqliteSnapshots(first);
    expect(Object.keys(original.documents).length).toBe(33);
    expect((original.rollouts.rollouts as unknown[]).length).toBe(8);

    const fromSqlite = new BackupManager({
      dir: join(dir, 'backups'),
      sources: [sqliteSource({ path: first })],
    });
    const created = await fromSqlite.create({ name: 'from-sqlite' });
    expect(created.sections.find((s) => s.name === 'sqlite/agl_spans')?.count).toBe(18);

    const target = postgresSource({ pool, schema });
    await fromSqlite.restore('from-sqlite', { target: [target] });
    const pgDocs = createPostgresStore({ pool, schema });
    const pgRollouts = new PostgresRolloutStore({ pool, schema });
    expect(await documentSnapshot(pgDocs)).toEqual(original.documents);
    expect(await rolloutSnapshot(pgRollouts)).toEqual(original.rollouts);

    const fromPostgres = new BackupManager({ dir: join(dir, 'backups'), sources: [target] });
    await fromPostgres.create({ name: 'from-postgres' });
    const second = join(dir, 'second.db');
    await fromPostgres.restore('from-postgres', { target: [sqliteSource({ path: second })] });
    expect(await sqliteSnapshots(second)).toEqual(original);

    // The queue order and the span counters came back too: the next dequeue and sequence id match.
    const again = new SqliteRolloutStore({ path: second });
    const next = await again.dequeueRollout();
    const nextPg = await pgRollouts.dequeueRollout();
    expect(next?.input).toBe('queued-1');
    expect(nextPg?.input).toBe('queued-1');
    const some = (original.rollouts.rollouts as Array<{ rolloutId: string }>)[0]!.rolloutId;
    expect(await again.getNextSpanSequenceId(some, 'a')).toBe(
      await pgRollouts.getNextSpanSequenceId(some, 'a'),
    );
    await again.close();
    await pgDocs.close();
    await pgRollouts.close();
  });
});

describe('backup of a compressed, encrypted SQLite store', () => {
  it('reads with the store options, restores into another file with them, and the checker reads it too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentstate-encrypted-'));
    const storage = {
      compression: 'gzip' as const,
      compressAboveBytes: 0,
      encryption: { keyId: 'k1', keys: { k1: new Uint8Array(32).fill(7) } },
    };
    const first = join(dir, 'first.db');
    const docs = createSqliteStore({ path: first, ...storage });
    await seedDocuments(docs);
    const original = await documentSnapshot(docs);
    await docs.close();
    const manager = new BackupManager({
      dir: join(dir, 'b'),
      sources: [sqliteSource({ path: first, storage })],
    });
    await manager.create({ name: 'enc' });
    const second = join(dir, 'second.db');
    await manager.restore('enc', { target: [sqliteSource({ path: second, storage })] });
    const reopened = createSqliteStore({ path: second, ...storage });
    expect(await documentSnapshot(reopened)).toEqual(original);
    await reopened.close();
    // Stored encrypted: without the keys the checker says so per document instead of failing.
    const db = new Database(second);
    const blind = await new ConsistencyChecker({
      sql: { runner: sqliteRunner(db), documentsTable: 'agentstate_documents' },
    }).check();
    expect(blind.errors.length).toBe(Object.keys(original).length);
    expect(new Set(blind.errors.map((f) => f.kind))).toEqual(new Set(['corrupt-value']));
    const keyed = await new ConsistencyChecker({
      sql: { runner: sqliteRunner(db), documentsTable: 'agentstate_documents' },
      encryption: storage.encryption,
    }).check();
    expect(keyed.errors).toEqual([]);
    db.close();
    await rm(dir, { recursive: true, force: true });
  });
});
