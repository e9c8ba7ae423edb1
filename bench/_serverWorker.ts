/**
 * The server side of bench/server.ts, in its own thread so the load generator and the server each get
 * a core (the machine has two). Starts the agentstate server on the requested backend and, in the same
 * thread, a bare Fastify app whose one route returns the same JSON as a dequeue (the ceiling) and a
 * minimal Fastify app calling a store directly (the peer without agentstate's server layer).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import Fastify from 'fastify';
import pg from 'pg';
import { PostgresRolloutStore, type RolloutStore, SqliteRolloutStore } from '../src/index.ts';
import { attemptToWire, rolloutToWire, spanFromWire, spanToWire, type Wire } from '../src/server/agl/wire.ts';
import { createServer } from '../src/server/createServer.ts';
import { listenServer } from '../src/server/listen.ts';

const { backend, postgresUrl } = workerData as { backend: 'sqlite' | 'postgres'; postgresUrl: string };
const dir = mkdtempSync(join(tmpdir(), 'agentstate-bench-server-'));
const schema = `bench_server_${process.pid}_${Date.now()}`;
const store: RolloutStore =
  backend === 'postgres'
    ? new PostgresRolloutStore({ connectionString: postgresUrl, schema })
    : new SqliteRolloutStore({ path: join(dir, 'agentstate.db') });
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

// A second peer: the same routes as plain Fastify handlers calling a store of the same backend directly,
// without agentstate's schema validation, auth, metrics and idempotency hooks. What agentstate's server
// layer costs is the difference.
const minimalStore: RolloutStore =
  backend === 'postgres'
    ? new PostgresRolloutStore({ connectionString: postgresUrl, schema: `${schema}_min` })
    : new SqliteRolloutStore({ path: join(dir, 'minimal.db') });
const minimal = Fastify({ logger: false });
minimal.post('/v1/agl/queues/rollouts/enqueue', async (request, reply) => {
  const rollouts = await minimalStore.enqueueManyRollouts(
    (request.body as { rollouts: Array<{ input: unknown }> }).rollouts,
  );
  return reply.status(201).send(rollouts.map(rolloutToWire));
});
minimal.post('/v1/agl/queues/rollouts/dequeue', async (request) => {
  const body = request.body as { limit: number; worker_id: string };
  return (await minimalStore.dequeueManyRollouts({ limit: body.limit, workerId: body.worker_id })).map(
    rolloutToWire,
  );
});
minimal.post('/v1/agl/spans', async (request, reply) => {
  const span = await minimalStore.addSpan(spanFromWire(request.body as Wire));
  return reply.status(201).send(span ? spanToWire(span) : null);
});
minimal.post('/v1/agl/rollouts/:rollout_id/attempts/:attempt_id', async (request) => {
  const params = request.params as { rollout_id: string; attempt_id: string };
  const body = request.body as { status: 'succeeded' };
  return attemptToWire(
    await minimalStore.updateAttempt(params.rollout_id, params.attempt_id, { status: body.status }),
  );
});
const minimalUrl = await minimal.listen({ host: '127.0.0.1', port: 0 });

parentPort!.postMessage({ url, bareUrl, minimalUrl, backend });
parentPort!.on('message', async (message: string) => {
  if (message !== 'stop') return;
  await app.close();
  await bare.close();
  await minimal.close();
  await store.close();
  await minimalStore.close();
  rmSync(dir, { recursive: true, force: true });
  if (backend === 'postgres') {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.query(`DROP SCHEMA IF EXISTS "${schema}_min" CASCADE`);
    await client.end();
  }
  parentPort!.postMessage('stopped');
});
