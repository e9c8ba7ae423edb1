/**
 * The HTTP rollout scenario of bench/server.ts (256 runners: dequeue -> spans -> succeeded, on SQLite), for
 * comparing two checkouts on a shared machine: the server runs in a worker thread and reports the CPU time
 * of that thread per rollout, which load on the machine blurs far less than throughput.
 *
 *   ROOT=<checkout> MODE=otlp|per-span BACKEND=sqlite|postgres ROLLOUTS=1500 npx node bench/_serverCpu.ts
 *
 * BACKEND=postgres serves from PostgreSQL (AGENTSTATE_TEST_POSTGRES, a fresh schema dropped after); there the
 * database's CPU is not in the server's figure, so compare rollouts/s (interleaved passes) as well.
 * `ROOT` is the checkout whose `src/` serves (this one by default); the load generator is this file's, so
 * both checkouts get the same requests. Run the two checkouts alternately, several passes, and take the
 * median of the per-pass ratios. Prints one JSON line: rollouts, server CPU ms per rollout, rollouts/s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Pool } from 'undici';
import { otlpBody } from './_otlpBody.ts';
import { dropSchema, POSTGRES_URL } from './_postgres.ts';
import { postJson } from './_postJson.ts';

const root = process.env.ROOT ?? new URL('..', import.meta.url).pathname;

const backend = process.env.BACKEND ?? 'sqlite';

if (!isMainThread) await serve(workerData as string);
else await drive();

/** The worker: the server of checkout `root` on a fresh SQLite file or schema; answers 'reset' and 'stop'. */
async function serve(root: string): Promise<void> {
  const { PostgresRolloutStore, SqliteRolloutStore } = await import(`${root}/src/index.ts`);
  const { createServer } = await import(`${root}/src/server/createServer.ts`);
  const { listenServer } = await import(`${root}/src/server/listen.ts`);
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-server-cpu-'));
  const schema = `bench_server_cpu_${process.pid}`;
  const store =
    backend === 'postgres'
      ? new PostgresRolloutStore({ connectionString: POSTGRES_URL, schema })
      : new SqliteRolloutStore({ path: join(dir, 'rollouts.db') });
  const app = await createServer({ rollouts: store, closeStores: true });
  const url: string = await listenServer(app, { host: '127.0.0.1', port: 0 });
  let start = process.threadCpuUsage();
  parentPort!.on('message', async (message: string) => {
    if (message === 'reset') {
      start = process.threadCpuUsage();
      parentPort!.postMessage('ok');
    } else if (message === 'stop') {
      const used = process.threadCpuUsage(start);
      await app.close();
      rmSync(dir, { recursive: true, force: true });
      if (backend === 'postgres') await dropSchema(schema);
      parentPort!.postMessage((used.user + used.system) / 1000);
    }
  });
  parentPort!.postMessage(url);
}

/** The load generator (this thread). */
async function drive(): Promise<void> {
  const mode = process.env.MODE ?? 'otlp';
  const count = Number(process.env.ROLLOUTS ?? 1500);
  const runners = 256;
  const worker = new Worker(new URL(import.meta.url), { workerData: root });
  const next = () => new Promise<unknown>((resolve) => worker.once('message', resolve));
  const url = (await next()) as string;
  const pool = new Pool(url, { connections: runners, pipelining: 1 });
  const post = (path: string, body: unknown) => postJson(pool, path, body);
  for (let i = 0; i < count; i += 500) {
    const batch = Array.from({ length: Math.min(500, count - i) }, (_, k) => ({ input: { index: i + k } }));
    await post('/v1/agl/queues/rollouts/enqueue', { rollouts: batch });
  }
  worker.postMessage('reset');
  await next();
  let sequence = 0;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: runners }, async (_, runner) => {
      for (;;) {
        const [rollout] = (await post('/v1/agl/queues/rollouts/dequeue', {
          limit: 1,
          worker_id: `w-${runner}`,
        })) as Array<{ rollout_id: string; attempt: { attempt_id: string } }>;
        if (!rollout) return;
        // 2..20 spans, the same sequence in every run.
        const spans = 2 + ((sequence++ * 7) % 19);
        const ids = { rollout_id: rollout.rollout_id, attempt_id: rollout.attempt.attempt_id };
        if (mode === 'otlp') {
          const answer = await pool.request({
            method: 'POST',
            path: '/v1/traces',
            headers: { 'content-type': 'application/x-protobuf' },
            body: otlpBody(ids.rollout_id, ids.attempt_id, runner, spans),
          });
          await answer.body.arrayBuffer();
          if (answer.statusCode !== 200) throw new Error(`OTLP HTTP ${answer.statusCode}`);
        } else {
          for (let s = 0; s < spans; s++) {
            await post('/v1/agl/spans', {
              ...ids,
              trace_id: 'a'.repeat(32),
              span_id: `${runner.toString(16).padStart(8, '0')}${s.toString(16).padStart(8, '0')}`,
              name: 'llm.call',
              attributes: { 'gen_ai.usage.tokens': 120 + s, 'gen_ai.model': 'qwen' },
              start_time: 1767225600 + s,
              end_time: 1767225600.5 + s,
            });
          }
        }
        await post(`/v1/agl/rollouts/${ids.rollout_id}/attempts/${ids.attempt_id}`, { status: 'succeeded' });
        done++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  worker.postMessage('stop');
  const serverCpuMs = (await next()) as number;
  await pool.close();
  await worker.terminate();
  console.log(
    JSON.stringify({
      root,
      mode,
      backend,
      rollouts: done,
      serverCpuMsPerRollout: serverCpuMs / done,
      rolloutsPerSecond: done / seconds,
    }),
  );
}
