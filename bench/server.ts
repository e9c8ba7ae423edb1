/**
 * `npm run bench server`: the rollout scenario through HTTP. 256 concurrent runners each loop: dequeue
 * one rollout, send 2..20 spans (one POST each, as Agent Lightning runners do), mark the attempt
 * succeeded. Reports rollouts/s and spans/s, then OTLP protobuf ingest spans/s, against two peers measured
 * in the same run: plain Fastify handlers calling the same store (what agentstate's server layer costs)
 * and a bare Fastify route returning the same JSON as a dequeue (the ceiling of HTTP on this machine).
 *
 * The server runs in a worker thread (its own core); the load generator uses undici's Pool with keep-alive.
 */
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import { otlpBody } from './_otlpBody.ts';
import { POSTGRES_URL, postgresReachable } from './_postgres.ts';
import { postJson } from './_postJson.ts';
import { percentile, report, round } from './_report.ts';

const RUNNERS = 256;
const ROLLOUTS = Number(process.env.BENCH_ROLLOUTS ?? 1500);
const OTLP_REQUESTS = 200;
const OTLP_SPANS_PER_REQUEST = 50;
const OTLP_CONCURRENCY = 32;

interface Started {
  url: string;
  bareUrl: string;
  minimalUrl: string;
  backend: string;
  worker: Worker;
}

async function startWorker(backend: string): Promise<Started> {
  const worker = new Worker(new URL('./_serverWorker.ts', import.meta.url), {
    workerData: { backend, postgresUrl: POSTGRES_URL },
  });
  const info = await new Promise<{ url: string; bareUrl: string; minimalUrl: string; backend: string }>(
    (resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    },
  );
  return { ...info, worker };
}

async function stopWorker(started: Started): Promise<void> {
  const stopped = new Promise((resolve) => started.worker.once('message', resolve));
  started.worker.postMessage('stop');
  await stopped;
  await started.worker.terminate();
}

interface WireRollout {
  rollout_id: string;
  attempt: { attempt_id: string };
}

/** How runners send spans: one POST /v1/agl/spans each (Agent Lightning's client), or one OTLP export per rollout. */
type SpanMode = 'per-span' | 'otlp-batch';

async function rolloutScenario(
  url: string,
  mode: SpanMode,
): Promise<{ seconds: number; rollouts: number; spans: number; requests: number; p99Ms: number }> {
  const pool = new Pool(url, { connections: RUNNERS, pipelining: 1 });
  // Every timed request's latency, for the p99.
  const latencies: number[] = [];
  const timed = async <T>(request: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await request();
    latencies.push(performance.now() - t0);
    return result;
  };
  // Fill the queue first (not timed), in batches of 500.
  for (let i = 0; i < ROLLOUTS; i += 500) {
    const batch = Array.from({ length: Math.min(500, ROLLOUTS - i) }, (_, k) => ({
      input: { task: 'bench', index: i + k },
      mode: 'train',
    }));
    await postJson(pool, '/v1/agl/queues/rollouts/enqueue', { rollouts: batch });
  }
  let rollouts = 0;
  let spans = 0;
  let requests = 0;
  const started = performance.now();
  const runner = async (index: number) => {
    const workerId = `w-${index}`;
    for (;;) {
      const taken = (await timed(() =>
        postJson(pool, '/v1/agl/queues/rollouts/dequeue', { limit: 1, worker_id: workerId }),
      )) as WireRollout[];
      requests += 1;
      const rollout = taken[0];
      if (!rollout) return;
      const count = 2 + Math.floor(Math.random() * 19);
      if (mode === 'otlp-batch') {
        const response = await timed(async () => {
          const answer = await pool.request({
            method: 'POST',
            path: '/v1/traces',
            headers: { 'content-type': 'application/x-protobuf' },
            body: otlpBody(rollout.rollout_id, rollout.attempt.attempt_id, index, count),
          });
          await answer.body.arrayBuffer();
          return answer;
        });
        if (response.statusCode !== 200) throw new Error(`OTLP HTTP ${response.statusCode}`);
        requests += 1;
      }
      for (let s = 0; mode === 'per-span' && s < count; s++) {
        await timed(() =>
          postJson(pool, '/v1/agl/spans', {
            rollout_id: rollout.rollout_id,
            attempt_id: rollout.attempt.attempt_id,
            trace_id: 'a'.repeat(32),
            span_id: `${index.toString(16).padStart(8, '0')}${s.toString(16).padStart(8, '0')}`,
            name: s === 0 ? 'agent.run' : 'llm.call',
            attributes: { 'gen_ai.usage.tokens': 120 + s, 'gen_ai.model': 'qwen' },
            start_time: 1767225600 + s,
            end_time: 1767225600.5 + s,
          }),
        );
        requests += 1;
      }
      spans += count;
      await timed(() =>
        postJson(pool, `/v1/agl/rollouts/${rollout.rollout_id}/attempts/${rollout.attempt.attempt_id}`, {
          status: 'succeeded',
        }),
      );
      requests += 1;
      rollouts += 1;
    }
  };
  await Promise.all(Array.from({ length: RUNNERS }, (_, i) => runner(i)));
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return { seconds, rollouts, spans, requests, p99Ms: percentile(latencies, 99) };
}

