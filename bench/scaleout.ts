/**
 * `npm run bench scaleout`: three `agentstate serve` processes against one, on one PostgreSQL schema, and
 * one on the embedded SQLite default, same run, same scenario. 256 HTTP runners each loop: dequeue -> 2
 * spans (one POST /v1/agl/spans each) -> mark the attempt succeeded. With three servers the runners are
 * spread round-robin over them. Passes alternate (one server, three servers, SQLite, ...) and each ratio
 * is the median of the per-pass ratios, so a machine whose load changes during the run favours no side.
 * p99 is the latency of single requests, all three kinds together.
 *
 * Also printed: database round trips per store operation, read from the servers' /metrics (a count, not a
 * timing, so it does not depend on the machine's load), and the CPU milliseconds per rollout, split
 * into the server processes, their PostgreSQL backends, this load generator and the whole machine (the
 * difference is whatever else runs): on a machine whose cores are full, these shares bound the rate and
 * show whether more server processes can help.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import { type ServeProcess, startServe } from '../tests/support/serveProcess.ts';
import { POSTGRES_URL, postgresReachable } from './_postgres.ts';
import { postJson } from './_postJson.ts';
import { percentile, report, round } from './_report.ts';

const RUNNERS = 256;
const ROLLOUTS = Number(process.env.BENCH_ROLLOUTS ?? 1500);
const PASSES = Number(process.env.BENCH_PASSES ?? 3);
// BENCH_IDEMPOTENCY_KEYS=1: every POST carries a fresh Idempotency-Key, as AgentStateClient's writes do
// (the servers then claim and keep each in the schema's shared idempotency table).
const IDEMPOTENCY_KEYS = process.env.BENCH_IDEMPOTENCY_KEYS === '1';
const post = (pool: Pool, path: string, body: unknown) =>
  postJson(pool, path, body, IDEMPOTENCY_KEYS ? { 'idempotency-key': crypto.randomUUID() } : {});
const CORES = availableParallelism();

/** CPU seconds (user + system) a process used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds the whole machine spent busy so far (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / 100;
}

/** The PostgreSQL backends serving this benchmark's servers (their connections carry its application name). */
async function backendPids(admin: pg.Client, application: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
    [application],
  );
  return rows.map((row) => row.pid);
}

/** CPU seconds of processes that may have exited meanwhile (counted as 0 then). */
function cpuOf(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      out.set(pid, cpuSeconds(pid));
    } catch {
      // Gone (an idle connection closed): its CPU since the last reading is lost, a small undercount.
    }
  }
  return out;
}

/** Where the CPU of a pass went: server processes, their PostgreSQL backends, this load generator, the rest. */
interface CpuShares {
  serverCpu: number;
  databaseCpu: number;
  loadCpu: number;
  machineCpu: number;
}

/** One pass: its rate, the p99 latency of its requests and where its CPU went. */
interface Measured extends CpuShares {
  rate: number;
  seconds: number;
  p99: number;
}

interface WireRollout {
  rollout_id: string;
  attempt: { attempt_id: string };
}

