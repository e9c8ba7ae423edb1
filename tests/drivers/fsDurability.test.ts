import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { namespaceDirName } from '../../src/drivers/fs/fileNames.ts';
import { createFsStore } from '../../src/index.ts';
import { killWriterMidStream } from './fixtures/children.ts';

describe('filesystem driver durability', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-fs-kill-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged write when the writing process is killed with SIGKILL', async () => {
    const acked = await killWriterMidStream('fs', dir, 40);
    expect(acked.length).toBeGreaterThanOrEqual(40);
    // The dead writer's lock is taken over, interrupted batches are completed from their journal.
    const store = createFsStore({ dir });
    try {
      for (const id of acked) expect((await store.get<{ id: string }>('acked', id))?.value.id).toBe(id);
      const listed = new Set<string>();
      let cursor: string | undefined;
      do {
        const page = await store.list('acked', { limit: 1000, ...(cursor && { cursor }) });
        for (const doc of page.items) listed.add(doc.id);
        cursor = page.cursor;
      } while (cursor);
      for (const id of acked) expect(listed.has(id)).toBe(true);
      const names = await readdir(join(dir, namespaceDirName('acked')));
      expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
      expect(await readdir(join(dir, '.journal')).catch(() => [])).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
