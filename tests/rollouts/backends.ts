/**
 * Every RolloutStore backend as a factory for the conformance suite, the two-process test and benchmarks.
 * A new backend is one entry here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryRolloutStore, SqliteRolloutStore } from '../../src/index.ts';
import type { RolloutStoreFactory } from '../conformance/rolloutStore.ts';

/** The in-memory backend. */
export const memoryRolloutFactory: RolloutStoreFactory = {
  name: 'memory',
  durable: false,
  available: async () => true,
  async create(options) {
    const store = new InMemoryRolloutStore(options);
    return { store, cleanup: () => store.close() };
  },
};

/** A fresh temporary directory and its removal. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The SQLite backend, one temporary database file per test. */
export const sqliteRolloutFactory: RolloutStoreFactory = {
  name: 'sqlite',
  durable: true,
  available: async () => true,
  async create(options) {
    const temp = tempDir('agentstate-rollouts-');
    const path = join(temp.dir, 'rollouts.sqlite');
    const store = new SqliteRolloutStore({ ...options, path });
    return {
      store,
      cleanup: async () => {
        await store.close();
        temp.remove();
      },
      reopen: async (more) => new SqliteRolloutStore({ ...options, ...more, path }),
    };
  },
};
