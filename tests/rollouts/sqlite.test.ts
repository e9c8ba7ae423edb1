// Behaviour only the SQLite backend has: files, schema versions, durability across close.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { CorruptStateError, SqliteRolloutStore } from '../../src/index.ts';
import { tempDir } from './backends.ts';

describe('SqliteRolloutStore', () => {
  const temp = tempDir('agentstate-rollouts-sqlite-');
  afterAll(() => temp.remove());

  it('creates missing directories, uses WAL, and keeps data after close', async () => {
    const path = join(temp.dir, 'nested', 'dir', 'r.sqlite');
    const store = new SqliteRolloutStore({ path, healthCheckIntervalMs: 0 });
    const r = await store.startRollout({ input: { a: 1 } });
    await store.addSpan({
      rolloutId: r.rolloutId,
      attemptId: r.attempt.attemptId,
      traceId: 't',
      spanId: 's',
      name: 'n',
    });
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const again = new SqliteRolloutStore({ path, healthCheckIntervalMs: 0 });
    expect((await again.getRolloutById(r.rolloutId))?.status).toBe('running');
    expect((await again.querySpans(r.rolloutId)).total).toBe(1);
    expect(await again.getNextSpanSequenceId(r.rolloutId, r.attempt.attemptId)).toBe(2);
    await again.close();
  });

  it('refuses a database written by a newer schema version, without touching it', async () => {
    const path = join(temp.dir, 'newer.sqlite');
    const store = new SqliteRolloutStore({ path, healthCheckIntervalMs: 0 });
    await store.close();
    const db = new Database(path);
    db.prepare("UPDATE agl_meta SET value = '99' WHERE key = 'schema_version'").run();
    db.close();
    expect(() => new SqliteRolloutStore({ path, healthCheckIntervalMs: 0 })).toThrow(CorruptStateError);
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT value FROM agl_meta WHERE key = 'schema_version'").get()).toEqual({
      value: '99',
    });
    check.close();
  });
});

describe('SqliteRolloutStore group commit', () => {
  const temp = tempDir('agentstate-rollouts-sqlite-batch-');
  afterAll(() => temp.remove());
  const span = (r: { rolloutId: string; attempt: { attemptId: string } }, spanId: string) => ({
    rolloutId: r.rolloutId,
    attemptId: r.attempt.attemptId,
    traceId: 't',
    spanId,
    name: 'n',
  });

  it('a write refused by its rule fails alone, however many batches after it fail too', async () => {
    const store = new SqliteRolloutStore({ path: join(temp.dir, 'rules.sqlite'), healthCheckIntervalMs: 0 });
    const r = await store.startRollout({ input: 1 });
    // Twenty batches in a row with a failing write: each stores exactly its good writes, once.
    for (let i = 0; i < 20; i++) {
      const results = await Promise.allSettled([
        store.addSpan(span(r, `a${i}`)),
        store.updateRollout('ro-missing', { status: 'failed' }),
        store.enqueueRollout({ input: i }),
      ]);
      expect(results.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    }
    expect((await store.querySpans(r.rolloutId)).total).toBe(20);
    expect((await store.queryRollouts()).total).toBe(21);
    await store.close();
  });

  it('a failure of the database under a write fails the batch and stores none of it', async () => {
    const store = new SqliteRolloutStore({ path: join(temp.dir, 'full.sqlite'), healthCheckIntervalMs: 0 });
    const r = await store.startRollout({ input: 1 });
    const repo = (store as unknown as { repo: { insertSpans: (...args: unknown[]) => unknown } }).repo;
    const insertSpans = repo.insertSpans;
    repo.insertSpans = () => {
      repo.insertSpans = insertSpans;
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    const results = await Promise.allSettled([
      store.enqueueRollout({ input: 2 }),
      store.addSpan(span(r, 'a')),
      store.enqueueRollout({ input: 3 }),
    ]);
    expect(
      results.map((x) => (x.status === 'rejected' ? (x.reason as { code?: string }).code : 'ok')),
    ).toEqual(['SQLITE_FULL', 'SQLITE_FULL', 'SQLITE_FULL']);
    expect((await store.queryRollouts()).total).toBe(1);
    expect((await store.querySpans(r.rolloutId)).total).toBe(0);
    // The next batch is written as usual.
    await store.addSpan(span(r, 'b'));
    expect((await store.querySpans(r.rolloutId)).total).toBe(1);
    await store.close();
  });
});

describe('SqliteRolloutStore under a foreign write lock', () => {
  const temp = tempDir('agentstate-rollouts-busy-');
  afterAll(() => temp.remove());

  it('reports TIMEOUT after busyTimeoutMs and writes nothing', async () => {
    const path = join(temp.dir, 'busy.sqlite');
    const store = new SqliteRolloutStore({ path, healthCheckIntervalMs: 0, busyTimeoutMs: 20 });
    const locker = new Database(path);
    locker.exec('BEGIN IMMEDIATE');
    try {
      await expect(store.enqueueRollout({ input: 1 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    } finally {
      locker.exec('ROLLBACK');
      locker.close();
    }
    expect((await store.queryRollouts()).total).toBe(0);
    expect((await store.enqueueRollout({ input: 2 })).status).toBe('queuing');
    await store.close();
  });
});
