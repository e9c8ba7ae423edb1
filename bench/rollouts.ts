/**
 * `npm run bench rollouts`: the Agent Lightning "scenario" workload on every RolloutStore backend.
 *
 * N concurrent runners (32 and 256) loop: dequeue -> 2..20 spans with 5..40 attributes each -> mark the
 * attempt succeeded, until the queue is empty. Reported per backend: rollouts/s, spans/s, dequeue p50/p99.
 *
 * The peer, measured in the same run: a naive baseline that writes each span in its own transaction
 * (`addSpan` per span instead of one `addManySpans` per rollout, and no group commit), and a raw span-ingest pair (batches of 200
 * spans vs one transaction per span). A backend is one entry of `backends`; PostgreSQL joins automatically
 * when src/rollouts/postgres/ exists and a server is reachable.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InMemoryRolloutStore,
  type RolloutStore,
  type RolloutStoreOptions,
  type SpanInput,
  SqliteRolloutStore,
} from '../src/rollouts/index.ts';
import { type BenchRow, percentile, report, round } from './_report.ts';
import { type Attrs, attributePool, prng } from './_workload.ts';

interface BenchBackend {
  name: string;
  /** Rollouts per scenario run (sized so the whole benchmark stays around a minute on 2 cores). */
  rollouts: number;
  open(options: RolloutStoreOptions): Promise<OpenedStore>;
}

interface OpenedStore {
  store: RolloutStore;
  cleanup(): Promise<void>;
  /** CPU seconds the database server's processes serving this store used so far (PostgreSQL only). */
  databaseCpu?(): Promise<number>;
}

const sqliteDirs: string[] = [];

