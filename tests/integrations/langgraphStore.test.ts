/**
 * AgentStateStore (LangGraph BaseStore) on memory, SQLite and PostgreSQL: items, search with the official
 * filter operators, limit and offset, listNamespaces, and per-item TTL driven by the driver's clock.
 */
import { InMemoryStore } from '@langchain/langgraph-checkpoint';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStore, type DocumentStore, type ListOptions } from '../../src/drivers/index.ts';
import { AgentStateStore } from '../../src/integrations/langgraph/index.ts';
import { ManualClock } from '../support/clock.ts';
import { type DriverFactory, type DriverFixture, driverFactories } from '../support/drivers.ts';

const factories = driverFactories.filter((f) => ['memory', 'sqlite', 'postgres'].includes(f.name));
const available = new Map<string, boolean>();
for (const factory of factories) available.set(factory.name, await factory.available());

describe.each(factories.map((f) => [f.name, f] as [string, DriverFactory]))(
  'AgentStateStore on %s',
  (name, factory) => {
    let fixture: DriverFixture;
    let clock: ManualClock;
    let store: AgentStateStore;

    beforeEach(async (context) => {
      if (!available.get(name)) context.skip();
      clock = new ManualClock();
      fixture = await factory.create({ now: clock.now });
      store = new AgentStateStore(fixture.store);
    });
    afterEach(async () => {
      await fixture?.cleanup();
    });

    it('puts, gets, updates and deletes items by namespace and key', async () => {
      await store.put(['users', 'u1'], 'prefs', { theme: 'dark' });
      const item = await store.get(['users', 'u1'], 'prefs');
      expect(item).toMatchObject({ namespace: ['users', 'u1'], key: 'prefs', value: { theme: 'dark' } });
      expect(item?.createdAt).toBeInstanceOf(Date);
      clock.advance(1000);
      await store.put(['users', 'u1'], 'prefs', { theme: 'light' });
      const updated = await store.get(['users', 'u1'], 'prefs');
      expect(updated?.value).toEqual({ theme: 'light' });
      expect(updated?.createdAt.getTime()).toBe(item?.createdAt.getTime());
      expect(updated!.updatedAt.getTime()).toBeGreaterThan(item!.updatedAt.getTime());
      expect(await store.get(['users'], 'prefs')).toBeNull();
      await store.delete(['users', 'u1'], 'prefs');
      expect(await store.get(['users', 'u1'], 'prefs')).toBeNull();
      await expect(store.put([], 'k', {})).rejects.toThrow('Namespace cannot be empty');
      await expect(store.put(['a.b'], 'k', {})).rejects.toThrow(/periods/);
      await expect(store.put(['a\0b'], 'k', {})).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    });

    it('searches a namespace prefix with filters, limit and offset, as InMemoryStore does', async () => {
      const reference = new InMemoryStore();
      for (const target of [store, reference]) {
        for (let i = 0; i < 12; i++) {
          await target.put(['docs', i % 2 === 0 ? 'even' : 'odd'], `d${String(i).padStart(2, '0')}`, {
            n: i,
            kind: i % 3 === 0 ? 'fizz' : 'plain',
          });
        }
      }
      const keys = (items: Array<{ key: string }>) => items.map((item) => item.key).sort();
      for (const [prefix, options] of [
        [['docs'], { limit: 100 }],
        [['docs', 'even'], { limit: 100 }],
        [['docs'], { filter: { kind: 'fizz' }, limit: 100 }],
        [['docs'], { filter: { n: { $gte: 3, $lt: 7 } }, limit: 100 }],
        [['docs'], { filter: { n: { $in: [1, 2, 11] } }, limit: 100 }],
        [['docs'], { filter: { kind: { $ne: 'fizz' }, n: { $nin: [1, 2] } }, limit: 100 }],
      ] as const) {
        expect(keys(await store.search([...prefix], options))).toEqual(
          keys(await reference.search([...prefix], options)),
        );
      }
      // Whole labels: ['docs'] is not a prefix of ['docsother'] (InMemoryStore compares joined strings).
      await store.put(['docsother'], 'x', { n: 100, kind: 'fizz' });
      const all = await store.search(['docs'], { limit: 100 });
      expect(all).toHaveLength(12);
      const page = await store.search(['docs'], { limit: 5, offset: 10 });
      expect(page).toHaveLength(2);
      expect(await store.search(['docs'])).toHaveLength(10); // the official default limit
    });

    it('lists namespaces with prefix, suffix, maxDepth, limit and offset', async () => {
      await store.put(['a', 'x', '1'], 'k', {});
      await store.put(['a', 'y', '1'], 'k', {});
      await store.put(['b', 'x'], 'k', {});
      expect(await store.listNamespaces()).toEqual([
        ['a', 'x', '1'],
        ['a', 'y', '1'],
        ['b', 'x'],
      ]);
      expect(await store.listNamespaces({ prefix: ['a'] })).toEqual([
        ['a', 'x', '1'],
        ['a', 'y', '1'],
      ]);
      expect(await store.listNamespaces({ suffix: ['x'] })).toEqual([['b', 'x']]);
      expect(await store.listNamespaces({ prefix: ['*', 'x'] })).toEqual([
        ['a', 'x', '1'],
        ['b', 'x'],
      ]);
      expect(await store.listNamespaces({ maxDepth: 1 })).toEqual([['a'], ['b']]);
      expect(await store.listNamespaces({ limit: 1, offset: 1 })).toEqual([['a', 'y', '1']]);
    });

    it('expires items after their ttlMs, and refreshes them on read when asked', async () => {
      const expiring = new AgentStateStore(fixture.store, { ttlMs: 10_000, refreshOnRead: true });
      await expiring.put(['s'], 'a', { v: 1 });
      await expiring.putWithTtl(['s'], 'b', { v: 2 }, 2_000);
      await store.put(['s'], 'forever', { v: 3 });
      clock.advance(6_000);
      expect(await expiring.get(['s'], 'a')).not.toBeNull(); // read at 6 s: restarts its 10 s
      expect(await expiring.get(['s'], 'b')).toBeNull();
      clock.advance(6_000);
      expect((await expiring.search(['s'], { limit: 10 })).map((item) => item.key).sort()).toEqual([
        'a',
        'forever',
      ]);
      clock.advance(20_000);
      expect((await store.search(['s'], { limit: 10 })).map((item) => item.key)).toEqual(['forever']);
    });

    it('listNamespaces with a prefix reads only the items under it', async () => {
      await store.put(['a', 'x'], 'k', {});
      for (let i = 0; i < 30; i++) await store.put(['z', String(i)], 'k', {});
      const documents = fixture.store;
      const list = documents.list.bind(documents);
      let read = 0;
      documents.list = (async (namespace: string, options?: ListOptions) => {
        const page = await list(namespace, options);
        read += page.items.length;
        return page;
      }) as DocumentStore['list'];
      try {
        expect(await new AgentStateStore(documents).listNamespaces({ prefix: ['a'] })).toEqual([['a', 'x']]);
      } finally {
        documents.list = list;
      }
      expect(read).toBe(1);
    });

    it('listNamespaces without a prefix reads one item per namespace, and lists as InMemoryStore', async () => {
      const reference = new InMemoryStore();
      for (const target of [store, reference]) {
        for (let i = 0; i < 40; i++) await target.put(['many'], `k${i}`, {});
        for (const ns of [['a'], ['a', 'x'], ['a', 'y', 'x'], ['b', 'x'], ['b', 'y'], ['c10'], ['c2']]) {
          await target.put(ns, 'k1', {});
          await target.put(ns, 'k2', {});
        }
      }
      const documents = fixture.store;
      const list = documents.list.bind(documents);
      let read = 0;
      documents.list = (async (namespace: string, options?: ListOptions) => {
        const page = await list(namespace, options);
        read += page.items.length;
        return page;
      }) as DocumentStore['list'];
      try {
        expect(await store.listNamespaces()).toEqual(await reference.listNamespaces());
        expect(read).toBe(8);
        read = 0;
        expect(await store.listNamespaces({ maxDepth: 1 })).toEqual(
          await reference.listNamespaces({ maxDepth: 1 }),
        );
        expect(read).toBe(5);
        for (const options of [
          { suffix: ['x'], maxDepth: 1 },
          { prefix: ['a'], maxDepth: 2 },
          { prefix: ['*', 'y'] },
          { limit: 2, offset: 3 },
        ]) {
          expect(await store.listNamespaces(options)).toEqual(await reference.listNamespaces(options));
        }
      } finally {
        documents.list = list;
      }
    });

    it('a refresh on read writes only the expiry: value, revision and update time stay', async () => {
      const expiring = new AgentStateStore(fixture.store, { ttlMs: 10_000, refreshOnRead: true });
      await expiring.put(['s'], 'a', { v: 1 });
      const [stored] = (await fixture.store.list('langgraph.store')).items;
      clock.advance(6_000);
      expect((await expiring.get(['s'], 'a'))?.value).toEqual({ v: 1 });
      const after = await fixture.store.get('langgraph.store', stored!.id);
      expect(after).toMatchObject({ revision: stored!.revision, updatedAt: stored!.updatedAt });
      expect(after?.expiresAt).toBe(clock.now() + 10_000);
    });

    it('a refresh on read that fails for another reason than a concurrent write reports it', async () => {
      const expiring = new AgentStateStore(fixture.store, { ttlMs: 10_000, refreshOnRead: true });
      await expiring.put(['s'], 'a', { v: 1 });
      const documents = fixture.store;
      const { touch, put } = documents;
      const gone = async () => {
        throw new Error('storage is gone');
      };
      if (touch) documents.touch = gone;
      documents.put = gone;
      try {
        await expect(expiring.get(['s'], 'a')).rejects.toThrow('storage is gone');
      } finally {
        documents.touch = touch;
        documents.put = put;
      }
    });
  },
);

describe('AgentStateStore on a driver without touch', () => {
  it('refreshes an item read by writing it again with compare-and-set', async () => {
    const clock = new ManualClock();
    const memory = createMemoryStore({ now: clock.now });
    const documents: DocumentStore = { ...memory, touch: undefined };
    const expiring = new AgentStateStore(documents, { ttlMs: 10_000, refreshOnRead: true });
    await expiring.put(['s'], 'a', { v: 1 });
    clock.advance(6_000);
    expect(await expiring.get(['s'], 'a')).not.toBeNull();
    clock.advance(6_000);
    expect((await expiring.get(['s'], 'a'))?.value).toEqual({ v: 1 });
    await memory.close();
  });
});
