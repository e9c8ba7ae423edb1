/**
 * Cross-process sync (seed 6.1) done by the engines: three OS processes increment one document with
 * compare-and-set and retries, and lose no update; a fourth process reading through a CachedStore sees
 * the final value soon after the last write, because the driver's change feed evicts its entry.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPostgresStore, createSqliteStore, type DocumentStore } from '../../src/index.ts';
import { startChild } from '../drivers/fixtures/children.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

const pgOk = await postgresAvailable();
// Relative to tests/drivers/fixtures, where startChild resolves scripts.
const script = '../../persistence/fixtures/syncChild.ts';
// Enough increments that the three writers overlap even when one starts a few milliseconds late.
const PER_PROCESS = 200;
const TOTAL = 3 * PER_PROCESS;

async function race(driver: 'sqlite' | 'postgres', location: string, store: DocumentStore) {
  const writers = [0, 1, 2].map(() =>
    startChild(script, ['increment', driver, location, String(PER_PROCESS)]),
  );
  const reader = startChild(script, ['read', driver, location, String(TOTAL)]);
  await Promise.all([...writers, reader].map((c) => c.ready));
  for (const child of [reader, ...writers]) child.go();
  const written = (await Promise.all(writers.map((w) => w.done))).map(
    (out) => JSON.parse(out) as { conflicts: number; lastWriteAt: number },
  );
  const read = JSON.parse(await reader.done) as { seenAt: number; hits: number; invalidations: number };
  expect(await store.get('sync', 'counter')).toMatchObject({ value: TOTAL, revision: TOTAL });
  const lastWrite = Math.max(...written.map((w) => w.lastWriteAt));
  return {
    conflicts: written.reduce((sum, w) => sum + w.conflicts, 0),
    lagMs: read.seenAt - lastWrite,
    read,
  };
}

describe('three writer processes and a cached reader process', () => {
  it('SQLite: no update lost; the cached reader sees the final value within 250 ms', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentstate-sync-'));
    const path = join(dir, 'state.db');
    const store = createSqliteStore({ path });
    try {
      const { conflicts, lagMs, read } = await race('sqlite', path, store);
      expect(conflicts).toBeGreaterThan(0); // they really did race
      expect(read.invalidations).toBeGreaterThan(0);
      expect(lagMs).toBeLessThanOrEqual(250);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.skipIf(!pgOk)(
    'PostgreSQL: no update lost; the cached reader sees the final value within 100 ms',
    async () => {
      const schema = uniqueName('as_sync');
      const store = createPostgresStore({ connectionString: POSTGRES_URL, schema });
      try {
        await store.get('sync', 'counter'); // creates the schema before the children race to
        const { conflicts, lagMs, read } = await race('postgres', schema, store);
        expect(conflicts).toBeGreaterThan(0);
        expect(read.invalidations).toBeGreaterThan(0);
        expect(lagMs).toBeLessThanOrEqual(100);
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    },
    60_000,
  );
});
