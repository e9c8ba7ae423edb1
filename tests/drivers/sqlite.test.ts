import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dueRowsSql } from '../../src/drivers/sqlite/schema.ts';
import { createSqliteStore, type DocumentStore, isAgentStateError } from '../../src/index.ts';
import { eventually } from '../conformance/documentStore.ts';
import { ManualClock } from '../support/clock.ts';

describe('SQLite driver', () => {
  let dir: string;
  const open: Array<{ close(): unknown }> = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-sqlite-'));
  });
  afterEach(async () => {
    for (const s of open.splice(0).reverse()) await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  function store(options: Parameters<typeof createSqliteStore>[0] = {}): DocumentStore {
    const s = createSqliteStore({ path: join(dir, 'state.db'), ...options });
    open.push(s);
    return s;
  }
  function raw(): Database.Database {
    const db = new Database(join(dir, 'state.db'));
    open.push(db);
    return db;
  }
  /** A watcher of `agents` on `watcher`: the ids it saw and how often it was told to start over. */
  async function watchAgents(watcher: DocumentStore) {
    const seen: string[] = [];
    const counts = { resets: 0 };
    const sub = await watcher.watch('agents', (e) => seen.push(e.id), {
      onReset: () => {
        counts.resets += 1;
      },
    });
    return { seen, counts, sub };
  }

  it('creates parent directories and runs in WAL mode with the chosen synchronous level', async () => {
    const path = join(dir, 'nested', 'deeper', 'state.db');
    const s = store({ path });
    await s.put('agents', 'a', 1);
    const db = new Database(path);
    open.push(db);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const full = new Database(join(dir, 'full.db'));
    open.push(full);
    store({ database: full, synchronous: 'FULL' });
    expect(full.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('uses a connection it is given and leaves it open on close', async () => {
    const db = raw();
    const s = createSqliteStore({ database: db, table: 'my_docs' });
    await s.put('agents', 'a', { n: 1 });
    await s.close();
    expect(db.prepare('SELECT count(*) AS n FROM my_docs').get()).toEqual({ n: 1 });
    expect(() => createSqliteStore({ database: db, table: 'bad; DROP TABLE x' })).toThrow(/table name/);
  });

  it('sweeps through the expires_at index instead of scanning the table', async () => {
    const clock = new ManualClock();
    const s = store({ now: clock.now });
    for (let i = 0; i < 20; i++) await s.put('ttl', `t${i}`, i, i % 2 ? { ttlMs: 1000 } : {});
    const plan = raw()
      .prepare(`EXPLAIN QUERY PLAN ${dueRowsSql('agentstate_documents')}`)
      .all(clock.time, 500) as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join('\n')).toContain('agentstate_documents_expires_at');
    clock.advance(2000);
    const expired: string[] = [];
    await s.watch('ttl', (e) => e.type === 'expire' && expired.push(e.id));
    expect(await s.sweepExpired()).toBe(10);
    expect(expired).toHaveLength(10);
    expect((await s.list('ttl')).items).toHaveLength(10);
  });

  it('sweeps more expired documents than one sweep chunk holds', async () => {
    const clock = new ManualClock();
    const s = store({ now: clock.now });
    await s.batch(
      Array.from({ length: 1200 }, (_, i) => ({
        type: 'put' as const,
        namespace: 'ttl',
        id: `t${i}`,
        value: i,
        options: { ttlMs: 10 },
      })),
    );
    clock.advance(20);
    expect(await s.sweepExpired()).toBe(1200);
    expect(await s.sweepExpired()).toBe(0);
  });

  it('orders ids by UTF-16 code units and keeps lone surrogates distinct', async () => {
    const s = store();
    const ids = ['\uFFFF', '😀', '\uD800', '\uDC00', 'a', '\uFFFD'];
    for (const id of ids) await s.put('order', id, id);
    expect((await s.list('order')).items.map((d) => d.id)).toEqual([...ids].sort());
    for (const id of ids) expect((await s.get('order', id))?.value).toBe(id);
    expect((await s.list('order', { prefix: '\uD83D' })).items.map((d) => d.id)).toEqual(['😀']);
  });

  it('reports a write lock held too long by another connection as TIMEOUT', async () => {
    const s = store({ busyTimeoutMs: 50 });
    await s.put('agents', 'a', 1);
    const other = raw();
    other.exec('BEGIN IMMEDIATE');
    try {
      const error = await s.put('agents', 'a', 2).catch((e: unknown) => e);
      expect(isAgentStateError(error, 'TIMEOUT')).toBe(true);
    } finally {
      other.exec('ROLLBACK');
    }
    expect((await s.get('agents', 'a'))?.value).toBe(1);
  });

  it('reports an unreadable row as CORRUPT_STATE and leaves it in place', async () => {
    const s = store();
    await s.put('agents', 'a', 1);
    raw().exec(`UPDATE agentstate_documents SET value = '{oops'`);
    const error = await s.get('agents', 'a').catch((e: unknown) => e);
    expect(isAgentStateError(error, 'CORRUPT_STATE')).toBe(true);
    expect(error).toMatchObject({ details: { namespace: 'agents', id: 'a', column: 'value' } });
    expect(raw().prepare('SELECT value FROM agentstate_documents').get()).toEqual({ value: '{oops' });
  });

  it('delivers changes committed by another connection to watchers, once each', async () => {
    const clock = new ManualClock();
    const a = store({ watchPollMs: 5, now: clock.now });
    const b = store({ now: clock.now });
    const events: string[] = [];
    const sub = await a.watch('*', (e) => events.push(`${e.type} ${e.namespace}/${e.id} ${e.revision}`));
    await a.put('agents', 'own', 1);
    await b.put('agents', 'x', 1);
    await b.batch([
      { type: 'put', namespace: 'sessions', id: 's', value: 1, options: { ttlMs: 10 } },
      { type: 'delete', namespace: 'agents', id: 'x' },
    ]);
    clock.advance(100);
    expect(await b.sweepExpired()).toBe(1);
    await eventually(() => events.length >= 5);
    expect(events).toEqual([
      'put agents/own 1',
      'put agents/x 1',
      'put sessions/s 1',
      'delete agents/x 1',
      'expire sessions/s 1',
    ]);
    await sub.close();
    await b.put('agents', 'after', 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toHaveLength(5);
  });

  it('prunes the change log by age', async () => {
    const clock = new ManualClock();
    const s = store({ now: clock.now, changeRetentionMs: 1000 });
    const sub = await store().watch('*', () => {});
    for (let i = 0; i < 10; i++) await s.put('agents', `a${i}`, i);
    clock.advance(2000);
    await s.put('agents', 'fresh', 1);
    await s.sweepExpired();
    expect(raw().prepare('SELECT count(*) AS n FROM agentstate_documents_changes').get()).toEqual({ n: 1 });
    await sub.close();
  });

  it('logs changes only while a store other than the writer watches the file', async () => {
    const changeRows = () =>
      (raw().prepare('SELECT count(*) AS n FROM agentstate_documents_changes').get() as { n: number }).n;
    const writer = store({ watchPollMs: 5 });
    // Nobody watches: writes, batches and the sweep leave no change rows.
    await writer.put('agents', 'a', 1);
    await writer.batch([{ type: 'delete', namespace: 'agents', id: 'a' }]);
    await writer.put('sessions', 's', 1, { ttlMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await writer.sweepExpired()).toBe(1);
    expect(changeRows()).toBe(0);
    // The writer watching itself needs no log either: its own changes are delivered in process.
    const own: string[] = [];
    const ownSub = await writer.watch('agents', (e) => own.push(e.id));
    await writer.put('agents', 'b', 1);
    expect(own).toEqual(['b']);
    expect(changeRows()).toBe(0);
    // Another store watches: from its registration on, every change is logged and delivered to it.
    const watcher = store({ watchPollMs: 5 });
    const seen: string[] = [];
    const sub = await watcher.watch('agents', (e) => seen.push(`${e.type} ${e.id}`));
    await writer.put('agents', 'c', 1);
    await writer.delete('agents', 'b');
    await eventually(() => seen.length >= 2);
    expect(seen).toEqual(['put c', 'delete b']);
    expect(changeRows()).toBe(2);
    // It stops watching: its registration goes, and so does the logging.
    await sub.close();
    await writer.put('agents', 'd', 1);
    expect(changeRows()).toBe(2);
    await ownSub.close();
  });

  it('tells a watcher whose registration ran out to start over, and delivers what follows', async () => {
    const watcher = store({ watchPollMs: 5, watchLeaseMs: 60_000 });
    const writer = store();
    const { seen, counts, sub } = await watchAgents(watcher);
    await writer.put('agents', 'before', 1);
    await eventually(() => seen.length >= 1);
    // As if its process had stalled past the lease: the registration is gone, writers stop logging.
    raw().prepare('UPDATE agentstate_documents_watchers SET until = 0').run();
    await writer.put('agents', 'missed', 1);
    expect(counts.resets).toBe(0);
    // Its next renewal (due at half the lease) finds the lapse.
    const realNow = Date.now;
    const later = realNow() + 31_000;
    Date.now = () => later;
    try {
      await eventually(() => counts.resets === 1);
    } finally {
      Date.now = realNow;
    }
    await writer.put('agents', 'after', 1);
    await eventually(() => seen.includes('after'));
    expect(seen).toEqual(['before', 'after']);
    await sub.close();
  });

  it('tells a watcher to start over when changes it had not read were pruned', async () => {
    const watcher = store({ watchPollMs: 5 });
    const writer = store();
    const { seen, counts, sub } = await watchAgents(watcher);
    await writer.put('agents', 'read', 1);
    await eventually(() => seen.includes('read'));
    // Between two of its polls, two more changes are logged and pruned (as a sweep with a short
    // changeRetentionMs does while a watcher's process stalls), and a third is logged.
    const db = raw();
    db.transaction(() => {
      for (const id of ['pruned1', 'pruned2', 'kept']) {
        db.prepare(
          `INSERT INTO agentstate_documents_changes (at, origin, type, namespace, id_key, revision)
           VALUES (0, 'elsewhere', 'put', 'agents', ?, 1)`,
        ).run(Buffer.from(id, 'utf16le').swap16());
      }
      db.prepare(
        'DELETE FROM agentstate_documents_changes WHERE seq < (SELECT max(seq) FROM agentstate_documents_changes)',
      ).run();
    })();
    await eventually(() => seen.includes('kept'));
    expect(counts.resets).toBe(1);
    expect(seen).toEqual(['read', 'kept']);
    await sub.close();
  });

  it('starts no watcher over on a file of an earlier release whose numbered change log was emptied', async () => {
    // Earlier releases made the change table with AUTOINCREMENT, and their prune could empty it: its next
    // row is numbered after the largest number ever given, not after the largest row left.
    const db = raw();
    db.exec(`CREATE TABLE agentstate_documents_changes (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, origin TEXT NOT NULL, type TEXT NOT NULL,
      namespace TEXT NOT NULL, id_key BLOB NOT NULL, revision INTEGER NOT NULL)`);
    const insert = db.prepare(
      `INSERT INTO agentstate_documents_changes (at, origin, type, namespace, id_key, revision)
       VALUES (0, 'old', 'put', 'agents', x'0061', 1)`,
    );
    for (let i = 0; i < 5; i++) insert.run();
    db.exec('DELETE FROM agentstate_documents_changes');
    const watcher = store({ watchPollMs: 5 });
    const writer = store();
    const { seen, counts, sub } = await watchAgents(watcher);
    await writer.put('agents', 'a', 1);
    await writer.put('agents', 'b', 1);
    await eventually(() => seen.length >= 2);
    expect(seen).toEqual(['a', 'b']);
    expect(counts.resets).toBe(0);
    await sub.close();
  });

  it('keeps watching for a subscription made while the last other one closes', async () => {
    const watcher = store({ watchPollMs: 5 });
    const writer = store();
    const first = await watcher.watch('agents', () => {});
    const [, { seen, sub }] = await Promise.all([first.close(), watchAgents(watcher)]);
    await writer.put('agents', 'x', 1);
    await eventually(() => seen.includes('x'));
    await sub.close();
  });

  it('never stalls a watcher on another connection holding the write lock', async () => {
    const errors: unknown[] = [];
    const watcher = store({ watchPollMs: 5, watchLeaseMs: 100, onError: (error) => errors.push(error) });
    const writer = store();
    const { seen, counts, sub } = await watchAgents(watcher);
    const holder = raw();
    holder.exec('BEGIN IMMEDIATE');
    // Renewals come due while the lock is held: each is skipped, not waited for (the default
    // busyTimeoutMs would hold the event loop for 5 s each time).
    const ticks: number[] = [];
    const started = performance.now();
    const timer = setInterval(() => ticks.push(performance.now()), 5);
    await new Promise((resolve) => setTimeout(resolve, 300));
    clearInterval(timer);
    const gaps = ticks.map((t, i) => t - (i === 0 ? started : ticks[i - 1]!));
    expect(Math.max(...gaps)).toBeLessThan(1000);
    holder.exec('COMMIT');
    // The lease ran out meanwhile: the watcher is told to start over, then gets what follows.
    await eventually(() => counts.resets >= 1);
    await writer.put('agents', 'after', 1);
    await eventually(() => seen.includes('after'));
    // Leaving while the lock is held does not wait for it either.
    holder.exec('BEGIN IMMEDIATE');
    const leaving = performance.now();
    await sub.close();
    expect(performance.now() - leaving).toBeLessThan(1000);
    holder.exec('COMMIT');
    expect(errors).toEqual([]);
  });

  it('opens a read-only connection on a file of an earlier release, and refuses watch on it', async () => {
    await store().put('agents', 'a', 1);
    raw().exec('DROP TABLE agentstate_documents_watchers');
    const readOnly = new Database(join(dir, 'state.db'), { readonly: true });
    open.push(readOnly);
    const reader = store({ database: readOnly });
    expect((await reader.get('agents', 'a'))?.value).toBe(1);
    await expect(reader.watch('*', () => {})).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { table: 'agentstate_documents' },
    });
  });

  it('refuses a watch lease shorter than four polls, naming both options', async () => {
    expect(() => createSqliteStore({ path: ':memory:', watchPollMs: 100, watchLeaseMs: 300 })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { watchLeaseMs: 300, watchPollMs: 100 } }),
    );
    // A long poll without a lease given gets a lease long enough for it.
    await createSqliteStore({ path: ':memory:', watchPollMs: 20_000 }).close();
  });

  it('forgets the registrations of watchers that ended without leaving', async () => {
    const watcher = store({ watchPollMs: 5 });
    await watcher.watch('*', () => {});
    const rows = () =>
      (raw().prepare('SELECT count(*) AS n FROM agentstate_documents_watchers').get() as { n: number }).n;
    expect(rows()).toBe(1);
    // Its process died: the lease is not renewed, and a sweep elsewhere removes it once it ran out.
    raw()
      .prepare('UPDATE agentstate_documents_watchers SET until = ?')
      .run(Date.now() - 5000);
    await store().sweepExpired();
    expect(rows()).toBe(0);
  });

  it('a watcher misses no change after the change log was pruned of every old row', async () => {
    const clock = new ManualClock();
    const watcher = store({ watchPollMs: 5, now: clock.now, changeRetentionMs: 1000 });
    const writer = store({ now: clock.now, changeRetentionMs: 1000 });
    const events: string[] = [];
    const sub = await watcher.watch('agents', (e) => events.push(`${e.type} ${e.id}`));
    for (let i = 0; i < 5; i++) await writer.put('agents', `a${i}`, i);
    await eventually(() => events.length >= 5);
    const before = raw().prepare('SELECT max(seq) AS seq FROM agentstate_documents_changes').get() as {
      seq: number;
    };
    clock.advance(2000);
    await writer.sweepExpired();
    await writer.put('agents', 'late', 1);
    await eventually(() => events.length >= 6);
    expect(events.at(-1)).toBe('put late');
    const after = raw().prepare('SELECT max(seq) AS seq FROM agentstate_documents_changes').get() as {
      seq: number;
    };
    expect(after.seq).toBeGreaterThan(before.seq);
    await sub.close();
  });

  it('sees writes of another connection on the same file', async () => {
    const a = store();
    const b = store();
    await a.put('agents', 'x', 1);
    await expect(b.put('agents', 'x', 2, { expectedRevision: 0 })).rejects.toMatchObject({
      code: 'REVISION_CONFLICT',
    });
    expect(await b.put('agents', 'x', 2, { expectedRevision: 1 })).toMatchObject({ revision: 2 });
    expect((await a.get('agents', 'x'))?.value).toBe(2);
  });
});