function sqliteBackend(): BenchBackend {
  return {
    name: 'sqlite',
    rollouts: 3000,
    async open(options) {
      const dir = mkdtempSync(join(tmpdir(), 'agentstate-bench-rollouts-'));
      sqliteDirs.push(dir);
      const store = new SqliteRolloutStore({ ...options, path: join(dir, 'rollouts.sqlite') });
      return {
        store,
        cleanup: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

async function postgresBackend(): Promise<BenchBackend | null> {
  const dir = new URL('../src/rollouts/postgres/', import.meta.url);
  if (!existsSync(dir)) return null;
  const url = process.env.AGENTSTATE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
  try {
    const module = (await import(new URL('index.ts', dir).href)) as Record<string, unknown>;
    const Store = module.PostgresRolloutStore as
      | (new (options: {
          connectionString: string;
          schema?: string;
        }) => RolloutStore)
      | undefined;
    if (Store === undefined) return null;
    const { default: pg } = await import('pg');
    return {
      name: 'postgres',
      rollouts: 2000,
      async open(options) {
        const schema = `bench_rollouts_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
        // The store's connections carry the schema as application name, so their backends' CPU can be read.
        const named = `${url}${url.includes('?') ? '&' : '?'}application_name=${schema}`;
        const store = new Store({ ...options, connectionString: named, schema });
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        // Backends seen so far and their last CPU reading: a connection the pool closes keeps its last one.
        const seen = new Map<number, number>();
        return {
          store,
          databaseCpu: async () => {
            const { rows } = await admin.query<{ pid: number }>(
              'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
              [schema],
            );
            for (const { pid } of rows) {
              try {
                const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
                seen.set(pid, (Number(fields[11]) + Number(fields[12])) / 100);
              } catch {
                // Not on this machine, or gone.
              }
            }
            let total = 0;
            for (const seconds of seen.values()) total += seconds;
            return total;
          },
          cleanup: async () => {
            await admin.end();
            await store.close();
            const client = new pg.Client({ connectionString: url });
            await client.connect();
            await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
            await client.end();
          },
        };
      },
    };
  } catch (error) {
    console.warn(`postgres rollout backend skipped: ${(error as Error).message}`);
    return null;
  }
}

interface ScenarioResult {
  seconds: number;
  rollouts: number;
  spans: number;
  dequeueMs: number[];
  /** CPU seconds of this process (store, runners) and of the database server, during the timed part. */
  processCpu: number;
  databaseCpu: number | null;
}

/** The scenario: `runners` loops of dequeue -> spans -> succeeded until the queue is empty. */
async function scenario(
  { store, databaseCpu }: OpenedStore,
  rollouts: number,
  runners: number,
  batched: boolean,
  pool: Attrs[],
): Promise<ScenarioResult> {
  const random = prng(42);
  // Enqueue in chunks (one transaction each) outside the timed section.
  for (let i = 0; i < rollouts; i += 500) {
    const chunk = Math.min(500, rollouts - i);
    await store.enqueueManyRollouts(Array.from({ length: chunk }, (_, j) => ({ input: { task: i + j } })));
  }
  const dequeueMs: number[] = [];
  let spans = 0;
  let done = 0;
  const databaseBefore = (await databaseCpu?.()) ?? null;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: runners }, async (_, r) => {
      const workerId = `runner-${r}`;
      for (;;) {
        const t0 = performance.now();
        const rollout = await store.dequeueRollout({ workerId });
        dequeueMs.push(performance.now() - t0);
        if (rollout === null) return;
        const count = 2 + Math.floor(random() * 19);
        const batch: SpanInput[] = [];
        for (let s = 0; s < count; s++) {
          batch.push({
            rolloutId: rollout.rolloutId,
            attemptId: rollout.attempt.attemptId,
            traceId: rollout.rolloutId,
            spanId: `span-${s}`,
            parentId: s === 0 ? null : 'span-0',
            name: s % 3 === 0 ? 'openai.chat' : 'tool.call',
            attributes: pool[(r + s) % pool.length]!,
            startTime: Date.now() / 1000,
            endTime: Date.now() / 1000,
          });
        }
        if (batched) await store.addManySpans(batch);
        else for (const span of batch) await store.addSpan(span);
        await store.updateAttempt(rollout.rolloutId, rollout.attempt.attemptId, { status: 'succeeded' });
        spans += count;
        done++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const databaseAfter = (await databaseCpu?.()) ?? null;
  if (done !== rollouts) throw new Error(`expected ${rollouts} rollouts, ran ${done}`);
  return {
    seconds,
    rollouts: done,
    spans,
    dequeueMs,
    processCpu: (cpu.user + cpu.system) / 1e6,
    databaseCpu: databaseBefore === null || databaseAfter === null ? null : databaseAfter - databaseBefore,
  };
}

/** Raw span ingest into one running attempt: batches of `batch` spans. */
async function ingest(store: RolloutStore, total: number, batch: number, pool: Attrs[]): Promise<number> {
  const rollout = await store.startRollout({ input: 'ingest' });
  const started = performance.now();
  for (let i = 0; i < total; i += batch) {
    const spans: SpanInput[] = [];
    for (let j = i; j < Math.min(total, i + batch); j++) {
      spans.push({
        rolloutId: rollout.rolloutId,
        attemptId: rollout.attempt.attemptId,
        traceId: 't',
        spanId: `s-${j}`,
        name: 'openai.chat',
        attributes: pool[j % pool.length]!,
      });
    }
    if (batch === 1) await store.addSpan(spans[0]!);
    else await store.addManySpans(spans);
  }
  return total / ((performance.now() - started) / 1000);
}

export default async function run(): Promise<void> {
  const pool = attributePool(prng(7), 64);
  const backends: BenchBackend[] = [
    {
      name: 'memory',
      rollouts: 4000,
      async open(options) {
        const store = new InMemoryRolloutStore(options);
        return { store, cleanup: () => store.close() };
      },
    },
    sqliteBackend(),
  ];
  const pg = await postgresBackend();
  if (pg !== null) backends.push(pg);

  const scenarioRows: BenchRow[] = [];
  const baselineRows: BenchRow[] = [];
  for (const backend of backends) {
    for (const runners of [32, 256]) {
      const results: Record<'batched' | 'naive', ScenarioResult> = {} as never;
      for (const mode of ['batched', 'naive'] as const) {
        // The naive baseline writes one transaction per span: no span batches and no group commit.
        const opened = await backend.open({ groupCommit: mode === 'batched' });
        try {
          results[mode] = await scenario(opened, backend.rollouts, runners, mode === 'batched', pool);
        } finally {
          await opened.cleanup();
        }
      }
      const b = results.batched;
      const n = results.naive;
      scenarioRows.push({
        backend: backend.name,
        runners,
        rollouts: b.rollouts,
        spans: b.spans,
        'rollouts/s': round(b.rollouts / b.seconds),
        'spans/s': round(b.spans / b.seconds),
        'dequeue p50 ms': round(percentile(b.dequeueMs, 50), 3),
        'dequeue p99 ms': round(percentile(b.dequeueMs, 99), 3),
        // Where the CPU goes: on a machine whose cores are full, these bound the rate.
        'process CPU ms/rollout': round((b.processCpu * 1000) / b.rollouts, 2),
        'database CPU ms/rollout':
          b.databaseCpu === null ? '-' : round((b.databaseCpu * 1000) / b.rollouts, 2),
      });
      baselineRows.push({
        backend: backend.name,
        workload: `scenario, ${runners} runners`,
        'batched rollouts/s': round(b.rollouts / b.seconds),
        'naive rollouts/s': round(n.rollouts / n.seconds),
        'batched spans/s': round(b.spans / b.seconds),
        'naive spans/s': round(n.spans / n.seconds),
        ratio: `${round(b.seconds > 0 ? n.seconds / b.seconds : 0, 2)}x`,
      });
    }
    const total = backend.name === 'postgres' ? 10_000 : 40_000;
    const speeds: number[] = [];
    for (const batch of [200, 1]) {
      const { store, cleanup } = await backend.open({ groupCommit: batch !== 1 });
      try {
        speeds.push(await ingest(store, batch === 1 ? total / 4 : total, batch, pool));
      } finally {
        await cleanup();
      }
    }
    baselineRows.push({
      backend: backend.name,
      workload: 'span ingest (200/batch vs 1/txn)',
      'batched rollouts/s': '-',
      'naive rollouts/s': '-',
      'batched spans/s': round(speeds[0]!),
      'naive spans/s': round(speeds[1]!),
      ratio: `${round(speeds[0]! / speeds[1]!, 2)}x`,
    });
  }
  for (const dir of sqliteDirs) rmSync(dir, { recursive: true, force: true });

  // Other work on the machine shifts these figures a lot on small machines: print the load beside them.
  const load = `load average ${loadavg()
    .map((x) => round(x, 1))
    .join(' / ')} on ${cpus().length} cores`;
  console.log(
    `\nScenario: N runners loop dequeue -> 2..20 spans (5..40 attributes) -> attempt succeeded (${load})`,
  );
  console.table(scenarioRows);
  console.log('\nBatching gain: the same work with one transaction per span (naive baseline), same run');
  await report('rollouts', baselineRows, {
    workload:
      'N concurrent runners (32, 256) loop dequeue -> 2..20 spans with 5..40 attributes -> updateAttempt succeeded; naive baseline = addSpan per span (one transaction each)',
    load,
    referencePublished:
      'Agent Lightning reference store: about 57 rollouts/s (published figure, not measured here)',
    scenario: scenarioRows,
    baseline: baselineRows,
  });
}
