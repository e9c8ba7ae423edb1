/**
 * Every background loop of the drivers reports its failures to the store's `onError`, never swallowing
 * them: the sweep timer, watch listeners, SQLite's change-log poll, corrupt files found by the
 * filesystem driver, and PostgreSQL connections that drop while idle in the pool.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { documentFileName, namespaceDirName } from '../../src/drivers/fs/fileNames.ts';
import { createDocumentStore } from '../../src/drivers/kernel/documentStore.ts';
import {
  createFsStore,
  createMemoryStore,
  createPostgresStore,
  createSqliteStore,
  type DocumentStore,
} from '../../src/index.ts';
import type { BackgroundErrorContext } from '../../src/shared/backgroundErrors.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const stores: DocumentStore[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

function collector() {
  const reports: Array<{ error: unknown; context: BackgroundErrorContext }> = [];
  return {
    reports,
    onError: (error: unknown, context: BackgroundErrorContext) => reports.push({ error, context }),
  };
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'agentstate-bg-'));
  dirs.push(dir);
  return dir;
}

describe('background errors of drivers', () => {
  it.each([
    ['rejected', () => Promise.reject(new Error('disk on fire'))],
    [
      'thrown',
      (): never => {
        throw new Error('disk on fire');
      },
    ],
  ])('reports a failed sweep of the timer (%s)', async (_how, sweep) => {
    const { reports, onError } = collector();
    const store = createDocumentStore(
      { name: 'broken', label: 'broken', options: {} },
      { sweepIntervalMs: 5, onError },
      () => ({
        where: 'nowhere',
        read: () => undefined,
        write: () => [],
        scan: () => ({ items: [] }),
        namespaces: () => ({ items: [] }),
        sweep,
        close: () => {},
      }),
    );
    stores.push(store);
    await vi.waitFor(() => expect(reports.length).toBeGreaterThan(0));
    expect(reports[0]?.context.source).toBe('broken sweep');
    expect(reports[0]?.error).toMatchObject({ message: 'disk on fire' });
  });

  it('reports a watch listener that throws, and still delivers to the others', async () => {
    const { reports, onError } = collector();
    const store = createMemoryStore({ onError });
    stores.push(store);
    const seen: string[] = [];
    await store.watch('agents', () => {
      throw new Error('listener bug');
    });
    await store.watch('agents', (event) => seen.push(event.id));
    await store.put('agents', 'a1', 1);
    expect(seen).toEqual(['a1']);
    expect(reports.map((r) => r.context.source)).toEqual(['memory watch listener']);
    expect(reports[0]?.context.details).toMatchObject({ namespace: 'agents', id: 'a1' });
  });

  it("reports a failed poll of SQLite's change log", async () => {
    const { reports, onError } = collector();
    const path = join(await tempDir(), 'state.db');
    const store = createSqliteStore({ path, watchPollMs: 5, onError });
    stores.push(store);
    await store.watch('*', () => {});
    // Another connection removes the change log and commits: the next poll sees a new data_version
    // and its read fails.
    const other = new Database(path);
    other.exec('DROP TABLE agentstate_documents_changes');
    other.close();
    await vi.waitFor(() => expect(reports.length).toBeGreaterThan(0));
    expect(reports[0]?.context.source).toBe('SQLite change feed poll');
  });

  it('reports corrupt files found by the filesystem driver to onError when onCorruption is not given', async () => {
    const dir = await tempDir();
    const first = createFsStore({ dir, durable: false });
    await first.put('agents', 'good', 1);
    await first.close();
    await writeFile(join(dir, namespaceDirName('agents'), documentFileName('bad')), 'not a document');
    const { reports, onError } = collector();
    const store = createFsStore({ dir, durable: false, onError });
    stores.push(store);
    expect((await store.get('agents', 'good'))?.value).toBe(1);
    expect(reports.map((r) => r.context.source)).toEqual(['filesystem corrupt file']);
    expect(reports[0]?.error).toMatchObject({ code: 'CORRUPT_STATE' });
  });
});

describe.skipIf(!(await postgresAvailable()))('background errors of the PostgreSQL driver', () => {
  it('reports a pooled connection that drops while idle', async () => {
    const { reports, onError } = collector();
    const schema = uniqueName('bg');
    const store = createPostgresStore({ connectionString: POSTGRES_URL, schema, onError });
    try {
      await store.put('agents', 'a1', 1);
      // Ends the store's idle connections from outside, as a server restart would.
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE pid <> pg_backend_pid() AND state = 'idle' AND query LIKE $1`,
        [`%${schema}%`],
      );
      await admin.end();
      await vi.waitFor(() => expect(reports.length).toBeGreaterThan(0));
      expect(reports[0]?.context.source).toBe('postgres idle connection');
      // The next call reconnects.
      expect((await store.get('agents', 'a1'))?.value).toBe(1);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});
