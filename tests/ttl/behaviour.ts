/**
 * The behaviour every TtlStoreLike must show, run against each implementation listed in
 * `ttlStoreFactories` (memory with a manual clock, Redis with real time and short TTLs).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { isAgentStateError, RedisTtlStore, TtlStore, type TtlStoreLike } from '../../src/index.ts';
import { ManualClock } from '../support/clock.ts';
import { REDIS_URL, redisAvailable, uniqueName } from '../support/services.ts';

/** One isolated store for one test, and how time passes for it. */
export interface TtlStoreFixture {
  store: TtlStoreLike;
  /** A TTL short enough to wait out in a test. */
  shortTtlMs: number;
  /** Lets `ms` pass for the store (advances a manual clock, or really waits). */
  elapse(ms: number): Promise<void>;
  /** A second store on the same data (another process's view), when the backend has one. */
  peer?(): TtlStoreLike;
  cleanup(): Promise<void>;
}

/** How to make fixtures of one implementation. */
export interface TtlStoreFactory {
  name: string;
  available(): Promise<boolean>;
  create(): Promise<TtlStoreFixture>;
}

/** Every implementation; a new one is one entry here. */
export const ttlStoreFactories: TtlStoreFactory[] = [
  {
    name: 'memory',
    available: async () => true,
    create: async () => {
      const clock = new ManualClock();
      const store = new TtlStore({ now: clock.now });
      return {
        store,
        shortTtlMs: 1000,
        elapse: async (ms) => clock.advance(ms),
        cleanup: async () => store.close(),
      };
    },
  },
  {
    name: 'redis',
    available: () => redisAvailable(),
    create: async () => {
      const client = new Redis(REDIS_URL);
      const prefix = `${uniqueName('ttltest')}:`;
      const store = new RedisTtlStore({ redis: client, prefix });
      return {
        store,
        shortTtlMs: 40,
        elapse: (ms) => sleep(ms),
        peer: () => new RedisTtlStore({ redis: client, prefix }),
        cleanup: async () => {
          const keys = await client.keys(`${prefix}*`);
          if (keys.length > 0) await client.del(...keys);
          await store.close();
          await client.quit();
        },
      };
    },
  },
];

async function expectInvalid(promise: () => unknown, key: string): Promise<void> {
  try {
    await promise();
  } catch (error) {
    expect(isAgentStateError(error, 'INVALID_INPUT'), String(error)).toBe(true);
    expect(JSON.stringify((error as { details: unknown }).details)).toContain(key);
    return;
  }
  throw new Error('expected an INVALID_INPUT error');
}

