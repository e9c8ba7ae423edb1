/**
 * The portable format: a backup of the SQLite file restores into PostgreSQL, a backup of that restores into
 * a new SQLite file, and every document, rollout, attempt, span, resource and worker is equal at each step.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackupManager,
  createPostgresStore,
  createSqliteStore,
  PostgresRolloutStore,
  postgresSource,
  SqliteRolloutStore,
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
