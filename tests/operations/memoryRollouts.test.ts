/**
 * The in-memory rollout store backs up and restores like the SQL ones: memory -> SQLite -> memory keeps
 * every rollout, attempt, span, resource and worker, the queue order and the span counters; a restore that
 * fails changes nothing; merge reports rows that differ.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackupManager,
  InMemoryRolloutStore,
  memoryRolloutSource,
  SqliteRolloutStore,
  sqliteSource,
} from '../../src/index.ts';
import { rolloutSnapshot, seedRollouts } from './fixtures.ts';

describe('memoryRolloutSource', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-memrollouts-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips memory -> SQLite -> memory with every row, the queue order and the span counters', async () => {
    const memory = new InMemoryRolloutStore();
    await seedRollouts(memory);
    const original = await rolloutSnapshot(memory);
    const manager = new BackupManager({
      dir: join(dir, 'b'),
      sources: [memoryRolloutSource({ store: memory })],
    });
    const info = await manager.create({ name: 'mem' });
    expect(info.sections.find((s) => s.name === 'rollouts/agl_spans')?.count).toBe(18);

    const file = join(dir, 'from-memory.db');
    await manager.restore('mem', { target: [sqliteSource({ path: file })] });
    const sqlite = new SqliteRolloutStore({ path: file });
    expect(await rolloutSnapshot(sqlite)).toEqual(original);

    const back = new BackupManager({ dir: join(dir, 'b'), sources: [sqliteSource({ path: file })] });
    await back.create({ name: 'sqlite' });
    const again = new InMemoryRolloutStore();
    await again.startRollout({ input: 'replaced' });
    await back.restore('sqlite', { target: [memoryRolloutSource({ store: again })] });
    expect(await rolloutSnapshot(again)).toEqual(original);

    // The queue and the counters came back: next dequeue and sequence id match the original's.
    const some = (original.rollouts as Array<{ rolloutId: string }>)[0]!.rolloutId;
    expect(await again.getNextSpanSequenceId(some, 'a')).toBe(await memory.getNextSpanSequenceId(some, 'a'));
    for (let k = 0; k < 3; k++) {
      const expected = (await memory.dequeueRollout())?.input;
      expect((await again.dequeueRollout())?.input).toBe(expected);
      expect((await sqlite.dequeueRollout())?.input).toBe(expected);
    }
    await sqlite.close();
    await memory.close();
    await again.close();
  });

  it('merge reports differing rows and keeps them; a refused restore leaves the store as it was', async () => {
    const memory = new InMemoryRolloutStore();
    await seedRollouts(memory, 3);
    const manager = new BackupManager({
      dir: join(dir, 'm'),
      sources: [memoryRolloutSource({ store: memory })],
    });
    await manager.create({ name: 'before' });
    const [first] = (await memory.queryRollouts({ limit: 1 })).items;
    await memory.updateRollout(first!.rolloutId, { metadata: { changed: true } });
    await memory.startRollout({ input: 'added later' });
    const changed = await rolloutSnapshot(memory);
    const result = await manager.restore('before', { mode: 'merge' });
    expect(result.conflicts.map((c) => c.key)).toContain(first!.rolloutId);
    expect(await rolloutSnapshot(memory)).toEqual(changed);

    // A span budget too small for the backup refuses the restore; nothing changes.
    const tiny = new InMemoryRolloutStore({ maxSpanBytes: 10 });
    await tiny.startRollout({ input: 'kept' });
    const kept = await rolloutSnapshot(tiny);
    await expect(
      manager.restore('before', { target: [memoryRolloutSource({ store: tiny })] }),
    ).rejects.toThrow();
    expect(await rolloutSnapshot(tiny)).toEqual(kept);
    await memory.close();
    await tiny.close();
  });
});
