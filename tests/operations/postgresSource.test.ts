/**
 * The PostgreSQL source on its own: a restore is one transaction over documents and every rollout table
 * (a failure in the last rollout table leaves the documents as they were), streamed through bounded
 * multi-row INSERTs (more documents than one INSERT holds); a backup is one snapshot.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackupManager,
  createPostgresStore,
  type DocumentStore,
  PostgresRolloutStore,
  postgresSource,
} from '../../src/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';
import { documentSnapshot, rolloutSnapshot, seedDocuments, seedRollouts } from './fixtures.ts';

const pgOk = await postgresAvailable();
if (!pgOk) console.warn('PostgreSQL not reachable: skipping tests/operations/postgresSource.test.ts');

describe.skipIf(!pgOk)('postgresSource', () => {
  let dir: string;
  let pool: pg.Pool;
  const schemas: string[] = [];
  const schemaName = () => {
    const s = uniqueName('as_pgsrc');
    schemas.push(s);
    return s;
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-pgsource-'));
    pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
  });
  afterAll(async () => {
    await pool.end();
    for (const s of schemas) await dropSchema(s);
    await rm(dir, { recursive: true, force: true });
  });

  async function seeded(schema: string, sessions = 30) {
    const docs = createPostgresStore({ pool, schema });
    const rollouts = new PostgresRolloutStore({ pool, schema });
    await seedDocuments(docs, sessions);
    await seedRollouts(rollouts);
    return { docs, rollouts };
  }

  it('restores documents and every rollout table in one transaction: a failure in the last table changes nothing', async () => {
    const from = schemaName();
    const to = schemaName();
    const source = await seeded(from);
    const manager = new BackupManager({
      dir: join(dir, 'one-tx'),
      sources: [postgresSource({ pool, schema: from })],
    });
    await manager.create({ name: 'b' });
    const target = await seeded(to, 3);
    await target.docs.put('agents', 'only-in-target', { kept: true });
    const docsBefore = await documentSnapshot(target.docs);
    const rolloutsBefore = await rolloutSnapshot(target.rollouts);
    // A fault in the last rollout table written (after every document and the other tables).
    await pool.query(`CREATE FUNCTION "${to}".fail() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected failure'; END $$`);
    await pool.query(
      `CREATE TRIGGER fail BEFORE INSERT ON "${to}".agl_idempotency FOR EACH ROW EXECUTE FUNCTION "${to}".fail()`,
    );
    await pool.query(
      `INSERT INTO "${from}".agl_idempotency (key, operation, result, created_at) VALUES ('k', 'op', '{}', 1)`,
    );
    await manager.create({ name: 'with-idem' });
    await expect(
      manager.restore('with-idem', { target: [postgresSource({ pool, schema: to })] }),
    ).rejects.toThrow(/injected failure/);
    expect(await documentSnapshot(target.docs)).toEqual(docsBefore);
    expect(await rolloutSnapshot(target.rollouts)).toEqual(rolloutsBefore);
    await pool.query(`DROP TRIGGER fail ON "${to}".agl_idempotency`);
    await manager.restore('with-idem', { target: [postgresSource({ pool, schema: to })] });
    expect(await documentSnapshot(target.docs)).toEqual(await documentSnapshot(source.docs));
    expect(await rolloutSnapshot(target.rollouts)).toEqual(await rolloutSnapshot(source.rollouts));
    for (const s of [source, target]) {
      await s.docs.close();
      await s.rollouts.close();
    }
  });

  it('streams more documents than one INSERT holds, of every size, and keeps them all', async () => {
    const from = schemaName();
    const to = schemaName();
    const docs: DocumentStore = createPostgresStore({ pool, schema: from });
    // 1,300 documents (three INSERT batches of 500) and a few large ones (the byte cap).
    const ops = Array.from({ length: 1300 }, (_, i) => ({
      type: 'put' as const,
      namespace: 'bulk',
      id: `d${String(i).padStart(5, '0')}`,
      value: { i, text: i % 400 === 0 ? 'y'.repeat(3_000_000) : 'x'.repeat(i % 100) },
    }));
    for (let i = 0; i < ops.length; i += 100) await docs.batch(ops.slice(i, i + 100));
    const manager = new BackupManager({
      dir: join(dir, 'bulk'),
      sources: [postgresSource({ pool, schema: from })],
    });
    await manager.create({ name: 'bulk' });
    await manager.restore('bulk', { target: [postgresSource({ pool, schema: to })] });
    const restored = createPostgresStore({ pool, schema: to });
    expect(await documentSnapshot(restored, ['bulk'])).toEqual(await documentSnapshot(docs, ['bulk']));
    await docs.close();
    await restored.close();
  });

  it('reads a backup from one snapshot: writes after the read began, to documents or rollouts, are not in it', async () => {
    const schema = schemaName();
    const { docs, rollouts } = await seeded(schema);
    const session = await postgresSource({ pool, schema }).openRead();
    const sections = await session.sections();
    // Another connection writes after the snapshot was taken, between reading sections.
    const collect = async (collection: string) => {
      const out: unknown[] = [];
      for await (const r of session.records(sections.find((x) => x.collection === collection)!)) out.push(r);
      return out;
    };
    const agentsBefore = await collect('agents');
    await docs.put('sessions', 'zz-late', { late: true });
    await docs.delete('agents', 'a2');
    await rollouts.startRollout({ input: 'late' });
    const sessions = (await collect('sessions')) as Array<{
      id: string;
      revision: number;
      createdAt: number;
    }>;
    const agentsAgain = await collect('agents');
    const rolloutRows = (await collect('agl_rollouts')) as Array<{ input: string }>;
    await session.close();
    expect(sessions.map((d) => d.id)).not.toContain('zz-late');
    expect(agentsAgain).toEqual(agentsBefore);
    expect(rolloutRows.map((r) => r.input)).not.toContain('"late"');
    expect(rolloutRows.length).toBe(((await rolloutSnapshot(rollouts)).rollouts as unknown[]).length - 1);
    // Records carry the stored revision and times.
    const stored = await docs.get('sessions', sessions[0]!.id);
    expect(sessions[0]).toMatchObject({ revision: stored!.revision, createdAt: stored!.createdAt });
    await docs.close();
    await rollouts.close();
  });
});
