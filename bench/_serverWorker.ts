/**
 * The server side of bench/server.ts, in its own thread so the load generator and the server each get
 * a core (the machine has two). Starts the agentstate server on the requested backend and, in the same
 * thread, a bare Fastify app whose one route returns the same JSON as a dequeue: the ceiling.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import Fastify from 'fastify';
import { createServer, listenServer, type RolloutStore, SqliteRolloutStore } from '../src/index.ts';

const { backend } = workerData as { backend: 'sqlite' };
const dir = mkdtempSync(join(tmpdir(), 'agentstate-bench-server-'));
const store: RolloutStore = new SqliteRolloutStore({ path: join(dir, 'agentstate.db') });
const app = await createServer({ rollouts: store });
const url = await listenServer(app, { host: '127.0.0.1', port: 0 });

const sample = {
  rollout_id: 'ro-000000000000',
  input: { task: 'bench', index: 1 },
  start_time: 1767225600.25,
  end_time: null,
  mode: 'train',
  resources_id: null,
  status: 'preparing',
  config: { timeout_seconds: null, unresponsive_seconds: null, max_attempts: 1, retry_condition: [] },
  metadata: {},
  attempt: {
    rollout_id: 'ro-000000000000',
    attempt_id: 'at-00000000',
    sequence_id: 1,
    start_time: 1767225600.25,
    end_time: null,
    status: 'preparing',
    worker_id: 'w-1',
    last_heartbeat_time: null,
    metadata: {},
  },
};
const bare = Fastify({ logger: false });
bare.post('/bare', async () => [sample]);
const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });

parentPort!.postMessage({ url, bareUrl, backend });
parentPort!.on('message', async (message: string) => {
  if (message !== 'stop') return;
  await app.close();
  await bare.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  parentPort!.postMessage('stopped');
});
