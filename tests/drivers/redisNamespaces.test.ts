/**
 * The Redis driver's namespace index (`<prefix>#ns`) is kept by its write scripts; data written before the
 * index existed is found by a one-time fill from the namespaces' id sets, and a namespace the fill added
 * but that is empty by the time it is listed is left out (and dropped from the index).
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisStore } from '../../src/index.ts';
import { REDIS_URL, redisAvailable, uniqueName } from '../support/services.ts';

const redisOk = await redisAvailable();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe.skipIf(!redisOk)('redis namespace index', () => {
  it('fills itself once from data written before it existed, leaving out namespaces emptied since', async () => {
    const prefix = uniqueName('as_ns');
    const client = new Redis(REDIS_URL);
    cleanups.push(async () => {
      const keys = await client.keys(`${prefix}#*`);
      if (keys.length > 0) await client.del(...keys);
      client.disconnect();
    });
    const writer = createRedisStore({ redis: client, prefix });
    cleanups.push(() => writer.close());
    await writer.put('agents', 'a1', 1);
    await writer.put('sessions', 's1', 1);
    // As a store of an earlier release left it: no index, no marker.
    await client.del(`${prefix}#ns`, `${prefix}#ns:complete`);
    // A namespace the fill will find in the index but that holds nothing when listed.
    await client.zadd(`${prefix}#ns`, '0', 'ghost');
    const reader = createRedisStore({ redis: client, prefix });
    cleanups.push(() => reader.close());
    expect((await reader.listNamespaces()).namespaces).toEqual(['agents', 'sessions']);
    expect(await client.zrange(`${prefix}#ns`, '0', '-1')).toEqual(['agents', 'sessions']);
    expect(await client.exists(`${prefix}#ns:complete`)).toBe(1);
    await reader.put('notes', 'n1', 1);
    expect((await reader.listNamespaces()).namespaces).toEqual(['agents', 'notes', 'sessions']);
  });
});
