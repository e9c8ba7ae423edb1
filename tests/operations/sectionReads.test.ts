/**
 * Reading a section settles whatever happens to the file: a backup file removed (or unreadable) after it
 * was verified fails the read with the I/O error instead of leaving it waiting forever, and a reader that
 * stops early closes the file.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackupManager, createMemoryStore, documentStoreSource } from '../../src/index.ts';
import { sectionRecords } from '../../src/operations/backup/reader.ts';
import { seedDocuments } from './fixtures.ts';

/** Rejects when `promise` has not settled within `ms`: a hang fails the test instead of stalling it. */
function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)),
  ]);
}

describe('sectionRecords', () => {
  it('fails with the read error when the file is gone, and closes the file when the reader stops early', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentstate-section-'));
    const store = createMemoryStore();
    await seedDocuments(store, 200);
    const manager = new BackupManager({
      dir,
      sources: [documentStoreSource({ store, namespaces: ['sessions'] })],
    });
    await manager.create({ name: 'b' });
    const manifest = await manager.verify('b').then(() => manager.manifest('b'));
    const section = manifest.sections[0]!;

    // Stops after one record: the file descriptor is released (none left open on the file).
    const fdsBefore = (await readdir('/proc/self/fd')).length;
    for await (const _ of sectionRecords(manager.file('b'), 'b', section)) break;
    await new Promise((r) => setTimeout(r, 50));
    expect((await readdir('/proc/self/fd')).length).toBeLessThanOrEqual(fdsBefore);

    // Removed after the verify: the read fails (it used to wait forever on the gunzip stream).
    await rm(manager.file('b'));
    const read = (async () => {
      const out: unknown[] = [];
      for await (const r of sectionRecords(manager.file('b'), 'b', section)) out.push(r);
      return out;
    })();
    await expect(settlesWithin(read, 5000)).rejects.toMatchObject({ code: 'ENOENT' });
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
});
