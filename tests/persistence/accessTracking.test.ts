/** trackAccess: read counts and last access time, written in batches, never one write per read. */
import { describe, expect, it } from 'vitest';
import {
  type BackgroundErrorContext,
  type BatchOperation,
  createMemoryStore,
  type DocumentStore,
  isAgentStateError,
  trackAccess,
} from '../../src/index.ts';
import { eventually } from '../conformance/documentStore.ts';

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

  it('counts documents whose ids are as long as ids may be, beside the others', async () => {
    const store = trackAccess(createMemoryStore(), { flushIntervalMs: 60_000 });
    const long = 'x'.repeat(1024);
    await store.put('agents', long, 1);
    await store.put('agents', 'short', 2);
    await store.get('agents', long);
    await store.get('agents', 'short');
    await store.flush();
    expect((await store.accessInfo('agents', long))?.count).toBe(1);
    expect((await store.accessInfo('agents', 'short'))?.count).toBe(1);
    // The count document names what it counts.
    const counts = await store.list<{ namespace: string; id: string }>('agentstate.access');
    expect(counts.items.map((d) => d.value.id).sort()).toEqual(['short', long]);
    await store.close();
  });

  it('writes the other counts when one key fails, and leaves that one out after 5 flushes, reported', async () => {
    const inner = createMemoryStore();
    const failing: DocumentStore = {
      ...inner,
      name: inner.name,
      get: (n, i) => inner.get(n, i),
      put: (n, i, v, o) => inner.put(n, i, v, o),
      batch: async (ops: BatchOperation[]) => {
        if (ops.some((op) => op.type === 'put' && (op.value as { id?: string }).id === 'bad'))
          throw new Error('disk says no');
        return inner.batch(ops);
      },
      list: (n, o) => inner.list(n, o),
      close: () => inner.close(),
    };
    const reported: unknown[] = [];
    const store = trackAccess(failing, { flushIntervalMs: 60_000, onError: (e) => reported.push(e) });
    await store.put('agents', 'good', 1);
    await store.put('agents', 'bad', 1);
    await store.get('agents', 'good');
    await store.get('agents', 'bad');
    await expect(store.flush()).rejects.toThrow(/1 of 2 documents/);
    expect((await store.accessInfo('agents', 'good'))?.count).toBe(1);
    await store.get('agents', 'good');
    for (let i = 0; i < 4; i++) await store.flush().catch(() => {});
    expect((await store.accessInfo('agents', 'good'))?.count).toBe(2);
    expect(reported).toHaveLength(1);
    expect(isAgentStateError(reported[0], 'CAPACITY_EXCEEDED')).toBe(true);
    expect(String(reported[0])).toContain('agents/bad');
    expect(await store.accessInfo('agents', 'bad')).toBeUndefined(); // left out, no longer retried
    await store.flush();
    await store.close();
  });

  it('never keeps more than maxPendingKeys counts: the oldest is left out and reported', async () => {
    const inner = createMemoryStore();
    const down: DocumentStore = {
      ...inner,
      name: inner.name,
      get: (n, i) => inner.get(n, i),
      put: (n, i, v, o) => inner.put(n, i, v, o),
      batch: async () => {
        throw new Error('store unavailable');
      },
      close: () => inner.close(),
    };
    const reported: unknown[] = [];
    const store = trackAccess(down, {
      flushIntervalMs: 60_000,
      maxPendingKeys: 3,
      onError: (e) => reported.push(e),
    });
    for (let i = 0; i < 10; i++) await store.put('docs', `d${i}`, i);
    for (let i = 0; i < 10; i++) await store.get('docs', `d${i}`);
    await store.flush().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 10));
    const known = await Promise.all(Array.from({ length: 10 }, (_, i) => store.accessInfo('docs', `d${i}`)));
    expect(known.filter((info) => info !== undefined).length).toBeLessThanOrEqual(3);
    expect(known.at(-1)?.count).toBe(1); // the newest is kept
    const leftOut = reported.filter((e) => isAgentStateError(e, 'CAPACITY_EXCEEDED'));
    expect(leftOut.length).toBeGreaterThanOrEqual(7);
    expect(String(leftOut[0])).toMatch(/access count of docs\/d\d .*maxPendingKeys/);
    await store.close().catch(() => {});
  });

  it('reports a failing background flush through onError', async () => {
    const inner = createMemoryStore();
    const down: DocumentStore = {
      ...inner,
      name: inner.name,
      get: (n, i) => inner.get(n, i),
      put: (n, i, v, o) => inner.put(n, i, v, o),
      batch: async () => {
        throw new Error('store unavailable');
      },
      close: () => inner.close(),
    };
    const reported: Array<[unknown, BackgroundErrorContext]> = [];
    const store = trackAccess(down, {
      flushIntervalMs: 10,
      onError: (error, context) => reported.push([error, context]),
    });
    await store.put('docs', 'd', 1);
    await store.get('docs', 'd');
    await eventually(() => reported.length > 0, 2000);
    expect(String(reported[0]![0])).toContain('store unavailable');
    expect(reported[0]![1]).toEqual({
      source: 'access tracking flush',
      details: { namespace: 'agentstate.access' },
    });
    await store.close();
  });
});
