// A damaged SQLite file is CORRUPT_STATE naming the file with the recovery steps, at start-up (damaged
// header) and when a damaged page is reached later; the file itself is never changed.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.ts';
import { createSqliteStore, isAgentStateError, SqliteRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempFile(name = 'agentstate.db'): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-corrupt-'));
  dirs.push(dir);
  return join(dir, name);
}

const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Fills a file with documents and rollouts, checkpointed into the main file and closed. */
async function populated(path: string): Promise<void> {
  const documents = createSqliteStore({ path });
  for (let i = 0; i < 300; i++) await documents.put('ns', `doc-${i}`, { text: 'x'.repeat(500), i });
  await documents.close();
  const rollouts = new SqliteRolloutStore({ path, healthCheckIntervalMs: 0 });
  for (let i = 0; i < 100; i++) await rollouts.enqueueRollout({ input: { text: 'y'.repeat(500) } });
  await rollouts.close();
  const db = new Database(path);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** Overwrites bytes of the file at `offset` (a damaged disk sector, a partial copy). */
function damage(path: string, offset: number, length: number): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(length, 0xa5), 0, length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Damages the root pages of the document and rollout tables: the file opens, reading their rows fails. */
function damageTablePages(path: string): void {
  const db = new Database(path, { readonly: true });
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const roots = db
    .prepare("SELECT rootpage FROM sqlite_schema WHERE name IN ('agentstate_documents', 'agl_rollouts')")
    .all() as Array<{ rootpage: number }>;
  db.close();
  expect(roots).toHaveLength(2);
  for (const { rootpage } of roots) damage(path, (rootpage - 1) * pageSize, pageSize);
}

function expectCorrupt(error: unknown, path: string): void {
  expect(isAgentStateError(error, 'CORRUPT_STATE'), String(error)).toBe(true);
  const { message, details } = error as { message: string; details: Record<string, unknown> };
  expect(message).toContain(path);
  expect(message).toContain('.recover');
  expect(message).toContain('agentstate restore');
  expect(details).toMatchObject({ path, recovery: expect.any(Array) });
}

describe('a damaged SQLite file', () => {
  it('is CORRUPT_STATE naming the file at start-up, for documents and rollouts, and stays as it was', async () => {
    const path = tempFile();
    await populated(path);
    damage(path, 0, 100);
    const before = digest(path);
    const documents = (() => {
      try {
        return createSqliteStore({ path });
      } catch (error) {
        return error;
      }
    })();
    expectCorrupt(documents, path);
    const rollouts = (() => {
      try {
        return new SqliteRolloutStore({ path, healthCheckIntervalMs: 0 });
      } catch (error) {
        return error;
      }
    })();
    expectCorrupt(rollouts, path);
    expect(digest(path)).toBe(before);
  });

  it('is CORRUPT_STATE naming the file when a damaged page is read later, and over HTTP', async () => {
    const path = tempFile();
    await populated(path);
    damageTablePages(path);
    const before = digest(path);
    const documents = createSqliteStore({ path });
    const rollouts = new SqliteRolloutStore({ path, healthCheckIntervalMs: 0 });
    try {
      expectCorrupt(await documents.get('ns', 'doc-150').catch((e: unknown) => e), path);
      expectCorrupt(await documents.list('ns').catch((e: unknown) => e), path);
      expectCorrupt(await rollouts.queryRollouts({}).catch((e: unknown) => e), path);
      const app = await createServer({ documents, rollouts });
      try {
        for (const url of ['/v1/state/ns/doc-7', '/v1/agl/rollouts']) {
          const res = await app.inject({ method: 'GET', url });
          expect(res.statusCode, url).toBe(500);
          expect(res.json().error.code).toBe('CORRUPT_STATE');
          expect(res.json().error.message).toContain('.recover');
        }
      } finally {
        await app.close();
      }
    } finally {
      await documents.close();
      await rollouts.close();
    }
    expect(digest(path)).toBe(before);
  });

  it('stops `agentstate serve` with the recovery steps, leaving the file in place', async () => {
    const path = tempFile();
    await populated(path);
    damage(path, 0, 100);
    const before = digest(path);
    const err: string[] = [];
    const code = await main(['serve', '--port', '0', '--data', join(path, '..'), '--log-level', 'warn'], {
      out: () => {},
      err: (text: string) => err.push(text),
      interactive: false,
    });
    expect(code).toBe(1);
    expect(err.join('\n')).toContain('CORRUPT_STATE');
    expect(err.join('\n')).toContain('.recover');
    expect(digest(path)).toBe(before);
  });
});
