/**
 * BackupManager on every DocumentStore driver: create, list, verify, restore (replace, merge, only),
 * delete; every type survives; refusals of damaged files name the backup and the section and leave the
 * store untouched.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackupManager, type DocumentStore, documentStoreSource } from '../../src/index.ts';
import { type DriverFixture, driverFactories } from '../support/drivers.ts';
import { documentSnapshot, SEEDED_NAMESPACES, seedDocuments } from './fixtures.ts';

const contents = (store: DocumentStore) => documentSnapshot(store);

for (const factory of driverFactories) {
  const ok = await factory.available();
  describe.skipIf(!ok)(`BackupManager on ${factory.name}`, () => {
    let fixture: DriverFixture;
    let dir: string;
    let manager: BackupManager;
    beforeEach(async () => {
      fixture = await factory.create();
      dir = await mkdtemp(join(tmpdir(), 'agentstate-backups-'));
      manager = new BackupManager({
        dir,
        sources: [documentStoreSource({ store: fixture.store, namespaces: SEEDED_NAMESPACES })],
      });
      await seedDocuments(fixture.store, 25);
    });
    afterEach(async () => {
      await fixture.cleanup();
      await rm(dir, { recursive: true, force: true });
    });

    it('creates, lists, verifies, restores (replace) and deletes, keeping every type', async () => {
      const before = await contents(fixture.store);
      const info = await manager.create({ name: 'first' });
      expect(info.records).toBe(28);
      expect(info.sections.map((s) => s.name)).toEqual([
        'documents/agents',
        'documents/sessions',
        'documents/threads',
      ]);
      expect((await manager.list()).backups.map((b) => b.name)).toEqual(['first']);
      await manager.verify('first');

      await fixture.store.put('agents', 'a1', { name: 'changed' });
      await fixture.store.delete('sessions', 's0003');
      await fixture.store.put('sessions', 'extra', { added: true });
      const result = await manager.restore('first');
      expect(result.conflicts).toEqual([]);
      expect(await contents(fixture.store)).toEqual(before);
      const a1 = await fixture.store.get<{ born: Date; tools: Map<string, { calls: bigint }> }>(
        'agents',
        'a1',
      );
      expect(a1?.value.born).toBeInstanceOf(Date);
      expect(a1?.value.tools.get('search')?.calls).toBe(3n);

      expect(await manager.delete('first')).toBe(true);
      expect(await manager.delete('first')).toBe(false);
      expect((await manager.list()).backups).toEqual([]);
    });

    it('restores only the namespaces asked for', async () => {
      await manager.create({ name: 'b' });
      await fixture.store.put('agents', 'a2', { name: 'renamed' });
      await fixture.store.put('sessions', 's0000', { i: -1 });
      await manager.restore('b', { only: ['sessions'] });
      expect((await fixture.store.get('sessions', 's0000'))?.value).toEqual({
        i: 0,
        participants: ['a1', 'a2'],
        text: '',
      });
      expect((await fixture.store.get('agents', 'a2'))?.value).toEqual({ name: 'renamed' });
      await expect(manager.restore('b', { only: ['nope'] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('merge adds what is missing and reports documents that differ without overwriting them', async () => {
      await manager.create({ name: 'm' });
      await fixture.store.delete('sessions', 's0001');
      await fixture.store.put('agents', 'a2', { name: 'kept' });
      const result = await manager.restore('m', { mode: 'merge' });
      expect((await fixture.store.get('sessions', 's0001'))?.value).toEqual({
        i: 1,
        participants: ['a1', 'a2'],
        text: 'x',
      });
      expect((await fixture.store.get('agents', 'a2'))?.value).toEqual({ name: 'kept' });
      expect(result.conflicts).toEqual([
        { section: 'documents/agents', key: 'a2', backupRevision: 1, currentRevision: 2, overwritten: false },
      ]);
      const forced = await manager.restore('m', { mode: 'merge', overwrite: true });
      expect(forced.conflicts[0]?.overwritten).toBe(true);
      expect((await fixture.store.get('agents', 'a2'))?.value).toEqual({ name: 'critic' });
    });

    it('refuses a truncated backup or a flipped byte in any section, naming backup and section, touching nothing', async () => {
      const info = await manager.create({ name: 'good' });
      const bytes = await readFile(info.file);
      await fixture.store.put('agents', 'a1', { name: 'current' });
      const current = await contents(fixture.store);
      // Truncated at several points: inside the header, a section, the manifest, the trailer.
      for (const cut of [5, 40, Math.floor(bytes.length / 2), bytes.length - 200, bytes.length - 1]) {
        await writeFile(join(dir, 'cut.agsb'), bytes.subarray(0, cut));
        await expect(manager.restore('cut')).rejects.toMatchObject({
          code: 'CORRUPT_STATE',
          details: { backup: 'cut' },
        });
      }
      const { unreadable } = await manager.list();
      expect(unreadable.map((u) => u.name)).toEqual(['cut']);
      const manifest = await manager.manifest('good');
      for (const section of manifest.sections) {
        const flipped = Buffer.from(bytes);
        const at = section.offset + Math.floor(section.length / 2);
        flipped[at] = flipped[at]! ^ 0x20;
        await writeFile(join(dir, 'flip.agsb'), flipped);
        await expect(manager.verify('flip')).rejects.toMatchObject({
          code: 'CORRUPT_STATE',
          details: { backup: 'flip', section: section.name },
        });
        await expect(manager.restore('flip')).rejects.toMatchObject({ details: { section: section.name } });
      }
      expect(await contents(fixture.store)).toEqual(current);
    });

    it('refuses a backup of a newer format', async () => {
      const info = await manager.create({ name: 'new' });
      const bytes = await readFile(info.file);
      bytes.write('AGENTSTATE-BACKUP 9\n', 0, 'latin1');
      await writeFile(info.file, bytes);
      await expect(manager.restore('new')).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        details: { backup: 'new', section: 'manifest', formatVersion: 9 },
      });
    });
  });
}

describe('BackupManager names', () => {
  it('refuses names that are paths', async () => {
    const manager = new BackupManager({ dir: tmpdir(), sources: [] });
    await expect(manager.create({ name: '../escape' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(manager.restore('a/b')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});
