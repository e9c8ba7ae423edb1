/**
 * ConsistencyChecker on SQLite and PostgreSQL: a clean store has no findings; each planted inconsistency is
 * reported with its kind, document and fix; repair({ dryRun }) lists changes without writing; repair()
 * fixes exactly the safe ones.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { insertDocuments } from '../../bench/_seedDocuments.ts';
import { openCheckStores } from '../../src/cli/backupStores.ts';
import { databasePath } from '../../src/cli/stores.ts';
import {
  Codec,
  ConsistencyChecker,
  createFsStore,
  createMemoryStore,
  createSqliteStore,
  type DocumentStore,
  type RolloutStore,
  type SqlRunner,
  sqliteRunner,
} from '../../src/index.ts';
import { ModuleTypeRegistry } from '../../src/modules/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';
import { seedRollouts } from './fixtures.ts';

interface Setup {
  docs: DocumentStore;
  rollouts: RolloutStore;
  sql: SqlRunner;
  documentsTable: string;
  cleanup(): Promise<void>;
}

/** The stores `agentstate check` opens, on a fresh SQLite data directory. */
async function sqliteSetup(): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'agentstate-check-'));
  new Database(databasePath(dir)).close();
  const stores = openCheckStores({ data: dir });
  return {
    docs: stores.documents,
    rollouts: stores.rollouts,
    sql: stores.sql,
    documentsTable: stores.documentsTable,
    async cleanup() {
      await stores.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The same on a fresh PostgreSQL schema. */
async function postgresSetup(): Promise<Setup> {
  const schema = uniqueName('as_check');
  const stores = openCheckStores({ data: '', postgres: POSTGRES_URL, postgresSchema: schema });
  return {
    docs: stores.documents,
    rollouts: stores.rollouts,
    sql: stores.sql,
    documentsTable: stores.documentsTable,
    async cleanup() {
      await stores.close();
      await dropSchema(schema);
    },
  };
}

const pgOk = await postgresAvailable();
const backends: Array<[string, () => Promise<Setup>, boolean]> = [
  ['sqlite', sqliteSetup, true],
  ['postgres', postgresSetup, pgOk],
];

for (const [name, setup, ok] of backends) {
  describe.skipIf(!ok)(`ConsistencyChecker on ${name}`, () => {
    let s: Setup;
    afterEach(async () => {
      await s.cleanup();
    });

    const checker = (extra: object = {}) =>
      new ConsistencyChecker({
        store: s.docs,
        sql: { runner: s.sql, documentsTable: s.documentsTable },
        rolloutStore: s.rollouts,
        required: [{ namespace: 'system', id: 'config' }],
        moduleTypes: new ModuleTypeRegistry(),
        now: () => Date.now() + 60_000,
        ...extra,
      });

    it('finds nothing wrong in a consistent store', async () => {
      s = await setup();
      await s.docs.put('system', 'config', { ok: true });
      await s.docs.put('agents', 'a1', { type: 'agentstate.agent', version: 1, state: {} });
      await seedRollouts(s.rollouts, 4);
      const report = await checker({ moduleTypes: undefined }).check();
      expect(report.errors).toEqual([]);
      expect(report.warnings).toEqual([]);
      expect(report.counts).toMatchObject({ documents: 2, rollouts: 6, spans: 12, workers: 1 });
    });

    it('scans every document across pages and namespaces; finds missing participants and attempts out of order', async () => {
      s = await setup();
      // 700 sessions whose participants (1,400, looked up a batch at a time) are stored agents, but one.
      await s.docs.batch(
        ['a1', 'a2'].map((id) => ({ type: 'put' as const, namespace: 'agents', id, value: { id } })),
      );
      const dialect = name === 'postgres' ? 'postgres' : 'sqlite';
      // The rows the driver writes, inserted in bulk (batch() of thousands of puts is slow on PostgreSQL);
      // after the store's first write, which creates the table.
      await insertDocuments(
        s.sql,
        dialect,
        s.documentsTable,
        Array.from({ length: 700 }, (_, i) => ({
          namespace: 'sessions',
          id: `s${String(i).padStart(4, '0')}`,
          value: { state: { participants: i === 650 ? ['a1', 'ghost'] : ['a1', 'a2'] } },
        })),
      );
      // 2,500 documents in 3 namespaces: the scan pages (1000 rows) cross namespace boundaries mid-page.
      for (const [ns, n] of [
        ['a', 1200],
        ['b', 1],
        ['c', 1299],
      ] as const) {
        const ids = Array.from({ length: n }, (_, i) => `d${String(i).padStart(5, '0')}`);
        await insertDocuments(
          s.sql,
          dialect,
          s.documentsTable,
          ids.map((id) => ({ namespace: ns, id, value: { id } })),
        );
      }
      await seedRollouts(s.rollouts, 4);
      const [first] = (await s.rollouts.queryRollouts({ limit: 1 })).items;
      const attempt = (await s.rollouts.queryAttempts(first!.rolloutId)).items[0]!;
      // A second attempt (sequence 2) that started before attempt 1, plus a third in order after both.
      const t = (x: string) => s.sql.table(x);
      for (const [id, seq, start] of [
        ['at-early', 2, attempt.startTime - 100],
        ['at-later', 3, attempt.startTime + 100],
      ] as const) {
        await s.sql.run(
          `INSERT INTO ${t('agl_attempts')} (rollout_id, attempt_id, sequence_id, start_time, end_time, status)
           VALUES (?, ?, ?, ?, ?, 'failed')`,
          [first!.rolloutId, id, seq, start, start + 1],
        );
      }
      const report = await checker({ moduleTypes: undefined, required: [] }).check();
      expect(report.counts.documents).toBe(3202);
      expect(report.counts.namespaces).toBe(5);
      expect(report.warnings.map((f) => [f.kind, f.document])).toEqual([
        ['participant-not-agent', { namespace: 'sessions', id: 's0650' }],
        ['attempt-order', { table: 'agl_attempts', key: `${first!.rolloutId}/at-early` }],
      ]);
    });

    it('reports every planted inconsistency with kind, document and fix, and repairs the safe ones', async () => {
      s = await setup();
      await s.docs.put('agents', 'a1', { name: 'agent' });
      await s.docs.put('sessions', 's1', {
        type: 'agentstate.session',
        version: 1,
        state: { participants: ['a1', 'ghost'] },
      });
      await s.docs.put('sessions', 's2', { type: 'unregistered.module', version: 1, state: {} });
      await s.docs.put('threads', 'short', { v: 1 }, { ttlMs: 1000 });
      await s.docs.put('threads', 'weird', { v: 1 });
      await s.docs.put('threads', 'tagged', { v: 1 });
      const t = (x: string) => s.sql.table(x);
      // A row without storage info (as written before checksums existed): decoded, so the unknown tag shows.
      await s.sql.run(`UPDATE ${t(s.documentsTable)} SET value = ?, storage = NULL WHERE id = ?`, [
        '{"$t":"NoSuchType","v":1}',
        'tagged',
      ]);
      await s.sql.run(`UPDATE ${t(s.documentsTable)} SET value = ? WHERE id = ?`, ['{not json', 'weird']);
      await seedRollouts(s.rollouts, 6);
      const all = (await s.rollouts.queryRollouts({ limit: 100 })).items;
      const running = all.filter((r) => r.status === 'running');
      const queued = all.find((r) => r.status === 'queuing')!;
      // A running rollout whose latest attempt ended; a span counter set back; a worker on a missing attempt;
      // a rollout pinning missing resources; a queued rollout deleted under its queue entry; an attempt
      // whose rollout is gone (and with it, its spans' attempt).
      const stale = running[0]!;
      await s.sql.run(`UPDATE ${t('agl_attempts')} SET status = 'failed' WHERE rollout_id = ?`, [
        stale.rolloutId,
      ]);
      await s.sql.run(`UPDATE ${t('agl_span_sequences')} SET last_sequence_id = 0 WHERE rollout_id = ?`, [
        running[1]!.rolloutId,
      ]);
      await s.sql.run(
        `UPDATE ${t('agl_workers')} SET current_rollout_id = 'ro-x', current_attempt_id = 'at-x'`,
        [],
      );
      await s.sql.run(`UPDATE ${t('agl_rollouts')} SET resources_id = 'rs-missing' WHERE rollout_id = ?`, [
        running[1]!.rolloutId,
      ]);
      await s.sql.run(`DELETE FROM ${t('agl_rollouts')} WHERE rollout_id = ?`, [queued.rolloutId]);
      const gone = all.find((r) => r.status === 'failed')!;
      await s.sql.run(`DELETE FROM ${t('agl_rollouts')} WHERE rollout_id = ?`, [gone.rolloutId]);
      const orphan = all.find((r) => r.status === 'succeeded')!;
      await s.sql.run(`DELETE FROM ${t('agl_attempts')} WHERE rollout_id = ?`, [orphan.rolloutId]);
      const orphanSpans = (await s.rollouts.querySpans(orphan.rolloutId)).items;
      expect(orphanSpans).toHaveLength(3);

      const report = await checker().check();
      const kinds = (list: typeof report.errors) =>
        list.map((f) => `${f.kind} ${JSON.stringify(f.document)}`).sort();
      expect(kinds(report.errors)).toEqual(
        [
          // Changed behind the driver's back: the stored checksum no longer matches.
          `checksum-mismatch {"namespace":"threads","id":"weird"}`,
          `dangling-attempt {"table":"agl_attempts","key":"${gone.rolloutId}/${(await s.rollouts.queryAttempts(gone.rolloutId)).items[0]!.attemptId}"}`,
          `dangling-latest-attempt {"table":"agl_rollouts","key":"${orphan.rolloutId}"}`,
          `dangling-queue-entry {"table":"agl_queue","key":"${queued.rolloutId}"}`,
          ...orphanSpans.map(
            (x) =>
              `dangling-span {"table":"agl_spans","key":"${orphan.rolloutId}/${x.attemptId}/${x.spanId}"}`,
          ),
          `dangling-worker-attempt {"table":"agl_workers","key":"worker-1"}`,
          `missing-required {"namespace":"system","id":"config"}`,
          `sequence-counter-behind {"table":"agl_span_sequences","key":"${running[1]!.rolloutId}"}`,
          `stale-rollout-status {"table":"agl_rollouts","key":"${stale.rolloutId}"}`,
          `unknown-module-type {"namespace":"sessions","id":"s2"}`,
          `unknown-type {"namespace":"threads","id":"tagged"}`,
        ].sort(),
      );
      expect(kinds(report.warnings)).toEqual(
        [
          `expired-not-swept {"namespace":"threads","id":"short"}`,
          `participant-not-agent {"namespace":"sessions","id":"s1"}`,
          `unresolved-resources {"table":"agl_rollouts","key":"${running[1]!.rolloutId}"}`,
        ].sort(),
      );
      for (const finding of [...report.errors, ...report.warnings]) {
        expect(finding.message.length).toBeGreaterThan(10);
        expect(finding.fix.length).toBeGreaterThan(5);
      }

      const dry = await checker().repair({ dryRun: true });
      expect(dry.changes.map((c) => c.kind).sort()).toEqual(
        [
          'dangling-queue-entry',
          'expired-not-swept',
          'sequence-counter-behind',
          'stale-rollout-status',
        ].sort(),
      );
      expect(kinds((await checker().check()).errors)).toEqual(kinds(report.errors));

      // The sweep of the live store runs on its own clock, so repair runs when the TTL has passed.
      await new Promise((r) => setTimeout(r, 1100));
      const done = await checker().repair();
      expect(done.changes).toHaveLength(4);
      const statusChange = done.changes.find((c) => c.kind === 'stale-rollout-status')!;
      expect(statusChange.action).toMatch(/running -> (requeuing|failed)/);
      const after = await checker().check();
      const left = [...after.errors, ...after.warnings].map((f) => f.kind);
      expect(left).not.toContain('dangling-queue-entry');
      expect(left).not.toContain('sequence-counter-behind');
      expect(left).not.toContain('stale-rollout-status');
      expect(left).not.toContain('expired-not-swept');
      expect(left).toContain('dangling-attempt');
    });
  });
}

describe('ConsistencyChecker through the DocumentStore interface', () => {
  it('reports a page it cannot decode instead of throwing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentstate-check-fs-'));
    class Point {
      readonly x: number;
      constructor(x: number) {
        this.x = x;
      }
    }
    const withPoint = new Codec().register('Point', {
      class: Point,
      encode: (p: Point) => p.x,
      decode: (x: number) => new Point(x),
    });
    const writer = createFsStore({ dir, codec: withPoint });
    await writer.put('shapes', 'p1', { at: new Point(1) });
    await writer.close();
    const reader = createFsStore({ dir });
    const report = await new ConsistencyChecker({ store: reader, namespaces: ['shapes'] }).check();
    expect(report.errors.map((f) => [f.kind, f.document])).toEqual([
      ['unreadable-page', { namespace: 'shapes', id: '' }],
    ]);
    expect(report.errors[0]!.message).toMatch(/Point/);
    await reader.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('checks session participants against stored agents', async () => {
    const store = createMemoryStore();
    await store.put('agents', 'a1', { id: 'a1' });
    for (let i = 0; i < 300; i++)
      await store.put('sessions', `s${i}`, { state: { participants: ['a1', i === 7 ? 'ghost' : 'a1'] } });
    const report = await new ConsistencyChecker({ store, namespaces: ['agents', 'sessions'] }).check();
    expect(report.warnings.map((f) => [f.kind, f.document])).toEqual([
      ['participant-not-agent', { namespace: 'sessions', id: 's7' }],
    ]);
    await store.close();
  });

  it('checks required documents', async () => {
    const store = createMemoryStore();
    await store.put('system', 'config', { ok: true });
    const report = await new ConsistencyChecker({
      store,
      namespaces: ['system'],
      required: [
        { namespace: 'system', id: 'config' },
        { namespace: 'system', id: 'status' },
      ],
    }).check();
    expect(report.errors.map((f) => f.kind)).toEqual(['missing-required']);
    expect(report.counts.documents).toBe(1);
    await store.close();
  });
});

describe('ConsistencyChecker on compressed values', () => {
  it('reads compressed values as the driver does and reports a stored checksum that no longer matches', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentstate-check-gzip-'));
    const path = join(dir, 'a.db');
    const store = createSqliteStore({ path, compression: 'gzip', compressAboveBytes: 0 });
    for (let i = 0; i < 5; i++) await store.put('docs', `d${i}`, { i, text: 'x'.repeat(100) });
    const db = new Database(path);
    const runner = sqliteRunner(db);
    const clean = await new ConsistencyChecker({
      sql: { runner, documentsTable: 'agentstate_documents', rollouts: false },
    }).check();
    expect(clean.errors).toEqual([]);
    const [row] = await runner.all("SELECT value FROM agentstate_documents WHERE id = 'd3'", []);
    const bytes = Buffer.from(row!.value as Uint8Array);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x01;
    await runner.run("UPDATE agentstate_documents SET value = ? WHERE id = 'd3'", [bytes]);
    const report = await new ConsistencyChecker({
      sql: { runner, documentsTable: 'agentstate_documents', rollouts: false },
    }).check();
    expect(report.errors.map((f) => [f.kind, f.document])).toEqual([
      ['checksum-mismatch', { namespace: 'docs', id: 'd3' }],
    ]);
    db.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
});
