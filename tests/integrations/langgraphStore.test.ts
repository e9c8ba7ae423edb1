/**
 * AgentStateStore (LangGraph BaseStore) on memory, SQLite and PostgreSQL: items, search with the official
 * filter operators, limit and offset, listNamespaces, and per-item TTL driven by the driver's clock.
 */
import { InMemoryStore } from '@langchain/langgraph-checkpoint';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
  },
);
