import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Codec, isAgentStateError, RedisTtlStore } from '../../src/index.ts';
import { REDIS_URL, redisAvailable, uniqueName } from '../support/services.ts';

const redisOk = await redisAvailable();

describe.skipIf(!redisOk)('RedisTtlStore', () => {
  let client: Redis;
  const prefix = `${uniqueName('ttlredis')}:`;

  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });

  it('stores values through the codec (Date, Map, Set, BigInt, registered classes)', async () => {
    class Point {
      x: number;
      y: number;
      constructor(x: number, y: number) {
        this.x = x;
        this.y = y;
      }
    }
    const codec = new Codec().register('Point', {
      class: Point,
      encode: (p: Point) => [p.x, p.y],
      decode: ([x, y]: number[]) => new Point(x!, y!),
    });
    const store = new RedisTtlStore({ redis: client, prefix: `${prefix}codec:`, codec });
    const value = {
      at: new Date('2026-01-01T00:00:00Z'),
      seen: new Set(['a']),
      map: new Map([[1, 'one']]),
      big: 10n ** 20n,
      point: new Point(1, 2),
      nothing: undefined,
    };
    await store.set('v', value, { ttlMs: 60_000 });
    const back = (await store.get('v')) as typeof value;
    expect(back).toEqual(value);
    expect(back.point).toBeInstanceOf(Point);
    expect(await client.pttl(`${prefix}codec:#v:v`)).toBeGreaterThan(59_000);
  });

  it('refuses a value the codec cannot store with INVALID_INPUT naming the key, storing nothing', async () => {
    const store = new RedisTtlStore({ redis: client, prefix });
    await store.set('fn', 'before');
    for (const bad of [{ run: () => 1 }, Symbol('s'), new (class Custom {})()]) {
      try {
        await store.set('fn', bad);
        throw new Error('expected INVALID_INPUT');
      } catch (error) {
        expect(isAgentStateError(error, 'INVALID_INPUT')).toBe(true);
        expect((error as { details: { key: string } }).details.key).toBe('fn');
      }
    }
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    await expect(store.setIfAbsent('cyc', cyclic)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { key: 'cyc' },
    });
    expect(await store.get('fn')).toBe('before');
    expect(await store.has('cyc')).toBe(false);
  });

  it('reports unreadable stored text as CORRUPT_STATE naming the key, and keeps it', async () => {
    const store = new RedisTtlStore({ redis: client, prefix });
    await client.set(`${prefix}#v:broken`, '{not json');
    await expect(store.get('broken')).rejects.toMatchObject({
      code: 'CORRUPT_STATE',
      details: { key: 'broken' },
    });
    expect(await client.get(`${prefix}#v:broken`)).toBe('{not json');
    await client.set(`${prefix}#v:alien`, JSON.stringify({ $t: 'class', n: 'Nope', v: 1 }));
    await expect(store.get('alien')).rejects.toMatchObject({ details: { key: 'alien' } });
    await store.delete('broken');
    await store.delete('alien');
  });

  it('isolates tenants by prefix, also for glob characters in the prefix', async () => {
    const a = new RedisTtlStore({ redis: client, prefix: `${prefix}t[1]*:` });
    const b = new RedisTtlStore({ redis: client, prefix: `${prefix}t1x:` });
    await a.set('k', 'a');
    await b.set('k', 'b');
    expect(await a.get('k')).toBe('a');
    expect(await a.keys()).toEqual(['k']);
    await a.clear();
    expect(await b.get('k')).toBe('b');
    expect(await a.size).toBe(0);
    await b.clear();
  });

  it('isolates a tenant whose prefix starts with another prefix and a key tag', async () => {
    // Under plain concatenation `t` + `v:` + `v:k` and `tv:` + `v:` + `k` name the same Redis key.
    const outer = new RedisTtlStore({ redis: client, prefix: `${prefix}t` });
    const nested = new RedisTtlStore({ redis: client, prefix: `${prefix}tv:` });
    await nested.set('k', 'nested');
    await nested.cooldown('c', 60_000);
    expect(await outer.keys()).toEqual([]);
    expect(await outer.get('v:k')).toBeUndefined();
    await outer.set('v:k', 'outer');
    await outer.clear();
    expect(await nested.get('k')).toBe('nested');
    expect(await nested.cooldown('c', 60_000)).toBe(false);
    await nested.clear();
  });

  it("refuses a prefix containing '#', the character that ends the prefix in every key", () => {
    expect(() => new RedisTtlStore({ redis: client, prefix: 'a#b' })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { prefix: 'a#b' } }),
    );
  });

  it('lists many keys across SCAN pages, and rounds fractional ttls up', async () => {
    const store = new RedisTtlStore({ redis: client, prefix: `${prefix}many:` });
    const pipeline = client.pipeline();
    for (let i = 0; i < 2500; i++) pipeline.set(`${prefix}many:#v:k${i}`, String(i));
    await pipeline.exec();
    expect(await store.size).toBe(2500);
    const entries = await store.entries();
    expect(entries.length).toBe(2500);
    expect(entries.find(([k]) => k === 'k7')?.[1]).toBe(7);
    await store.set('frac', 1, { ttlMs: 60_000.2 });
    const pttl = await client.pttl(`${prefix}many:#v:frac`);
    expect(pttl).toBeGreaterThan(59_000);
    expect(pttl).toBeLessThanOrEqual(60_001);
    await store.clear();
    expect(await store.size).toBe(0);
  });

  it('announces expiries from its expiry index, each once per watcher, in bounded batches', async () => {
    const store = new RedisTtlStore({ redis: client, prefix: `${prefix}watch:` });
    const seen: string[][] = [[], []];
    // Two watchers (as two server processes), one reading 7 entries per round trip.
    const stops = [
      store.watchExpiries((key) => seen[0]!.push(key), { intervalMs: 100, batchSize: 7 }),
      store.watchExpiries((key) => seen[1]!.push(key), { intervalMs: 100 }),
    ];
    await new Promise((resolve) => setTimeout(resolve, 150));
    // Another process's store: it notes expiries because the watch's flag says someone watches.
    const writer = new RedisTtlStore({ redis: REDIS_URL, prefix: `${prefix}watch:` });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await writer.set('elsewhere', 1, { ttlMs: 300 });
    await writer.close();
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((key) => store.set(key, 1, { ttlMs: 300 })));
    await store.setIfAbsent('nx', 1, { ttlMs: 300 });
    await store.increment('counter', 1, { ttlMs: 300 });
    await store.set('extended', 1, { ttlMs: 300 });
    await store.expire('extended', 60_000);
    await store.set('deleted', 1, { ttlMs: 300 });
    await store.delete('deleted');
    await store.set('kept', 1, { ttlMs: 300 });
    await store.persist('kept');
    // Noted earlier than Redis expires it (a writer whose clock is behind): re-checked, announced once.
    await store.set('skewed', 1, { ttlMs: 700 });
    await client.zadd(`${prefix}watch:#x`, Date.now() + 100, 'skewed');
    const expected = [...keys, 'nx', 'counter', 'skewed', 'elsewhere'].sort();
    const started = Date.now();
    while (seen.some((list) => list.length < expected.length) && Date.now() - started < 3000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    await Promise.all(stops.map((stop) => stop()));
    expect(seen[0]!.sort()).toEqual(expected);
    expect(seen[1]!.sort()).toEqual(expected);
    // The index keeps entries only about a minute past their time, trimmed by later writes.
    expect(await client.zcard(`${prefix}watch:#x`)).toBeLessThanOrEqual(expected.length + 3);
    await store.clear();
    expect(await client.exists(`${prefix}watch:#x`)).toBe(0);
    // Nobody watches any more: once the flag lapses, TTL writes add nothing to the index.
    await client.del(`${prefix}watch:#w`);
    const quiet = new RedisTtlStore({ redis: REDIS_URL, prefix: `${prefix}watch:` });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await quiet.set('unwatched', 1, { ttlMs: 60_000 });
    await quiet.close();
    expect(await client.exists(`${prefix}watch:#x`)).toBe(0);
  });

  it('owns a client made from a URL and closes it; refuses a client with keyPrefix', async () => {
    const store = new RedisTtlStore({ redis: REDIS_URL, prefix });
    await store.set('owned', 1);
    const lock = (await store.acquireLock('owned-lock', { ttlMs: 60_000 }))!;
    await store.close();
    if (store.client.status !== 'end') await new Promise((resolve) => store.client.once('end', resolve));
    await expect(store.get('owned')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(lock.release()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(lock.extend(1000)).rejects.toMatchObject({ code: 'CLOSED' });
    const prefixed = new Redis(REDIS_URL, { keyPrefix: 'x:', lazyConnect: true });
    expect(() => new RedisTtlStore({ redis: prefixed })).toThrow(/keyPrefix/);
    prefixed.disconnect();
    expect(await client.exists(`${prefix}#v:owned`)).toBe(1);
  });
});