async function bareCeiling(url: string, requests: number): Promise<{ seconds: number; requests: number }> {
  const pool = new Pool(url, { connections: RUNNERS, pipelining: 1 });
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: RUNNERS }, async () => {
      while (sent < requests) {
        sent += 1;
        await postJson(pool, '/bare', { limit: 1, worker_id: 'w' });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return { seconds, requests: sent };
}

async function otlpIngest(url: string): Promise<{ seconds: number; spans: number }> {
  const pool = new Pool(url, { connections: OTLP_CONCURRENCY });
  const started0 = (await postJson(pool, '/v1/agl/rollouts', { input: 'otlp-bench' })) as WireRollout;
  const bodies = Array.from({ length: OTLP_REQUESTS }, (_, b) =>
    otlpBody(started0.rollout_id, started0.attempt.attempt_id, b, OTLP_SPANS_PER_REQUEST),
  );
  let next = 0;
  let spans = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: OTLP_CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const response = await pool.request({
          method: 'POST',
          path: '/v1/traces',
          headers: { 'content-type': 'application/x-protobuf' },
          body,
        });
        await response.body.arrayBuffer();
        if (response.statusCode !== 200) throw new Error(`OTLP HTTP ${response.statusCode}`);
        spans += OTLP_SPANS_PER_REQUEST;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return { seconds, spans };
}

export default async function bench(): Promise<void> {
  const rows: Array<Record<string, string | number>> = [];
  const notes: Record<string, unknown> = {
    runners: RUNNERS,
    rollouts: ROLLOUTS,
    spansPerRollout: '2..20 (uniform)',
  };
  const backends = (await postgresReachable()) ? ['sqlite', 'postgres'] : ['sqlite'];
  const rates: Record<string, { perSpan: number; otlpBatch: number }> = {};
  for (const backend of backends) {
    const server = await startWorker(backend);
    try {
      const perSpan = await rolloutScenario(server.url, 'per-span');
      const minimal = await rolloutScenario(server.minimalUrl, 'per-span');
      const batched = await rolloutScenario(server.url, 'otlp-batch');
      const ceiling = await bareCeiling(server.bareUrl, perSpan.requests);
      const otlp = await otlpIngest(server.url);
      const bareRate = ceiling.requests / ceiling.seconds;
      for (const [label, scenario] of [
        ['one POST /v1/agl/spans per span', perSpan],
        ['spans as one OTLP export per rollout', batched],
      ] as const) {
        const requestRate = scenario.requests / scenario.seconds;
        rows.push({
          case: `rollout scenario over HTTP (${backend}), ${label}`,
          'rollouts/s': round(scenario.rollouts / scenario.seconds),
          'spans/s': round(scenario.spans / scenario.seconds),
          'requests/s': round(requestRate),
          'p99 ms': round(scenario.p99Ms, 1),
          'vs ceiling': `${round((scenario.rollouts / scenario.seconds / (bareRate / (scenario.requests / scenario.rollouts))) * 100, 1)}% of ceiling rollouts/s`,
        });
      }
      rows.push(
        {
          case: `peer: plain Fastify handlers on the same ${backend} store (no validation/auth/metrics/idempotency), per-span`,
          'rollouts/s': round(minimal.rollouts / minimal.seconds),
          'spans/s': round(minimal.spans / minimal.seconds),
          'requests/s': round(minimal.requests / minimal.seconds),
          'p99 ms': round(minimal.p99Ms, 1),
          'vs ceiling': `agentstate per-span = ${round((perSpan.rollouts / perSpan.seconds / (minimal.rollouts / minimal.seconds)) * 100)}% of this`,
        },
        {
          case: 'ceiling: bare Fastify route, same JSON (same run), per-span request mix',
          'rollouts/s': round(bareRate / (perSpan.requests / perSpan.rollouts)),
          'spans/s': '-',
          'requests/s': round(bareRate),
          'p99 ms': '-',
          'vs ceiling': '100%',
        },
        {
          case: `OTLP protobuf ingest (${backend}, ${OTLP_SPANS_PER_REQUEST} spans/request)`,
          'rollouts/s': '-',
          'spans/s': round(otlp.spans / otlp.seconds),
          'requests/s': round(OTLP_REQUESTS / otlp.seconds),
          'p99 ms': '-',
          'vs ceiling': `${round((OTLP_REQUESTS / otlp.seconds / bareRate) * 100, 1)}% of bare req/s`,
        },
      );
      rates[backend] = {
        perSpan: perSpan.rollouts / perSpan.seconds,
        otlpBatch: batched.rollouts / batched.seconds,
      };
      notes[`${backend}Seconds`] = {
        perSpan: round(perSpan.seconds, 2),
        otlpBatch: round(batched.seconds, 2),
      };
    } finally {
      await stopWorker(server);
    }
  }
  if (!backends.includes('postgres'))
    notes.postgres = `not measured: PostgreSQL not reachable at ${POSTGRES_URL}`;
  else {
    // The same server on PostgreSQL against SQLite, same run.
    const { sqlite, postgres } = rates as Record<
      'sqlite' | 'postgres',
      { perSpan: number; otlpBatch: number }
    >;
    notes.postgresVsSqlite = {
      perSpan: `${round((postgres.perSpan / sqlite.perSpan) * 100)}%`,
      otlpBatch: `${round((postgres.otlpBatch / sqlite.otlpBatch) * 100)}%`,
    };
    console.log('PostgreSQL rollouts/s as a share of SQLite, same run:', notes.postgresVsSqlite);
  }
  await report('server', rows, notes);
}
