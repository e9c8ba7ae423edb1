/**
 * The RolloutStore conformance backend "http": AgentStateClient -> agentstate server -> SQLite, so every
 * guarantee of the suite is checked through the HTTP API too.
 */
import { join } from 'node:path';
import { AgentStateClient, SqliteRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';
import { listenServer } from '../../src/server/listen.ts';
import type { RolloutStoreFactory } from '../conformance/rolloutStore.ts';
import { tempDir } from '../rollouts/backends.ts';

/** Client -> server -> SQLite, one temporary database and server per test. */
export const httpRolloutFactory: RolloutStoreFactory = {
  name: 'http',
  durable: true,
  available: async () => true,
  async create(options) {
    const temp = tempDir('agentstate-http-');
    const backing = new SqliteRolloutStore({ ...options, path: join(temp.dir, 'rollouts.sqlite') });
    const app = await createServer({ rollouts: backing });
    const url = await listenServer(app, { host: '127.0.0.1', port: 0 });
    const clients: AgentStateClient[] = [];
    const open = () => {
      const client = new AgentStateClient({ url, retries: 1, retryDelayMs: 10 });
      clients.push(client);
      return client;
    };
    return {
      store: open(),
      reopen: async () => open(),
      cleanup: async () => {
        for (const client of clients) await client.close();
        await app.close();
        await backing.close();
        temp.remove();
      },
    };
  },
};
