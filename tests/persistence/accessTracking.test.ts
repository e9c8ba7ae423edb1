/** trackAccess: read counts and last access time, written in batches, never one write per read. */
import { describe, expect, it } from 'vitest';
import { type BatchOperation, createMemoryStore, type DocumentStore, trackAccess } from '../../src/index.ts';

function countingWrites(store: DocumentStore) {
  const counts = { put: 0, batch: 0 };
  const wrapped: DocumentStore = {
    ...store,
    name: store.name,
    get: (n, i) => store.get(n, i),
    put: (n, i, v, o) => {
      counts.put++;
      return store.put(n, i, v, o);
    },
    batch: (ops: BatchOperation[]) => {
      counts.batch++;
      return store.batch(ops);
    },
    close: () => store.close(),
  };
  return { wrapped, counts };
}

describe('trackAccess', () => {
  it('counts reads in memory and writes them in one batch per flush', async () => {
    let time = 1000;
    const { wrapped, counts } = countingWrites(createMemoryStore());
    const store = trackAccess(wrapped, { flushIntervalMs: 60_000, now: () => time });
    await store.put('agents', 'a', 1);
    await store.put('agents', 'b', 2);
    for (let i = 0; i < 100; i++) {
      time++;
      await store.get('agents', i % 2 ? 'a' : 'b');
    }
    await store.get('agents', 'missing');
    expect(counts).toEqual({ put: 2, batch: 0 });
    expect(await store.accessInfo('agents', 'a')).toEqual({ count: 50, lastAccessAt: 1100 });
    await store.flush();
    expect(counts).toEqual({ put: 2, batch: 1 });
    await store.get('agents', 'a');
    await store.flush();
    expect(await store.accessInfo('agents', 'a')).toEqual({ count: 51, lastAccessAt: 1100 });
    expect(await store.accessInfo('agents', 'b')).toEqual({ count: 50, lastAccessAt: 1099 });
    expect(await store.accessInfo('agents', 'missing')).toBeUndefined();
    await store.close();
  });

  it('adds up the counts of several writers sharing a store', async () => {
    const shared = createMemoryStore();
    await shared.put('agents', 'a', 1);
    const one = trackAccess(shared, { flushIntervalMs: 60_000 });
    const two = trackAccess(shared, { flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) await Promise.all([one.get('agents', 'a'), two.get('agents', 'a')]);
    await Promise.all([one.flush(), two.flush()]);
    expect((await one.accessInfo('agents', 'a'))?.count).toBe(20);
    await shared.close();
  });
});
