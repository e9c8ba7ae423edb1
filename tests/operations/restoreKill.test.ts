/**
 * kill -9 during a SQLite restore, at random points, 50 times: afterwards the file is always either the old
 * state or the backup's, never a mix, and it opens cleanly.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupManager, createSqliteStore, SqliteRolloutStore, sqliteSource } from '../../src/index.ts';
import { seedDocuments, seedRollouts } from './fixtures.ts';

const CHILD = join(import.meta.dirname, 'fixtures', 'restoreChild.ts');
const ITERATIONS = 50;
const AHEAD = 4;

/**
 * Every document (namespace, id, stored value) and every rollout row, attempt and span, read with plain SQL
 * (fast enough to run 50 times); the integrity check proves the file is a whole database.
 */
function fingerprint(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const rows = [
      ...db
        .prepare('SELECT namespace, id, value FROM agentstate_documents ORDER BY namespace, id_key')
        .raw()
        .all(),
      ...db.prepare('SELECT rollout_id, status, input FROM agl_rollouts ORDER BY rollout_id').raw().all(),
      ...db.prepare('SELECT rollout_id, attempt_id, status FROM agl_attempts ORDER BY 1, 2').raw().all(),
      ...db.prepare('SELECT rollout_id, span_id, body FROM agl_spans ORDER BY 1, 2').raw().all(),
    ];
    return JSON.stringify(rows);
  } finally {
    db.close();
  }
}

/** A restore process, loaded and waiting for `go(killAfterMs)`. */
interface WarmChild {
  ready: Promise<void>;
  go(killAfterMs: number | null): Promise<{ killed: boolean; ms: number }>;
}

function startChild(db: string, backups: string): WarmChild {
  const child = spawn(process.execPath, [CHILD, db, backups, 'b'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let started = 0;
  let stderr = '';
  let out = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const exited = new Promise<{ killed: boolean; ms: number }>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      const ms = performance.now() - started;
      if (signal === 'SIGKILL') resolve({ killed: !out.includes('done'), ms });
      else if (code === 0) resolve({ killed: false, ms });
      else reject(new Error(`restore child failed (${code}): ${stderr}`));
    });
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.includes('ready')) markReady();
  });
  return {
    ready,
    async go(killAfterMs) {
      await ready;
      started = performance.now();
      child.stdin.write('go\n');
      if (killAfterMs !== null) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      return exited;
    },
  };
}

describe('restore killed with SIGKILL', () => {
  let dir: string;
  let oldDb: string;
  let oldState: string;
  let newState: string;
  let restoreMs: number;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-kill-'));
    oldDb = join(dir, 'old.db');
    const docs = createSqliteStore({ path: oldDb });
    const rollouts = new SqliteRolloutStore({ path: oldDb });
    await seedDocuments(docs, 600);
    await seedRollouts(rollouts, 20);
    await docs.close();
    await rollouts.close();
    newState = fingerprint(oldDb);
    await new BackupManager({ dir: join(dir, 'backups'), sources: [sqliteSource({ path: oldDb })] }).create({
      name: 'b',
    });
    // The "old" state differs from the backup in documents and rollouts alike.
    const docs2 = createSqliteStore({ path: oldDb });
    const rollouts2 = new SqliteRolloutStore({ path: oldDb });
    for (let i = 0; i < 600; i += 2) await docs2.delete('sessions', `s${String(i).padStart(4, '0')}`);
    await docs2.put('agents', 'a1', { name: 'old' });
    await seedRollouts(rollouts2, 3);
    await docs2.close();
    await rollouts2.close();
    oldState = fingerprint(oldDb);
    expect(oldState).not.toBe(newState);
    // One full run: the restore works and tells how long a restore takes, to spread the kills over it.
    const full = join(dir, 'full.db');
    await copyFile(oldDb, full);
    restoreMs = (await startChild(full, join(dir, 'backups')).go(null)).ms;
    expect(fingerprint(full)).toBe(newState);
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`leaves the old or the new state at ${ITERATIONS} random kill points`, async () => {
    const outcomes = { old: 0, new: 0 };
    let loopMs = restoreMs;
    // Processes start a few iterations ahead (loading takes longer than a restore); each waits for "go".
    const warm: WarmChild[] = [];
    const prepare = async (i: number) => {
      const db = join(dir, `run-${i}.db`);
      await copyFile(oldDb, db);
      warm[i] = startChild(db, join(dir, 'backups'));
    };
    // Run 0 calibrates (not killed); runs 1..ITERATIONS are killed.
    for (let i = 0; i <= Math.min(AHEAD, ITERATIONS); i++) await prepare(i);
    for (let i = 0; i <= ITERATIONS; i++) {
      const db = join(dir, `run-${i}.db`);
      // The first restore runs to the end beside the processes loading ahead, which slow it down: its time
      // (not the lone run's) spreads the kills over a whole restore.
      const { ms } = await warm[i]!.go(i === 0 ? null : Math.random() * loopMs * 1.2);
      if (i === 0) loopMs = Math.max(restoreMs, ms);
      if (i + AHEAD <= ITERATIONS) await prepare(i + AHEAD);
      const state = fingerprint(db);
      if (i === 0) expect(state).toBe(newState);
      else {
        expect([oldState, newState]).toContain(state);
        outcomes[state === oldState ? 'old' : 'new']++;
      }
      await rm(db, { force: true });
    }
    console.log(
      `kill -9 restore: ${outcomes.old} old, ${outcomes.new} new of ${ITERATIONS} (a restore took ~${Math.round(restoreMs)} ms alone, ~${Math.round(loopMs)} ms in the loop)`,
    );
    expect(outcomes.old).toBeGreaterThan(0);
  }, 120_000);
});