/** Registers the shared behaviour tests for one factory. */
export function ttlStoreBehaviour(factory: TtlStoreFactory, ok: boolean): void {
  describe.skipIf(!ok)(`TtlStoreLike behaviour: ${factory.name}`, () => {
    async function withStore(fn: (f: TtlStoreFixture) => Promise<void>): Promise<void> {
      const fixture = await factory.create();
      try {
        await fn(fixture);
      } finally {
        await fixture.cleanup();
      }
    }

    it('stores, reads, checks and deletes values', () =>
      withStore(async ({ store }) => {
        await store.set('a', { n: 1, tags: ['x'] });
        expect(await store.get('a')).toEqual({ n: 1, tags: ['x'] });
        expect(await store.has('a')).toBe(true);
        expect(await store.get('missing')).toBeUndefined();
        expect(await store.get('missing', 'fallback')).toBe('fallback');
        expect(await store.has('missing')).toBe(false);
        expect(await store.delete('a')).toBe(true);
        expect(await store.delete('a')).toBe(false);
        expect(await store.get('a', 0)).toBe(0);
      }));

    it('keeps falsy values apart from missing keys', () =>
      withStore(async ({ store }) => {
        await store.set('zero', 0);
        await store.set('empty', '');
        await store.set('no', false);
        await store.set('nothing', null);
        expect(await store.get('zero', 'fb')).toBe(0);
        expect(await store.get('empty', 'fb')).toBe('');
        expect(await store.get('no', 'fb')).toBe(false);
        expect(await store.get('nothing', 'fb')).toBeNull();
        expect(await store.size).toBe(4);
      }));

    it('never returns an expired key from any read', () =>
      withStore(async ({ store, shortTtlMs, elapse }) => {
        await store.set('gone', 'v', { ttlMs: shortTtlMs });
        await store.set('stays', 'v');
        expect(await store.get('gone')).toBe('v');
        await elapse(shortTtlMs * 2);
        expect(await store.get('gone')).toBeUndefined();
        expect(await store.has('gone')).toBe(false);
        expect(await store.ttl('gone')).toBeUndefined();
        expect(await store.keys()).toEqual(['stays']);
        expect(await store.entries()).toEqual([['stays', 'v']]);
        expect(await store.size).toBe(1);
        expect(await store.delete('gone')).toBe(false);
      }));

    it('set without ttlMs removes an earlier expiry', () =>
      withStore(async ({ store, shortTtlMs, elapse }) => {
        await store.set('k', 1, { ttlMs: shortTtlMs });
        await store.set('k', 2);
        expect(await store.ttl('k')).toBeUndefined();
        await elapse(shortTtlMs * 2);
        expect(await store.get('k')).toBe(2);
      }));

    it('set with a new ttlMs replaces the expiry, longer or shorter', () =>
      withStore(async ({ store, shortTtlMs, elapse }) => {
        await store.set('longer', 1, { ttlMs: shortTtlMs });
        await store.set('longer', 2, { ttlMs: shortTtlMs * 100 });
        await store.set('shorter', 1, { ttlMs: shortTtlMs * 100 });
        await store.set('shorter', 2, { ttlMs: shortTtlMs });
        await elapse(shortTtlMs * 2);
        expect(await store.get('longer')).toBe(2);
        expect(await store.get('shorter')).toBeUndefined();
      }));

    it('reports the remaining ttl, and changes it with expire and persist', () =>
      withStore(async ({ store, shortTtlMs, elapse }) => {
        await store.set('k', 'v', { ttlMs: 60_000 });
        const remaining = await store.ttl('k');
        expect(remaining).toBeGreaterThan(50_000);
        expect(remaining).toBeLessThanOrEqual(60_000);
        expect(await store.ttl('missing')).toBeUndefined();
        expect(await store.expire('k', shortTtlMs)).toBe(true);
        expect(await store.ttl('k')).toBeLessThanOrEqual(shortTtlMs);
        expect(await store.expire('missing', 1000)).toBe(false);
        expect(await store.persist('k')).toBe(true);
        expect(await store.persist('k')).toBe(false);
        expect(await store.ttl('k')).toBeUndefined();
        await elapse(shortTtlMs * 2);
        expect(await store.get('k')).toBe('v');
        expect(await store.expire('k', shortTtlMs)).toBe(true);
        await elapse(shortTtlMs * 2);
        expect(await store.has('k')).toBe(false);
      }));

    it('setIfAbsent stores only when missing or expired', () =>
      withStore(async ({ store, shortTtlMs, elapse }) => {
        expect(await store.setIfAbsent('k', 1, { ttlMs: shortTtlMs })).toBe(true);
        expect(await store.setIfAbsent('k', 2)).toBe(false);
        expect(await store.get('k')).toBe(1);
        await elapse(shortTtlMs * 2);
        expect(await store.setIfAbsent('k', 3)).toBe(true);
        expect(await store.get('k')).toBe(3);
        expect(await store.ttl('k')).toBeUndefined();
      }));

    it('increments counters; a new counter gets the ttl, an existing one keeps its expiry', () =>
      withStore(async ({ store, shortTtlMs, elapse }) => {
        expect(await store.increment('hits')).toBe(1);
        expect(await store.increment('hits', 5)).toBe(6);
        expect(await store.increment('hits', -2.5)).toBe(3.5);
        expect(await store.get('hits')).toBe(3.5);
        expect(await store.increment('f', 0.1)).toBe(0.1);
        expect(await store.increment('f', 0.2)).toBe(0.1 + 0.2);
        expect(await store.increment('window', 1, { ttlMs: shortTtlMs })).toBe(1);
        expect(await store.increment('window', 1, { ttlMs: shortTtlMs * 100 })).toBe(2);
        expect(await store.ttl('window')).toBeLessThanOrEqual(shortTtlMs);
        await elapse(shortTtlMs * 2);
        expect(await store.get('window')).toBeUndefined();
        expect(await store.increment('window', 1, { ttlMs: shortTtlMs })).toBe(1);
        await store.set('text', 'abc');
        await expectInvalid(() => store.increment('text'), 'text');
        expect(await store.get('text')).toBe('abc');
      }));

    it('lists keys and entries as snapshots, optionally by prefix', () =>
      withStore(async ({ store }) => {
        await store.set('user:1', { a: 1 });
        await store.set('user:2', { a: 2 });
        await store.set('job:1', 'x');
        expect((await store.keys()).sort()).toEqual(['job:1', 'user:1', 'user:2']);
        expect((await store.keys('user:')).sort()).toEqual(['user:1', 'user:2']);
        const entries = (await store.entries('user:')).sort(([a], [b]) => a.localeCompare(b));
        expect(entries).toEqual([
          ['user:1', { a: 1 }],
          ['user:2', { a: 2 }],
        ]);
        entries.pop();
        expect(await store.size).toBe(3);
        // Paged: every key exactly once across pages, each page bounded.
        for (let n = 0; n < 25; n++) await store.set(`page:${n}`, n);
        const paged: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.scanKeys({ prefix: 'page:', limit: 10, ...(cursor ? { cursor } : {}) });
          paged.push(...page.keys);
          cursor = page.cursor;
          pages++;
        } while (cursor !== undefined && pages < 100);
        expect(new Set(paged)).toEqual(new Set(Array.from({ length: 25 }, (_, n) => `page:${n}`)));
      }));

    it('clear removes every value but keeps locks and cooldowns', () =>
      withStore(async ({ store }) => {
        await store.set('a', 1);
        await store.set('b', 2, { ttlMs: 60_000 });
        const lock = await store.acquireLock('job', { ttlMs: 60_000 });
        expect(await store.cooldown('spell', 60_000)).toBe(true);
        await store.clear();
        expect(await store.size).toBe(0);
        expect(await store.keys()).toEqual([]);
        expect(await store.acquireLock('job', { ttlMs: 60_000 })).toBeNull();
        expect(await store.cooldown('spell', 60_000)).toBe(false);
        await lock?.release();
      }));

    it('locks: one holder at a time, released only by its owner', () =>
      withStore(async ({ store }) => {
        const first = await store.acquireLock('deploy', { ttlMs: 60_000 });
        expect(first).not.toBeNull();
        expect(first!.name).toBe('deploy');
        expect(typeof first!.token).toBe('string');
        expect(await store.acquireLock('deploy', { ttlMs: 60_000 })).toBeNull();
        expect(await store.acquireLock('other', { ttlMs: 60_000 })).not.toBeNull();
        expect(await first!.extend(120_000)).toBe(true);
        expect(await first!.release()).toBe(true);
        expect(await first!.release()).toBe(false);
        const second = await store.acquireLock('deploy', { ttlMs: 60_000 });
        expect(second).not.toBeNull();
        expect(second!.token).not.toBe(first!.token);
        await second!.release();
      }));

    it('locks: an expired holder cannot release or extend the next holder', () =>
      withStore(async ({ store, shortTtlMs, elapse }) => {
        const stale = await store.acquireLock('job', { ttlMs: shortTtlMs });
        expect(stale).not.toBeNull();
        await elapse(shortTtlMs * 2);
        const current = await store.acquireLock('job', { ttlMs: 60_000 });
        expect(current).not.toBeNull();
        expect(await stale!.release()).toBe(false);
        expect(await stale!.extend(60_000)).toBe(false);
        expect(await store.acquireLock('job', { ttlMs: 60_000 })).toBeNull();
        expect(await current!.release()).toBe(true);
      }));

    it('locks: waitMs waits for the holder to release, and gives up in time', () =>
      withStore(async ({ store }) => {
        const holder = await store.acquireLock('q', { ttlMs: 60_000 });
        const started = performance.now();
        expect(await store.acquireLock('q', { ttlMs: 60_000, waitMs: 30 })).toBeNull();
        expect(performance.now() - started).toBeGreaterThanOrEqual(25);
        setTimeout(() => void holder!.release(), 20);
        const waiter = await store.acquireLock('q', { ttlMs: 60_000, waitMs: 5_000 });
        expect(waiter).not.toBeNull();
        await waiter!.release();
      }));

    it('locks: await using releases at the end of the scope', () =>
      withStore(async ({ store }) => {
        {
          await using lock = await store.acquireLock('scoped', { ttlMs: 60_000 });
          expect(lock).not.toBeNull();
          expect(await store.acquireLock('scoped', { ttlMs: 60_000 })).toBeNull();
        }
        const again = await store.acquireLock('scoped', { ttlMs: 60_000 });
        expect(again).not.toBeNull();
        await again!.release();
      }));

    it('cooldown: proceeds once, refuses while it runs, then proceeds again', () =>
      withStore(async ({ store, shortTtlMs, elapse }) => {
        expect(await store.cooldown('spell', shortTtlMs)).toBe(true);
        expect(await store.cooldown('spell', shortTtlMs)).toBe(false);
        expect(await store.cooldown('other', shortTtlMs)).toBe(true);
        expect(await store.has('spell')).toBe(false); // cooldowns do not live among the values
        await elapse(shortTtlMs * 2);
        expect(await store.cooldown('spell', shortTtlMs)).toBe(true);
      }));

    it('refuses bad keys and ttls with INVALID_INPUT naming the key, storing nothing', () =>
      withStore(async ({ store }) => {
        const bad = store as unknown as Record<string, (...args: unknown[]) => unknown>;
        for (const method of ['get', 'has', 'delete', 'ttl', 'persist']) {
          await expectInvalid(() => bad[method]!.call(store, 42), '42');
        }
        await expectInvalid(() => bad.set!.call(store, { id: 1 }, 'v'), 'object');
        await expectInvalid(() => bad.setIfAbsent!.call(store, 42, 'v'), '42');
        await expectInvalid(() => bad.increment!.call(store, 42), '42');
        await expectInvalid(() => bad.expire!.call(store, 42, 1000), '42');
        await expectInvalid(() => bad.cooldown!.call(store, 42, 1000), '42');
        await expectInvalid(() => bad.acquireLock!.call(store, 42, { ttlMs: 1000 }), '42');
        for (const method of ['keys', 'entries']) {
          await expectInvalid(() => bad[method]!.call(store, 42), '42');
          await expectInvalid(() => bad[method]!.call(store, null), 'null');
        }
        // 1e20 ms is finite but beyond what Redis can hold as an expiry.
        for (const ttlMs of [-1, 0, Number.NaN, Number.POSITIVE_INFINITY, 1e20, '100']) {
          await expectInvalid(() => store.set('k', 'v', { ttlMs: ttlMs as number }), 'k');
          await expectInvalid(() => store.setIfAbsent('k2', 'v', { ttlMs: ttlMs as number }), 'k2');
          await expectInvalid(() => store.increment('k3', 1, { ttlMs: ttlMs as number }), 'k3');
          await expectInvalid(() => store.expire('k', ttlMs as number), 'k');
          await expectInvalid(() => store.cooldown('cd', ttlMs as number), 'cd');
          await expectInvalid(() => store.acquireLock('lk', { ttlMs: ttlMs as number }), 'lk');
        }
        await expectInvalid(() => store.increment('k4', Number.NaN), 'k4');
        // A ttl passed as a bare number (the seed's `set(key, value, ttl)`) would otherwise mean "never expires".
        for (const options of [1000, null, 'ttl']) {
          const opts = options as unknown as { ttlMs: number };
          await expectInvalid(() => store.set('p1', 'v', opts), 'p1');
          await expectInvalid(() => store.setIfAbsent('p2', 'v', opts), 'p2');
          await expectInvalid(() => store.increment('p3', 1, opts), 'p3');
        }
        expect(await store.size).toBe(0);
      }));

    it('shares state between two handles on the same backend', async () => {
      const fixture = await factory.create();
      try {
        if (!fixture.peer) return;
        const other = fixture.peer();
        await fixture.store.set('shared', { from: 'a' }, { ttlMs: 60_000 });
        expect(await other.get('shared')).toEqual({ from: 'a' });
        const lock = await fixture.store.acquireLock('l', { ttlMs: 60_000 });
        expect(await other.acquireLock('l', { ttlMs: 60_000 })).toBeNull();
        await lock!.release();
      } finally {
        await fixture.cleanup();
      }
    });
  });
}
