/**
 * The official LangGraph.js checkpointer validation suite (@langchain/langgraph-checkpoint-validation,
 * the published package, unchanged) against AgentStateSaver on memory, SQLite and PostgreSQL.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vitest from 'vitest';
import {
  createMemoryStore,
  createPostgresStore,
  createSqliteStore,
  type DocumentStore,
} from '../../src/index.ts';
import { AgentStateSaver } from '../../src/integrations/langgraph/index.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

// The suite is written for Jest-style globals; vitest provides them only when asked, so they are handed
// over here before the suite's modules load.
const { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } = vitest;
Object.assign(globalThis, { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it });
const { validate } = await import('@langchain/langgraph-checkpoint-validation');

const pgOk = await postgresAvailable();

// Each checkpointer gets its own namespaces in one store per backend: isolated as the suite requires
// ("state written by one instance MUST NOT be readable by another"), without a database per test.
function initializer(name: string, open: () => Promise<{ store: DocumentStore; close(): Promise<void> }>) {
  let backend: { store: DocumentStore; close(): Promise<void> } | undefined;
  let count = 0;
  return {
    checkpointerName: `AgentStateSaver (${name})`,
    async beforeAll() {
      backend = await open();
    },
    async afterAll() {
      await backend?.close();
    },
    createCheckpointer() {
      count += 1;
      return new AgentStateSaver(backend!.store, { namespace: `lgv${count}` });
    },
  };
}

describe('memory', () => {
  validate(
    initializer('memory', async () => {
      const store = createMemoryStore();
      return { store, close: () => store.close() };
    }),
  );
});

describe('sqlite', () => {
  validate(
    initializer('sqlite', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'agentstate-lgv-'));
      const store = createSqliteStore({ path: join(dir, 'state.db') });
      return {
        store,
        async close() {
          await store.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    }),
  );
});

describe.skipIf(!pgOk)('postgres', () => {
  validate(
    initializer('postgres', async () => {
      const schema = uniqueName('as_lgv');
      const store = createPostgresStore({ connectionString: POSTGRES_URL, schema });
      return {
        store,
        async close() {
          await store.close();
          await dropSchema(schema);
        },
      };
    }),
  );
});
