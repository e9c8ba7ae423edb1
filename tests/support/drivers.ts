/**
 * Every DocumentStore driver, as factories for tests that must run on each backend (the conformance
 * suite, thread repositories, module managers). A new driver is one entry here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFsStore,
  createMemoryStore,
  createPostgresStore,
  createSqliteStore,
  type DocumentStore,
  type DriverOptions,
} from '../../src/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from './services.ts';

/** A store made for one test, and how to dispose of it and its data. */
export interface DriverFixture {
  store: DocumentStore;
  /** Closes the store and deletes its files/schema. */
  cleanup(): Promise<void>;
  /** Opens a second handle on the same data (another connection/process view), when the driver has one. */
  reopen?(options?: DriverOptions): Promise<DocumentStore>;
}

/** How to make a fresh, isolated store of one driver. */
export interface DriverFactory {
  /** Driver name as in `store.name`. */
  name: string;
  /** Whether the driver keeps data outside the process (files, database). */
  durable: boolean;
  /** Resolves false (after a loud warning) when a needed server is missing; throws under CI=true. */
  available(): Promise<boolean>;
  /** A fresh, empty store isolated from every other test. */
  create(options?: DriverOptions): Promise<DriverFixture>;
}

const memory: DriverFactory = {
  name: 'memory',
  durable: false,
  available: async () => true,
  async create(options) {
    const store = createMemoryStore(options);
    return { store, cleanup: () => store.close() };
  },
};

/**
 * A store kept in a fresh temporary directory; `reopen` opens another handle on the same files, and
 * cleanup closes the store and deletes the directory.
 */
async function onDisk(
  prefix: string,
  options: DriverOptions | undefined,
  open: (dir: string, options: DriverOptions | undefined) => DocumentStore,
): Promise<DriverFixture> {
  const dir = await mkdtemp(join(tmpdir(), `agentstate-${prefix}-`));
  const store = open(dir, options);
  return {
    store,
    reopen: async (again) => open(dir, { ...options, ...again }),
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const sqlite: DriverFactory = {
  name: 'sqlite',
  durable: true,
  available: async () => true,
  create: (options) =>
    onDisk('sqlite', options, (dir, opts) => createSqliteStore({ ...opts, path: join(dir, 'state.db') })),
};

const fs: DriverFactory = {
  name: 'fs',
  durable: true,
  available: async () => true,
  create: (options) => onDisk('fs', options, (dir, opts) => createFsStore({ ...opts, dir })),
};

const postgres: DriverFactory = {
  name: 'postgres',
  durable: true,
  available: postgresAvailable,
  async create(options) {
    const schema = uniqueName('as_test');
    const store = createPostgresStore({ ...options, connectionString: POSTGRES_URL, schema });
    const others: DocumentStore[] = [];
    return {
      store,
      // A second store on the same schema with its own pool: another process's view of the data.
      async reopen(again) {
        const other = createPostgresStore({ ...options, ...again, connectionString: POSTGRES_URL, schema });
        others.push(other);
        return other;
      },
      async cleanup() {
        await Promise.all([store, ...others].map((s) => s.close()));
        await dropSchema(schema);
      },
    };
  },
};

/** All drivers, in the order tests run them. */
export const driverFactories: DriverFactory[] = [memory, fs, sqlite, postgres];
