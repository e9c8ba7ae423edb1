/**
 * The published Keyv test suite (`@keyv/test-suite`, not a copy) against the adapter on both stores.
 * The suite package lists sqlite3 as a dependency but does not import it, so nothing native is loaded.
 */
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import { Redis } from 'ioredis';
import Keyv from 'keyv';
import * as vitest from 'vitest';
import { RedisTtlStore, TtlStore } from '../../src/index.ts';
import { KeyvTtlAdapter, keyvTtlAdapter } from '../../src/ttl/keyv.ts';
import { REDIS_URL, redisAvailable, uniqueName } from '../support/services.ts';

const redisOk = await redisAvailable();

vitest.describe('Keyv adapter on the memory TtlStore', () => {
  const store = new TtlStore();
  vitest.afterAll(() => store.close());
  keyvTestSuite(vitest, Keyv, () => keyvTtlAdapter(store));

  vitest.it('iterates a namespace and skips expired keys through the adapter', async () => {
    const adapter = new KeyvTtlAdapter(new TtlStore());
    await adapter.set('ns:a', 'A');
    await adapter.set('ns:b', 'B', 1);
    await adapter.set('other:c', 'C');
    await new Promise((resolve) => setTimeout(resolve, 10));
    const seen: unknown[] = [];
    for await (const entry of adapter.iterator('ns')) seen.push(entry);
    vitest.expect(seen).toEqual([['ns:a', 'A']]);
    adapter.namespace = 'ns';
    await adapter.clear();
    vitest.expect(await adapter.get('other:c')).toBe('C');
    vitest.expect(await adapter.deleteMany(['other:c', 'nope'])).toBe(true);
    await adapter.disconnect();
  });
});

vitest.describe.skipIf(!redisOk)('Keyv adapter on RedisTtlStore', () => {
  const client = new Redis(REDIS_URL, { lazyConnect: !redisOk });
  const prefix = `${uniqueName('keyv')}:`;
  const store = new RedisTtlStore({ redis: client, prefix });
  vitest.afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });
  keyvTestSuite(vitest, Keyv, () => keyvTtlAdapter(store));
  keyvIteratorTests(vitest, Keyv, () => keyvTtlAdapter(store));
});
