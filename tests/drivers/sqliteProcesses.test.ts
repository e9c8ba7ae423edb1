import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/index.ts';
import { eventually } from '../conformance/documentStore.ts';
import { killWriterMidStream, startChild } from './fixtures/children.ts';

describe('SQLite driver across processes', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentstate-sqlite-procs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loses no update when two processes increment one document with compare-and-set', async () => {
    const path = join(dir, 'state.db');
    const perProcess = 300;
    // A third process watches: it must see every increment, in order, through the change log.
    const watcher = createSqliteStore({ path, watchPollMs: 10 });
    const seen: number[] = [];
    await watcher.watch('race', (event) => seen.push(event.revision));
    const children = [0, 1].map(() => startChild('sqlite-cas-incrementer.ts', [path, String(perProcess)]));
    await Promise.all(children.map((c) => c.ready));
    for (const child of children) child.go();
    const outputs = await Promise.all(children.map((c) => c.done));
    const conflicts = outputs.map((o) => (JSON.parse(o) as { conflicts: number }).conflicts);
    // The test means something only if the two processes really raced for the same revision.
    expect(conflicts[0]! + conflicts[1]!).toBeGreaterThan(0);
    await eventually(() => seen.length >= 2 * perProcess);
    await watcher.close();
    expect(seen).toEqual(Array.from({ length: 2 * perProcess }, (_, i) => i + 1));
    const store = createSqliteStore({ path });
    try {
      // Every successful compare-and-set is one increment: the value equals the number of successes.
      expect(await store.get('race', 'counter')).toMatchObject({
        value: 2 * perProcess,
        revision: 2 * perProcess,
      });
    } finally {
      await store.close();
    }
  });

  it('keeps every acknowledged write when the writing process is killed with SIGKILL', async () => {
    const path = join(dir, 'state.db');
    const acked = await killWriterMidStream('sqlite', path, 40);
    expect(acked.length).toBeGreaterThanOrEqual(40);
    const store = createSqliteStore({ path });
    try {
      for (const id of acked) expect((await store.get<{ id: string }>('acked', id))?.value.id).toBe(id);
    } finally {
      await store.close();
    }
  });
});
