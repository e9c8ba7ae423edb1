/**
 * The persistence wrappers as driver factories, so the shared conformance suite runs on them unchanged:
 * a router splitting namespaces over two backends, and caches in front of memory and SQLite.
 */
import {
  createCachedStore,
  createMemoryStore,
  type DocumentStore,
  type DriverOptions,
  PersistenceRouter,
} from '../../src/index.ts';
import { type DriverFactory, driverFactories } from './drivers.ts';

const sqlite = driverFactories.find((f) => f.name === 'sqlite')!;

/** Keys of one namespace (`list`) split over both backends by id, and batch namespaces kept together. */
export const routerFactory: DriverFactory = {
  name: 'router',
  durable: false,
  available: async () => true,
  async create(options) {
    const disk = await sqlite.create(options);
    const router = new PersistenceRouter({
      backends: { memory: createMemoryStore(options), disk: disk.store },
      defaultBackend: 'disk',
      rules: [
        { pattern: 'agents:*', backend: 'memory' },
        { pattern: 'sessions:*', backend: 'memory' },
        { pattern: 'list:item-1*', backend: 'memory' },
        { pattern: 'order:?', backend: 'memory' },
      ],
    });
    return {
      store: router,
      async cleanup() {
        await router.close();
        await disk.cleanup();
      },
    };
  },
};

function cached(inner: DriverFactory): DriverFactory {
  return {
    name: inner.name,
    durable: inner.durable,
    sharedValues: true,
    available: inner.available,
    async create(options?: DriverOptions) {
      const fixture = await inner.create(options);
      const wrap = (store: DocumentStore) =>
        createCachedStore(store, {
          maxEntries: 1000,
          ttlMs: 60_000,
          ...(options?.now && { now: options.now }),
        });
      const store = wrap(fixture.store);
      return {
        store,
        cleanup: fixture.cleanup,
        ...(fixture.reopen && {
          reopen: async (again?: DriverOptions) => wrap(await fixture.reopen!(again)),
        }),
        ...(fixture.tamper && {
          // Bytes changed behind the store's back never reach a warm cache: start cold, as after a restart.
          tamper: async (namespace: string, id: string, stored: string | Buffer) => {
            await fixture.tamper!(namespace, id, stored);
            store.clear();
          },
        }),
      };
    },
  };
}

/** Caches in front of the memory and SQLite drivers. */
export const cachedFactories: DriverFactory[] = [
  cached(driverFactories.find((f) => f.name === 'memory')!),
  cached(sqlite),
];