/** One pass: fill the queue, then 256 runners over `urls` until it is empty. */
async function pass(
  urls: readonly string[],
  servers: readonly ServeProcess[],
  admin: pg.Client,
  application: string,
): Promise<Measured> {
  const pools = urls.map((url) => new Pool(url, { connections: Math.ceil(RUNNERS / urls.length) + 4 }));
  for (let i = 0; i < ROLLOUTS; i += 500) {
    const batch = Array.from({ length: Math.min(500, ROLLOUTS - i) }, (_, k) => ({
      input: { index: i + k },
    }));
    await post(pools[0]!, '/v1/agl/queues/rollouts/enqueue', { rollouts: batch });
  }
  const cpuBefore = servers.map((s) => cpuSeconds(s.child.pid!));
  const backendsBefore = cpuOf(await backendPids(admin, application));
  const loadBefore = process.cpuUsage();
  const machineBefore = machineBusySeconds();
  let rollouts = 0;
  const latencies: number[] = [];
  const timed = async (pool: Pool, path: string, body: unknown) => {
    const sent = performance.now();
    const answer = await post(pool, path, body);
    latencies.push(performance.now() - sent);
    return answer;
  };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: RUNNERS }, async (_, runner) => {
      const pool = pools[runner % pools.length]!;
      for (;;) {
        const [rollout] = (await timed(pool, '/v1/agl/queues/rollouts/dequeue', {
          limit: 1,
          worker_id: `w-${runner}`,
        })) as WireRollout[];
        if (!rollout) return;
        const { rollout_id, attempt } = rollout;
        for (let s = 0; s < 2; s++) {
          await timed(pool, '/v1/agl/spans', {
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
        await timed(pool, `/v1/agl/rollouts/${rollout_id}/attempts/${attempt.attempt_id}`, {
          status: 'succeeded',
        });
        rollouts++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = servers.reduce((sum, s, i) => sum + cpuSeconds(s.child.pid!) - cpuBefore[i]!, 0);
  const load = process.cpuUsage(loadBefore);
  const machineCpu = machineBusySeconds() - machineBefore;
  let databaseCpu = 0;
  for (const [pid, now] of cpuOf(await backendPids(admin, application))) {
    databaseCpu += now - (backendsBefore.get(pid) ?? 0);
  }
  await Promise.all(pools.map((p) => p.close()));
  return {
    rate: rollouts / seconds,
    seconds,
    p99: percentile(latencies, 99),
    serverCpu,
    databaseCpu,
    loadCpu: (load.user + load.system) / 1e6,
    machineCpu,
  };
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
  // The servers' connections carry the schema as application name, so their backends' CPU can be read.
  const serverUrl = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}application_name=${schema}`;
  // Pools of 12: three servers x (12 + 1 LISTEN) stay well under PostgreSQL's default max_connections
  // (100) on a database other jobs use too; 256 runners need no more (one server runs up to 10 group-commit
  // batches of 32 calls at once).
  const args = ['--postgres', serverUrl, '--postgres-schema', schema, '--postgres-pool', '12'];
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  const servers: ServeProcess[] = [await startServe(args)];
  servers.push(...(await Promise.all([startServe(args), startServe(args)])));
  // The same server on the embedded SQLite default, for the PostgreSQL/SQLite ratio of one server.
  const dataDir = mkdtempSync(join(tmpdir(), 'agentstate-bench-scaleout-'));
  const sqlite = await startServe(['--data', dataDir]);
  const urls = servers.map((s) => s.url);
  const ones: Measured[] = [];
  const threes: Measured[] = [];
  const sqlites: Measured[] = [];
  const ratios: number[] = [];
  const shares: number[] = [];
  try {
    // Warm-up (prepared statements, pools, JIT), not counted.
    await pass(urls, servers, admin, schema);
    await pass([sqlite.url], [sqlite], admin, 'none');
    for (let i = 0; i < PASSES; i++) {
      const one = await pass(urls.slice(0, 1), servers.slice(0, 1), admin, schema);
      const three = await pass(urls, servers, admin, schema);
      const embedded = await pass([sqlite.url], [sqlite], admin, 'none');
      ones.push(one);
      threes.push(three);
      sqlites.push(embedded);
      ratios.push(three.rate / one.rate);
      shares.push(one.rate / embedded.rate);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const trips = await roundTrips(urls);
    // CPU milliseconds per rollout, medians over the passes: what bounds the rate when the cores are full.
    const perRollout = (passes: ReadonlyArray<CpuShares>, key: keyof CpuShares) =>
      round((median(passes.map((p) => p[key])) * 1000) / ROLLOUTS, 2);
    const cpu = (passes: readonly Measured[]) => ({
      'p99 ms (median)': round(median(passes.map((p) => p.p99)), 1),
      'server CPU ms/rollout': perRollout(passes, 'serverCpu'),
      'database CPU ms/rollout': perRollout(passes, 'databaseCpu'),
      'load generator CPU ms/rollout': perRollout(passes, 'loadCpu'),
      'machine CPU ms/rollout (all processes)': perRollout(passes, 'machineCpu'),
      // Busy share of all cores during the passes; near 100% the cores, not the software, set the rate.
      'machine busy': `${round(median(passes.map((p) => (p.machineCpu / p.seconds / CORES) * 100)))}%`,
      // The rate at which this configuration, load generator included, would fill these cores.
      'CPU ceiling rollouts/s': round((CORES * ROLLOUTS) / median(passes.map((p) => p.machineCpu))),
    });
    const list = (xs: number[]) => xs.map((r) => round(r, 2)).join(', ');
    const rows = [
      {
        case: `1 server process, ${RUNNERS} HTTP runners, PostgreSQL`,
        'rollouts/s (median)': round(median(ones.map((o) => o.rate))),
        ...cpu(ones),
        ratio: '1',
      },
      {
        case: `3 server processes, ${RUNNERS} HTTP runners round-robin, same schema`,
        'rollouts/s (median)': round(median(threes.map((o) => o.rate))),
        ...cpu(threes),
        ratio: `${round(median(ratios), 2)}x (median of per-pass ratios ${list(ratios)})`,
      },
      {
        case: `1 server process, ${RUNNERS} HTTP runners, SQLite (embedded default)`,
        'rollouts/s (median)': round(median(sqlites.map((o) => o.rate))),
        ...cpu(sqlites),
        ratio: `PostgreSQL (1 server) = ${round(median(shares) * 100)}% of this (per-pass ${list(shares)})`,
      },
    ];
    console.log('round trips per store operation (all passes, all servers):', trips);
    await report('scaleout', rows, {
      runners: RUNNERS,
      rolloutsPerPass: ROLLOUTS,
      passes: PASSES,
      cores: CORES,
      loadavg: loadavg().map((l) => round(l, 2)),
      roundTripsPerOperation: trips,
    });
  } finally {
    await Promise.all([...servers, sqlite].map((s) => s.stop()));
    rmSync(dataDir, { recursive: true, force: true });
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}
