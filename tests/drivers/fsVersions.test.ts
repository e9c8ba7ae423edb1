/** The filesystem driver's keepVersions: earlier versions kept beside each document, listed and readable. */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsStore, isAgentStateError } from '../../src/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentstate-versions-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('filesystem driver keepVersions', () => {
  it('keeps the last n versions before overwrites and deletes, newest first', async () => {
    const store = createFsStore({
      dir,
      keepVersions: 2,
      durable: false,
      compression: 'gzip',
      compressAboveBytes: 0,
    });
    for (let n = 1; n <= 4; n++) await store.put('agents', 'a1', { n, text: 'x'.repeat(200) });
    expect((await store.versions('agents', 'a1')).map((v) => v.revision)).toEqual([3, 2]);
    expect((await store.getVersion('agents', 'a1', 3))?.value).toEqual({ n: 3, text: 'x'.repeat(200) });
    expect(await store.getVersion('agents', 'a1', 1)).toBeUndefined();
    await store.delete('agents', 'a1');
    expect((await store.versions('agents', 'a1')).map((v) => v.revision)).toEqual([4, 3]);
    expect((await store.getVersion('agents', 'a1', 4))?.value).toMatchObject({ n: 4 });
    // Versions are not documents: listing and reopening see only the live ones.
    expect((await store.list('agents')).items).toEqual([]);
    await store.close();
    const again = createFsStore({ dir });
    expect(await again.get('agents', 'a1')).toBeUndefined();
    expect((await again.versions('agents', 'a1')).map((v) => v.revision)).toEqual([4, 3]);
    await again.close();
  });

  it('keeps versions of documents a batch replaces', async () => {
    const store = createFsStore({ dir, keepVersions: 5, durable: false });
    await store.put('s', 'x', 1);
    await store.put('s', 'y', 1);
    await store.batch([
      { type: 'put', namespace: 's', id: 'x', value: 2 },
      { type: 'delete', namespace: 's', id: 'y' },
    ]);
    expect((await store.getVersion('s', 'x', 1))?.value).toBe(1);
    expect((await store.getVersion('s', 'y', 1))?.value).toBe(1);
    await store.close();
  });

  it('keeps nothing by default and refuses a bad keepVersions', async () => {
    const store = createFsStore({ dir, durable: false });
    await store.put('s', 'x', 1);
    await store.put('s', 'x', 2);
    expect(await store.versions('s', 'x')).toEqual([]);
    await store.close();
    let caught: unknown;
    try {
      createFsStore({ dir, keepVersions: -1 });
    } catch (error) {
      caught = error;
    }
    expect(isAgentStateError(caught, 'INVALID_INPUT')).toBe(true);
  });

  it('keeps the versions of earlier lives when a document is deleted and created again', async () => {
    const store = createFsStore({ dir, keepVersions: 3, durable: true });
    await store.put('s', 'x', 'first life 1');
    await store.put('s', 'x', 'first life 2');
    await store.delete('s', 'x');
    await store.put('s', 'x', 'second life 1');
    await store.put('s', 'x', 'second life 2');
    const versions = await store.versions('s', 'x');
    // Newest first by sequence; revisions restart at 1 in the second life.
    expect(versions.map((v) => [v.sequence, v.revision])).toEqual([
      [3, 1],
      [2, 2],
      [1, 1],
    ]);
    expect((await store.getVersion('s', 'x', { sequence: 1 }))?.value).toBe('first life 1');
    expect((await store.getVersion('s', 'x', { sequence: 2 }))?.value).toBe('first life 2');
    expect((await store.getVersion('s', 'x', 1))?.value).toBe('second life 1'); // newest with revision 1
    await store.put('s', 'x', 'second life 3');
    expect((await store.versions('s', 'x')).map((v) => v.sequence)).toEqual([4, 3, 2]);
    expect((await store.getVersion('s', 'x', { sequence: 4 }))?.value).toBe('second life 2');
    expect((await store.getVersion('s', 'x', { sequence: 2 }))?.value).toBe('first life 2');
    await store.close();
  });

  it('leaves out and reports a damaged kept version instead of failing for all', async () => {
    const reported: unknown[] = [];
    const store = createFsStore({
      dir,
      keepVersions: 3,
      durable: false,
      onCorruption: (error) => reported.push(error),
    });
    for (let n = 1; n <= 3; n++) await store.put('s', 'x', n);
    const versionDir = join(dir, 's', '.versions');
    const [file] = await readdir(versionDir);
    const damaged = join(versionDir, file!, (await readdir(join(versionDir, file!))).sort()[0]!);
    await writeFile(damaged, 'not a document');
    expect((await store.versions('s', 'x')).map((v) => v.revision)).toEqual([2]);
    expect(reported).toHaveLength(1);
    expect(isAgentStateError(reported[0], 'CORRUPT_STATE')).toBe(true);
    await store.close();
  });
});
