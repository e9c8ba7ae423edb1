/**
 * `npm run bench scaleout`: three `agentstate serve` processes against one, on one PostgreSQL schema, same
 * run, same scenario. 256 HTTP runners each loop: dequeue -> 2 spans (one POST /v1/agl/spans each) ->
 * mark the attempt succeeded. With three servers the runners are spread round-robin over them. Passes
 * alternate (one server, three servers, ...) and the ratio is the median of the per-pass ratios, so a
 * machine whose load changes during the run does not favour either side.
 *
 * Also printed: database round trips per store operation, read from the servers' /metrics (a count, not a
 * timing, so it does not depend on the machine's load), and the CPU seconds the server processes used
 * per pass (the rest of the machine's CPU is PostgreSQL, the load generator and whatever else runs).
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import pg from 'pg';
import { Pool } from 'undici';
import { type ServeProcess, startServe } from '../tests/support/serveProcess.ts';
import { report, round } from './_report.ts';

const RUNNERS = 256;
const ROLLOUTS = Number(process.env.BENCH_ROLLOUTS ?? 600);
const PASSES = Number(process.env.BENCH_PASSES ?? 3);
const POSTGRES_URL = process.env.AGENTSTATE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

function postgresReachable(): Promise<boolean> {
  const { hostname, port } = new URL(POSTGRES_URL);
  return new Promise((resolve) => {
    const socket = connect(Number(port || 5432), hostname, () => {
      socket.destroy();
      resolve(true);
    });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function post(pool: Pool, path: string, body: unknown): Promise<unknown> {
  const response = await pool.request({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`${path}: HTTP ${response.statusCode} ${text}`);
  return text === '' ? null : JSON.parse(text);
}

/** CPU seconds (user + system) a process used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface WireRollout {
  rollout_id: string;
  attempt: { attempt_id: string };
}

/** One pass: fill the queue, then 256 runners over `urls` until it is empty. */
async function pass(urls: readonly string[], servers: readonly ServeProcess[]) {
  const pools = urls.map((url) => new Pool(url, { connections: Math.ceil(RUNNERS / urls.length) + 4 }));
  for (let i = 0; i < ROLLOUTS; i += 500) {
    const batch = Array.from({ length: Math.min(500, ROLLOUTS - i) }, (_, k) => ({
      input: { index: i + k },
    }));
    await post(pools[0]!, '/v1/agl/queues/rollouts/enqueue', { rollouts: batch });
  }
  const cpuBefore = servers.map((s) => cpuSeconds(s.child.pid!));
  let rollouts = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: RUNNERS }, async (_, runner) => {
      const pool = pools[runner % pools.length]!;
      for (;;) {
        const [rollout] = (await post(pool, '/v1/agl/queues/rollouts/dequeue', {
          limit: 1,
          worker_id: `w-${runner}`,
        })) as WireRollout[];
        if (!rollout) return;
        const { rollout_id, attempt } = rollout;
        for (let s = 0; s < 2; s++) {
          await post(pool, '/v1/agl/spans', {
            rollout_id,
            attempt_id: attempt.attempt_id,
            trace_id: 'a'.repeat(32),
            span_id: `${runner.toString(16).padStart(8, '0')}${s.toString(16).padStart(8, '0')}`,
            name: 'llm.call',
            attributes: { 'gen_ai.usage.tokens': 120 + s },
            start_time: 1767225600 + s,
            end_time: 1767225600.5 + s,
          });
        }
        await post(pool, `/v1/agl/rollouts/${rollout_id}/attempts/${attempt.attempt_id}`, {
          status: 'succeeded',
        });
        rollouts++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = servers.reduce((sum, s, i) => sum + cpuSeconds(s.child.pid!) - cpuBefore[i]!, 0);
  await Promise.all(pools.map((p) => p.close()));
  return { rate: rollouts / seconds, seconds, serverCpu };
}

/** Round trips per operation, summed over the servers' /metrics. */
async function roundTrips(urls: readonly string[]): Promise<Record<string, number>> {
  const sums = new Map<string, { ops: number; trips: number }>();
  for (const url of urls) {
    const page = await (await fetch(`${url}/metrics`)).text();
    for (const line of page.split('\n')) {
      const m = /^agentstate_store_(operations|round_trips)\{operation="(\w+)"\} ([\d.e+]+)$/.exec(line);
      if (!m) continue;
      const entry = sums.get(m[2]!) ?? { ops: 0, trips: 0 };
      if (m[1] === 'operations') entry.ops += Number(m[3]);
      else entry.trips += Number(m[3]);
      sums.set(m[2]!, entry);
    }
  }
  const out: Record<string, number> = {};
  for (const [op, { ops, trips }] of sums) if (ops > 0) out[op] = round(trips / ops, 2);
  return out;
}

export default async function bench(): Promise<void> {
  if (!(await postgresReachable())) {
    console.log(`scaleout: not measured, PostgreSQL not reachable at ${POSTGRES_URL}`);
    await report('scaleout', [], { postgres: `not reachable at ${POSTGRES_URL}` });
    return;
  }
  const schema = `bench_scaleout_${process.pid}`;
  const args = ['--postgres', POSTGRES_URL, '--postgres-schema', schema];
  const servers: ServeProcess[] = [await startServe(args)];
  servers.push(...(await Promise.all([startServe(args), startServe(args)])));
  const urls = servers.map((s) => s.url);
  const ones: Array<{ rate: number; serverCpu: number }> = [];
  const threes: Array<{ rate: number; serverCpu: number }> = [];
  const ratios: number[] = [];
  try {
    // Warm-up (prepared statements, pools, JIT), not counted.
    await pass(urls, servers);
    for (let i = 0; i < PASSES; i++) {
      const one = await pass(urls.slice(0, 1), servers.slice(0, 1));
      const three = await pass(urls, servers);
      ones.push(one);
      threes.push(three);
      ratios.push(three.rate / one.rate);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const trips = await roundTrips(urls);
    const rows = [
      {
        case: `1 server process, ${RUNNERS} HTTP runners, PostgreSQL`,
        'rollouts/s (median)': round(median(ones.map((o) => o.rate))),
        'server CPU s/pass (median)': round(median(ones.map((o) => o.serverCpu)), 2),
        ratio: '1',
      },
      {
        case: `3 server processes, ${RUNNERS} HTTP runners round-robin, same schema`,
        'rollouts/s (median)': round(median(threes.map((o) => o.rate))),
        'server CPU s/pass (median)': round(median(threes.map((o) => o.serverCpu)), 2),
        ratio: `${round(median(ratios), 2)}x (median of per-pass ratios ${ratios.map((r) => round(r, 2)).join(', ')})`,
      },
    ];
    console.log('round trips per store operation (all passes, all servers):', trips);
    await report('scaleout', rows, {
      runners: RUNNERS,
      rolloutsPerPass: ROLLOUTS,
      passes: PASSES,
      loadavg: loadavg().map((l) => round(l, 2)),
      roundTripsPerOperation: trips,
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}
