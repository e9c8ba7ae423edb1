/** CachedStore: bounds, statistics, read-after-write, and invalidation by another writer's changes. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type BackgroundErrorContext,
  createCachedStore,
  createMemoryStore,
  createSqliteStore,
  type DocumentStore,
} from '../../src/index.ts';
import { eventually } from '../conformance/documentStore.ts';

describe('CachedStore', () => {
  it('counts hits and misses, evicts by entries and by bytes, and never returns an old value', async () => {
    const cached = createCachedStore(createMemoryStore(), { maxEntries: 3, maxBytes: 10_000 });
    for (const id of ['a', 'b', 'c', 'd']) await cached.put('docs', id, { id });
    expect(cached.stats()).toMatchObject({ entries: 3, evictions: 1 });
    expect((await cached.get('docs', 'd'))?.value).toEqual({ id: 'd' });
    expect((await cached.get('docs', 'a'))?.value).toEqual({ id: 'a' }); // evicted: read through
    expect(cached.stats()).toMatchObject({ hits: 1, misses: 1, hitRate: 0.5 });
    await cached.put('docs', 'a', { id: 'a', v: 2 });
    expect((await cached.get('docs', 'a'))?.value).toEqual({ id: 'a', v: 2 });
    await cached.delete('docs', 'a');
    expect(await cached.get('docs', 'a')).toBeUndefined();
    // A value bigger than the byte bound is served but not kept.
    await cached.put('docs', 'big', { text: 'x'.repeat(20_000) });
    expect(cached.stats().bytes).toBeLessThanOrEqual(10_000);
    expect((await cached.get('docs', 'big'))?.value).toEqual({ text: 'x'.repeat(20_000) });
    await cached.close();
  });

  it('hands out frozen shared values', async () => {
    const cached = createCachedStore(createMemoryStore());
    await cached.put('docs', 'a', { list: [1] });
    const first = await cached.get<{ list: number[] }>('docs', 'a');
    const second = await cached.get<{ list: number[] }>('docs', 'a');
    expect(first).toBe(second);
    expect(Object.isFrozen(first!.value.list)).toBe(true);
    await cached.close();
  });

  it('peek answers synchronously from the cache only: the same frozen document as get, never an old or expired one', async () => {
    let clock = 1_000_000;
    const store = createMemoryStore({ now: () => clock });
    const cached = createCachedStore(store, { now: () => clock });
    expect(cached.peek('docs', 'a')).toBeUndefined();
    await cached.put('docs', 'a', { list: [1] });
    const peeked = cached.peek<{ list: number[] }>('docs', 'a');
    expect(peeked?.value).toEqual({ list: [1] });
    expect(peeked).toBe(await cached.get('docs', 'a'));
    expect(Object.isFrozen(peeked!.value.list)).toBe(true);
    // A read after a write in this process sees the write; a delete leaves nothing to peek.
    await cached.put('docs', 'a', { list: [2] });
    expect(cached.peek<{ list: number[] }>('docs', 'a')?.value).toEqual({ list: [2] });
    await cached.delete('docs', 'a');
    expect(cached.peek('docs', 'a')).toBeUndefined();
    // Never reads the store: a document only the store holds is not peeked (and no miss is counted).
    await store.put('docs', 'b', 1);
    const before = cached.stats();
    expect(cached.peek('docs', 'b')).toBeUndefined();
    expect(cached.stats().misses).toBe(before.misses);
    // A document past its own expiry is not served.
    await cached.put('docs', 'c', 'soon', { ttlMs: 1000 });
    expect(cached.peek('docs', 'c')?.value).toBe('soon');
    clock += 1001;
    expect(cached.peek('docs', 'c')).toBeUndefined();
    expect(cached.stats().hits).toBe(before.hits + 1);
    await cached.close();
  });

  it('is invalidated by a write through another connection (the change feed)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentstate-cache-'));
    const path = join(dir, 'state.db');
    const cached = createCachedStore(createSqliteStore({ path, watchPollMs: 20 }));
    const other = createSqliteStore({ path });
    try {
      await cached.put('docs', 'x', 1);
      expect((await cached.get('docs', 'x'))?.value).toBe(1);
      await other.put('docs', 'x', 2);
      await eventually(() => cached.stats().invalidations === 1, 2000);
      expect((await cached.get('docs', 'x'))?.value).toBe(2);
      await other.delete('docs', 'x');
      await eventually(() => cached.stats().invalidations === 2, 2000);
      expect(await cached.get('docs', 'x')).toBeUndefined();
    } finally {
      await cached.close();
      await other.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses bounds that are not positive', () => {
    expect(() => createCachedStore(createMemoryStore(), { maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => createCachedStore(createMemoryStore(), { ttlMs: -1 })).toThrow(/ttlMs/);
  });

  it('keeps no stale value when two writes of one key overlap and return out of order', async () => {
    const inner = createMemoryStore();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holdNext = true;
    let firstStored = false;
    // The first put is stored at once but its answer is held back, so the second one returns first.
    const slow: DocumentStore = {
      name: inner.name,
      get: (ns, id) => inner.get(ns, id),
      put: async (ns, id, value, opts) => {
        const hold = holdNext;
        holdNext = false;
        const doc = await inner.put(ns, id, value, opts);
        if (hold) {
          firstStored = true;
          await held;
        }
        return doc;
      },
      delete: (ns, id, opts) => inner.delete(ns, id, opts),
      list: (ns, opts) => inner.list(ns, opts),
      listNamespaces: (opts) => inner.listNamespaces(opts),
      batch: (ops) => inner.batch(ops),
      watch: (ns, listener) => inner.watch(ns, listener),
      sweepExpired: () => inner.sweepExpired(),
      close: () => inner.close(),
    };
    const cached = createCachedStore(slow);
    const first = cached.put('docs', 'k', 'A');
    await eventually(() => firstStored, 2000);
    const second = await cached.put('docs', 'k', 'B');
    expect(second.revision).toBe(2);
    release();
    expect((await first).revision).toBe(1);
    const read = await cached.get('docs', 'k');
    expect(read?.value).toBe('B');
    expect(read?.revision).toBe(2);
    await cached.close();
  });
});

describe('CachedStore and a change feed that was interrupted', () => {
  it('drops every entry when the store reports that events may have been missed', async () => {
    const inner = createMemoryStore();
    let reset: (() => void) | undefined;
    const store: DocumentStore = {
      name: inner.name,
      get: (ns, id) => inner.get(ns, id),
      put: (ns, id, value, opts) => inner.put(ns, id, value, opts),
      delete: (ns, id, opts) => inner.delete(ns, id, opts),
      list: (ns, opts) => inner.list(ns, opts),
      listNamespaces: (opts) => inner.listNamespaces(opts),
      batch: (ops) => inner.batch(ops),
      watch: (ns, listener, options) => {
        reset = options?.onReset;
        return inner.watch(ns, listener, options);
      },
      sweepExpired: () => inner.sweepExpired(),
      close: () => inner.close(),
    };
    const cached = createCachedStore(store);
    await cached.put('docs', 'x', 1);
    expect(cached.stats().entries).toBe(1);
    // Another process wrote while the feed was down: no event will ever say so.
    await inner.put('docs', 'y', 0);
    expect(reset).toBeTypeOf('function');
    reset!();
    expect(cached.stats().entries).toBe(0);
    expect((await cached.get('docs', 'x'))?.value).toBe(1);
    expect(cached.stats().misses).toBe(1);
    await cached.close();
  });

  it('reports an invalidation feed that cannot open through onError; the next call throws it', async () => {
    const inner = createMemoryStore();
    const noFeed = Object.assign(Object.create(inner) as typeof inner, {
      watch: async () => {
        throw new Error('feed down');
      },
    });
    const reported: Array<[unknown, BackgroundErrorContext]> = [];
    const cached = createCachedStore(noFeed, {
      onError: (error, context) => reported.push([error, context]),
    });
    await eventually(() => reported.length > 0, 2000);
    expect((reported[0]![0] as Error).message).toBe('feed down');
    expect(reported[0]![1]).toEqual({ source: 'CachedStore invalidation feed', details: { what: 'watch' } });
    await expect(cached.get('docs', 'x')).rejects.toThrow('feed down');
    await cached.close();
  });
});
