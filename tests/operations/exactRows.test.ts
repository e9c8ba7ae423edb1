/**
 * SQL targets restore documents as exact rows: revision, createdAt, updatedAt, expiresAt and metadata are
 * the backup's, on SQLite and on PostgreSQL (a SQLite backup restored into both).
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
  type DocumentStore,
  postgresSource,
  sqliteSource,
} from '../../src/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';
import { SEEDED_NAMESPACES, seedDocuments } from './fixtures.ts';

const pgOk = await postgresAvailable();
if (!pgOk)
  console.warn(
    'PostgreSQL not reachable: the PostgreSQL target of tests/operations/exactRows.test.ts is skipped',
  );

/** Every stored field of every document, storage aside. */
async function rows(store: DocumentStore): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const ns of SEEDED_NAMESPACES) {
    const page = await store.list(ns, { limit: 1000 });
    for (const d of page.items) {
      const { storage: _storage, ...rest } = d;
      out.push(rest);
    }
  }
  return out;
}

describe('restore into SQL targets keeps rows exactly', () => {
  let dir: string;
  let source: string;
  let original: unknown[];
  let manager: BackupManager;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-exact-'));
    source = join(dir, 'source.db');
    let t = Date.now() - 600_000;
    // A clock that moves, so createdAt and updatedAt differ, and revisions above 1.
    const store = createSqliteStore({ path: source, now: () => (t += 1000) });
    await seedDocuments(store);
    await store.put('sessions', 's0001', { edited: true }, { metadata: { by: 'x' } });
    original = await rows(store);
    await store.close();
    manager = new BackupManager({ dir: join(dir, 'b'), sources: [sqliteSource({ path: source })] });
    await manager.create({ name: 'exact' });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("on SQLite: revisions and times are the backup's, also over an existing store", async () => {
    const target = join(dir, 'target.db');
    const existing = createSqliteStore({ path: target });
    await existing.put('agents', 'a1', { other: 1 });
    await existing.put('agents', 'a1', { other: 2 });
    await existing.put('agents', 'a1', { other: 3 });
    await existing.close();
    await manager.restore('exact', { target: [sqliteSource({ path: target })] });
    const restored = createSqliteStore({ path: target });
    const got = await rows(restored);
    expect(got).toEqual(original);
    expect((got as Array<{ revision: number }>).some((d) => d.revision > 1)).toBe(true);
    // The store goes on from the restored revision.
    const next = await restored.put('agents', 'a1', { after: true });
    expect(next.revision).toBe(
      (original.find((d) => (d as { id: string }).id === 'a1') as { revision: number }).revision + 1,
    );
    await restored.close();
  });

  it.skipIf(!pgOk)("on PostgreSQL: revisions and times are the backup's", async () => {
    const schema = uniqueName('as_exact');
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    try {
      await manager.restore('exact', { target: [postgresSource({ pool, schema })] });
      const restored = createPostgresStore({ pool, schema });
      expect(await rows(restored)).toEqual(original);
      await restored.close();
    } finally {
      await pool.end();
      await dropSchema(schema);
    }
  });
});
