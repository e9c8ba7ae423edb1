/**
 * A server over in-memory stores of every kind (documents, rollouts, TTL, sessions), for tests of the HTTP
 * layer itself: created before the file's tests, closed with its stores after them.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { createMemoryStore, InMemoryRolloutStore, SessionManager, TtlStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

/** The stores behind the server, and the server once `beforeAll` has run. */
export interface MemoryServer {
  documents: ReturnType<typeof createMemoryStore>;
  rollouts: InMemoryRolloutStore;
  ttl: TtlStore;
  sessions: SessionManager;
  app: FastifyInstance;
}

/** Registers beforeAll/afterAll hooks that start and stop the server; read `app` inside tests. */
export function useMemoryServer(): MemoryServer {
  const documents = createMemoryStore();
  const server = {
    documents,
    rollouts: new InMemoryRolloutStore({ healthCheckIntervalMs: 0 }),
    ttl: new TtlStore({ sweepIntervalMs: 0 }),
    sessions: new SessionManager({ store: documents }),
  } as MemoryServer;
  beforeAll(async () => {
    server.app = await createServer(server);
  });
  afterAll(async () => {
    await server.app.close();
    await server.rollouts.close();
    await server.ttl.close();
    server.sessions.close();
    await documents.close();
  });
  return server;
}
