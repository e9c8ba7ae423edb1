/**
 * Every DocumentStore driver, as factories for tests that must run on each backend (the conformance
 * suite, thread repositories, module managers). A new driver is one entry here.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  createFsStore,
  createMemoryStore,
  createPostgresStore,
  createRedisStore,
  createSqliteStore,
  type DocumentStore,
  type DriverOptions,
} from '../../src/index.ts';
import {
  dropSchema,
  POSTGRES_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  uniqueName,
} from './services.ts';

/** A store made for one test, and how to dispose of it and its data. */
export interface DriverFixture {
  store: DocumentStore;
  /** Closes the store and deletes its files/schema. */
  cleanup(): Promise<void>;
  /** Opens a second handle on the same data (another connection/process view), when the driver has one. */
  reopen?(options?: DriverOptions): Promise<DocumentStore>;
  /**
   * Overwrites a document's stored value behind the driver's back (disk or database), as bit rot or an
   * outside writer would: a string replaces a plain value's JSON text, bytes a compressed/encrypted one.
   */
  tamper?(namespace: string, id: string, stored: string | Buffer): Promise<void>;
}

/** How to make a fresh, isolated store of one driver. */
export interface DriverFactory {
  /** Driver name as in `store.name`. */
  name: string;
  /** Whether the driver keeps data outside the process (files, database). */
  durable: boolean;
  /** Whether reads return one shared, frozen value instead of a fresh copy each (a cache). */
  sharedValues?: boolean;
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
  tamper: (dir: string, namespace: string, id: string, stored: string | Buffer) => Promise<void>,
): Promise<DriverFixture> {
  const dir = await mkdtemp(join(tmpdir(), `agentstate-${prefix}-`));
  const store = open(dir, options);
  return {
    store,
    tamper: (namespace, id, stored) => tamper(dir, namespace, id, stored),
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
    onDisk(
      'sqlite',
      options,
      (dir, opts) => createSqliteStore({ ...opts, path: join(dir, 'state.db') }),
      async (dir, namespace, id, stored) => {
        const db = new Database(join(dir, 'state.db'));
        try {
          db.prepare('UPDATE agentstate_documents SET value = ? WHERE namespace = ? AND id = ?').run(
            stored,
            namespace,
            id,
          );
        } finally {
          db.close();
        }
      },
    ),
};

const fs: DriverFactory = {
  name: 'fs',
  durable: true,
  available: async () => true,
  create: (options) =>
    onDisk(
      'fs',
      options,
      (dir, opts) => createFsStore({ ...opts, dir }),
      async (dir, namespace, id, stored) => {
        // Namespaces and ids of these tests are plain lowercase names, so their file names are too.
        const path = join(dir, namespace, `${id}.jsonl`);
        const [header] = (await readFile(path, 'utf8')).split('\n');
        const line = typeof stored === 'string' ? stored : JSON.stringify(stored.toString('base64'));
        await writeFile(path, `${header}\n${line}\n`);
      },
    ),
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
      async tamper(namespace, id, stored) {
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        try {
          await client.query(
            `UPDATE "${schema}".documents SET value = $1, value_bytes = $2 WHERE namespace = $3 AND id = $4`,
            typeof stored === 'string' ? [stored, null, namespace, id] : [null, stored, namespace, id],
          );
        } finally {
          await client.end();
        }
      },
      async cleanup() {
        await Promise.all([store, ...others].map((s) => s.close()));
        await dropSchema(schema);
      },
    };
  },
};

const redis: DriverFactory = {
  name: 'redis',
  durable: true,
  available: redisAvailable,
  async create(options) {
    const prefix = uniqueName('as_test');
    const client = new Redis(REDIS_URL);
    const open = (again?: DriverOptions) => createRedisStore({ ...options, ...again, redis: client, prefix });
    let store: DocumentStore;
    try {
      store = open();
    } catch (error) {
      client.disconnect();
      throw error;
    }
    const others: DocumentStore[] = [];
    return {
      store,
      async reopen(again) {
        const other = open(again);
        others.push(other);
        return other;
      },
      async tamper(namespace, id, stored) {
        const hex = Buffer.from(id, 'utf16le').swap16().toString('hex');
        await client.hset(`${prefix}#d:${namespace}:${hex}`, 'v', stored);
      },
      async cleanup() {
        await Promise.all([store, ...others].map((s) => s.close()));
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}#*`, 'COUNT', 1000);
          if (keys.length > 0) await client.del(...keys);
          cursor = next;
        } while (cursor !== '0');
        await client.quit();
      },
    };
  },
};

/** All drivers, in the order tests run them. */
export const driverFactories: DriverFactory[] = [memory, fs, sqlite, postgres, redis];
