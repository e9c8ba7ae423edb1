/**
 * `agentstate backup create|list|verify|restore|delete` and `agentstate check` on the SQLite data and on
 * PostgreSQL, with their JSON output and exit codes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.ts';
import { databasePath } from '../../src/cli/stores.ts';
import {
  createPostgresStore,
  createSqliteStore,
  PostgresRolloutStore,
  SqliteRolloutStore,
} from '../../src/index.ts';
import { documentSnapshot, seedDocuments, seedRollouts } from '../operations/fixtures.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-cli-backup-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t), interactive: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function seededData(): Promise<string> {
  const data = tempDir();
  const path = databasePath(data);
  const docs = createSqliteStore({ path });
  const rollouts = new SqliteRolloutStore({ path });
  await seedDocuments(docs, 10);
  await seedRollouts(rollouts, 3);
  await docs.close();
  await rollouts.close();
  return data;
}

describe('agentstate backup (SQLite)', () => {
  it('creates, lists, verifies, restores and deletes, with exit codes scripts can use', async () => {
    const data = await seededData();
    const created = await run(['backup', 'create', 'nightly', '--data', data, '--json']);
    expect(created.code, created.err).toBe(0);
    const info = JSON.parse(created.out);
    expect(info).toMatchObject({ name: 'nightly', sources: ['sqlite'] });
    expect(info.records).toBeGreaterThan(20);

    const list = await run(['backup', 'list', '--data', data, '--json']);
    expect(JSON.parse(list.out).backups.map((b: { name: string }) => b.name)).toEqual(['nightly']);
    expect((await run(['backup', 'list', '--data', data])).out).toContain('nightly');
    expect((await run(['backup', 'verify', 'nightly', '--data', data])).code).toBe(0);
    expect((await run(['backup', 'verify', 'missing', '--data', data])).code).toBe(3);

    // A flipped byte: verify and restore exit 4 naming the section.
    const bytes = readFileSync(info.file);
    bytes[200] = bytes[200]! ^ 0xff;
    writeFileSync(join(data, 'backups', 'broken.agsb'), bytes);
    const broken = await run(['backup', 'restore', 'broken', '--data', data, '--json']);
    expect(broken.code).toBe(4);
    expect(JSON.parse(broken.err).error).toMatchObject({
      code: 'CORRUPT_STATE',
      details: { backup: 'broken', section: expect.stringMatching(/^sqlite\//) },
    });

    // Merge with a differing document: reported, kept, exit 5; replace restores it.
    const docs = createSqliteStore({ path: databasePath(data) });
    await docs.put('agents', 'a2', { name: 'changed' });
    await docs.close();
    const merged = await run([
      'backup',
      'restore',
      'nightly',
      '--data',
      data,
      '--mode',
      'merge',
      '--only',
      'agents',
    ]);
    expect(merged.code).toBe(5);
    expect(merged.err).toContain('conflict sqlite/agents a2');
    const replaced = await run(['backup', 'restore', 'nightly', '--data', data, '--json']);
    expect(replaced.code, replaced.err).toBe(0);
    const again = createSqliteStore({ path: databasePath(data) });
    expect((await again.get('agents', 'a2'))?.value).toEqual({ name: 'critic' });
    await again.close();

    expect((await run(['backup', 'delete', 'nightly', '--data', data])).code).toBe(0);
    expect((await run(['backup', 'delete', 'nightly', '--data', data])).code).toBe(3);
    expect((await run(['backup', 'restore', '--data', data])).code).toBe(2);
    expect((await run(['backup', 'restore', 'x', '--mode', 'sideways', '--data', data])).code).toBe(3);
  });

  it('keeps the raw page copy as backup create --raw', async () => {
    const data = await seededData();
    const file = join(tempDir(), 'copy.db');
    const raw = await run(['backup', 'create', '--raw', file, '--data', data, '--json']);
    expect(raw.code, raw.err).toBe(0);
    expect(JSON.parse(raw.out).bytes).toBeGreaterThan(0);
    const fresh = tempDir();
    expect((await run(['backup', 'restore', '--raw', file, '--data', fresh, '--json'])).code).toBe(0);
  });
});

describe('agentstate check', () => {
  it('reports findings with exit code 5 and repairs the safe ones', async () => {
    const data = await seededData();
    const clean = await run(['check', '--data', data, '--json']);
    expect(clean.code, clean.out + clean.err).toBe(0);
    expect(JSON.parse(clean.out)).toMatchObject({ errors: [], counts: { rollouts: 5 } });

    const db = new Database(databasePath(data));
    db.prepare('UPDATE agl_span_sequences SET last_sequence_id = 0').run();
    db.close();
    const found = await run(['check', '--data', data, '--require', 'system/config']);
    expect(found.code).toBe(5);
    expect(found.out).toContain('error sequence-counter-behind agl_span_sequences');
    expect(found.out).toContain('error missing-required system/config');
    const dry = await run(['check', '--data', data, '--repair', '--dry-run', '--json']);
    expect(JSON.parse(dry.out).changes.length).toBe(3);
    const repaired = await run(['check', '--data', data, '--repair']);
    expect(repaired.out).toContain('did raise span counter');
    expect(repaired.code).toBe(0);
  });
});

const pgOk = await postgresAvailable();
describe.skipIf(!pgOk)('agentstate backup --postgres', () => {
  it('backs up PostgreSQL and restores a SQLite backup into it', async () => {
    const schema = uniqueName('as_cli_backup');
    try {
      const data = await seededData();
      const dir = join(data, 'backups');
      expect((await run(['backup', 'create', 'lite', '--data', data])).code).toBe(0);
      const pg = ['--postgres', POSTGRES_URL, '--postgres-schema', schema, '--dir', dir];
      const restored = await run(['backup', 'restore', 'lite', ...pg, '--json']);
      expect(restored.code, restored.err).toBe(0);
      const docs = createPostgresStore({ connectionString: POSTGRES_URL, schema });
      const rollouts = new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema });
      expect((await docs.get('agents', 'a2'))?.value).toEqual({ name: 'critic' });
      expect((await rollouts.statistics()).totalRollouts).toBe(5);
      await docs.close();
      await rollouts.close();
      const created = await run(['backup', 'create', 'from-pg', ...pg, '--json']);
      expect(created.code, created.err).toBe(0);
      expect(JSON.parse(created.out).sources).toEqual(['postgres']);
      expect((await run(['check', '--postgres', POSTGRES_URL, '--postgres-schema', schema])).code).toBe(0);
    } finally {
      await dropSchema(schema);
    }
  });
});

describe('agentstate serve --backup-every', () => {
  it('backs up on a schedule while serving and keeps the newest --backup-keep', async () => {
    // Rollouts only: serve loads the 'sessions' namespace as session modules.
    const data = tempDir();
    const rollouts = new SqliteRolloutStore({ path: databasePath(data) });
    await seedRollouts(rollouts, 3);
    await rollouts.close();
    const out: string[] = [];
    const err: string[] = [];
    const controller = new AbortController();
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), interactive: false };
    const args = [
      'serve',
      '--port',
      '0',
      '--data',
      data,
      '--log-level',
      'warn',
      '--backup-every',
      '1s',
      '--backup-keep',
      '2',
    ];
    const done = main(args, io, controller.signal);
    for (let i = 0; i < 400 && err.filter((l) => l.startsWith('backup auto-')).length < 3; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    controller.abort();
    expect(await done, err.join('\n')).toBe(0);
    const made = err.filter((l) => l.startsWith('backup auto-'));
    expect(made.length).toBeGreaterThanOrEqual(3);
    expect(made.some((l) => l.includes('pruned auto-'))).toBe(true);
    const list = await run(['backup', 'list', '--data', data, '--json']);
    expect(JSON.parse(list.out).backups).toHaveLength(2);
  }, 30_000);

  it('with --backup-dir alone, lists that directory and runs consistency checks for admin tokens', async () => {
    const data = tempDir();
    const rollouts = new SqliteRolloutStore({ path: databasePath(data) });
    await seedRollouts(rollouts, 3);
    await rollouts.close();
    const dir = tempDir();
    expect((await run(['backup', 'create', 'first', '--data', data, '--dir', dir])).code).toBe(0);
    const out: string[] = [];
    const controller = new AbortController();
    const io = { out: (t: string) => out.push(t), err: () => {}, interactive: false };
    const token = 'serve-admin-token-123';
    const done = main(
      [
        'serve',
        '--port',
        '0',
        '--data',
        data,
        '--log-level',
        'warn',
        '--backup-dir',
        dir,
        '--token',
        token,
        '--json',
      ],
      io,
      controller.signal,
    );
    try {
      for (let i = 0; i < 400 && out.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      const base = (JSON.parse(out[0]!) as { listening: string }).listening;
      const call = async (path: string, method = 'GET') =>
        (
          await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` } })
        ).json() as Promise<{
          backups?: Array<{ name: string; records: number }>;
          running?: boolean;
          latest?: { report?: { counts: Record<string, number>; errors: unknown[] } } | null;
        }>;
      const listed = await call('/v1/operations/backups');
      expect(listed.backups?.map((b) => b.name)).toEqual(['first']);
      expect(listed.backups?.[0]?.records).toBeGreaterThan(0);
      await call('/v1/operations/consistency/runs', 'POST');
      let state = await call('/v1/operations/consistency');
      for (let i = 0; i < 400 && (state.running || !state.latest); i++) {
        await new Promise((r) => setTimeout(r, 25));
        state = await call('/v1/operations/consistency');
      }
      expect(state.latest?.report?.counts.rollouts).toBeGreaterThanOrEqual(3);
      expect(state.latest?.report?.errors).toEqual([]);
    } finally {
      controller.abort();
      expect(await done).toBe(0);
    }
  }, 30_000);

  it('reads durations and refuses bad ones', async () => {
    const { parseDuration } = await import('../../src/cli/commands/serve.ts');
    expect(parseDuration('1h', 'x')).toBe(3_600_000);
    expect(parseDuration('30m', 'x')).toBe(1_800_000);
    expect(parseDuration('1500', 'x')).toBe(1500);
    expect(() => parseDuration('soon', 'backup-every')).toThrow(/backup-every/);
    const bad = await run(['serve', '--port', '0', '--data', tempDir(), '--backup-keep', '3']);
    expect(bad.code).toBe(2);
  });
});

describe('agentstate backup and check on an encrypted store', () => {
  it('take the key from an environment variable or a key file, never from the command line', async () => {
    const data = tempDir();
    const key = Buffer.alloc(32, 9);
    const storage = {
      compression: 'gzip' as const,
      compressAboveBytes: 0,
      encryption: { keyId: 'k1', keys: { k1: new Uint8Array(key) } },
    };
    const docs = createSqliteStore({ path: databasePath(data), ...storage });
    await seedDocuments(docs, 10);
    const before = await documentSnapshot(docs);
    await docs.close();
    const keyFile = join(data, 'key.hex');
    writeFileSync(keyFile, `${key.toString('hex')}\n`);
    process.env.AGENTSTATE_TEST_KEY = key.toString('base64');
    try {
      // Without the key: the values cannot be read, and the error says so.
      const blind = await run(['backup', 'create', 'b0', '--data', data, '--json']);
      expect(blind.code).not.toBe(0);
      expect(blind.err).toMatch(/decrypt|key|encrypt/i);
      const blindCheck = await run(['check', '--data', data, '--json']);
      expect(blindCheck.code).toBe(5);

      const withEnv = ['--encryption-key-env', 'k1=AGENTSTATE_TEST_KEY'];
      const created = await run(['backup', 'create', 'b1', '--data', data, '--json', ...withEnv]);
      expect(created.code, created.err).toBe(0);
      const checked = await run([
        'check',
        '--data',
        data,
        '--json',
        '--encryption-key-file',
        `k1=${keyFile}`,
      ]);
      expect(checked.code, checked.out).toBe(0);
      expect(JSON.parse(checked.out).errors).toEqual([]);

      // Restore over changed data with the key (and compression) the store is opened with.
      const changed = createSqliteStore({ path: databasePath(data), ...storage });
      await changed.put('agents', 'a1', { replaced: true });
      await changed.close();
      const restored = await run([
        'backup',
        'restore',
        'b1',
        '--data',
        data,
        '--json',
        '--compression',
        'gzip',
        '--encryption-key-file',
        `k1=${keyFile}`,
      ]);
      expect(restored.code, restored.err).toBe(0);
      const reopened = createSqliteStore({ path: databasePath(data), ...storage });
      expect(await documentSnapshot(reopened)).toEqual(before);
      await reopened.close();

      // A literal key is not an option; a missing variable, a short key or an unknown key id are usage errors.
      const literal = await run([
        'backup',
        'create',
        'b2',
        '--data',
        data,
        '--encryption-key',
        key.toString('hex'),
      ]);
      expect(literal.code).toBe(2);
      const unset = await run(['check', '--data', data, '--encryption-key-env', 'AGENTSTATE_TEST_UNSET_KEY']);
      expect([unset.code, unset.err]).toEqual([
        2,
        expect.stringMatching(/AGENTSTATE_TEST_UNSET_KEY is not set/),
      ]);
      writeFileSync(keyFile, 'abcd');
      const short = await run(['check', '--data', data, '--encryption-key-file', keyFile]);
      expect([short.code, short.err]).toEqual([2, expect.stringMatching(/32 bytes/)]);
      const wrongId = await run(['check', '--data', data, ...withEnv, '--encryption-key-id', 'k9']);
      expect(wrongId.code).toBe(2);
    } finally {
      delete process.env.AGENTSTATE_TEST_KEY;
    }
  });
});
