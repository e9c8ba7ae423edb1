/**
 * Every RolloutStore backend as a factory for the conformance suite, the two-process test and benchmarks.
 * A new backend is one entry here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryRolloutStore } from '../../src/index.ts';
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
