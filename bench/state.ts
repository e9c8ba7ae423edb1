/**
 * `npm run bench state`: typed state keys.
 *
 * - commit of a 10-op batch, snapshot() and get() on a store with 100 keys (ops/s);
 * - runParallel with 32 tasks (one merged commit per run, and a run where 4 tasks conflict on an
 *   exclusive key and go through the sequential fallback);
 * - thread save + load round trip of a ~1 MB state on the memory, SQLite and PostgreSQL drivers
 *   (PostgreSQL when reachable at AGENTSTATE_TEST_POSTGRES or the default test URL).
 *
 * Peer, measured in the same run and interleaved round by round: LangGraph.js `MemorySaver`
 * (@langchain/langgraph-checkpoint), storing an equivalent state per step the way LangGraph's Pregel loop
 * does: copy the last checkpoint, set the changed channels, bump their versions, `put` it. LangGraph has no
 * in-memory state step without a checkpoint, so the peer of a commit is that `put`; the fair pair is
 * "commit + save to the memory driver" against it, reported as its own row. Reading state in LangGraph is
 * `getTuple` (it deserializes the whole checkpoint), the peer of both snapshot() and get().
 * The durable peer is `SqliteSaver` (@langchain/langgraph-checkpoint-sqlite) on a file in a temp directory,
 * set to `synchronous = NORMAL` like agentstate's SQLite driver so both pay the same commit cost (WAL, no
 * fsync per commit); it is the peer of "commit + thread save" on the SQLite driver and of the SQLite round
 * trip. (package.json's `overrides` gives it the project's better-sqlite3, which has a binary for Node 24.)
 * The growing-state rows (delta thread saves, session saves, HTTP message posts) are in bench/_growth.ts.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BaseCheckpointSaver,
  emptyCheckpoint,
  MemorySaver,
  uuid6,
} from '@langchain/langgraph-checkpoint';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { createMemoryStore } from '../src/drivers/memory.ts';
import { createPostgresStore } from '../src/drivers/postgres.ts';
import { createSqliteStore } from '../src/drivers/sqlite.ts';
import type { DocumentStore } from '../src/drivers/types.ts';
import { appendList, counter, lastValue } from '../src/state/helpers.ts';
import type { AnyStateKey, StateKey } from '../src/state/key.ts';
import { type ParallelTaskContext, runParallel } from '../src/state/parallel.ts';
import { StateStore } from '../src/state/store.ts';
import { ThreadStateRepository } from '../src/state/threadRepository.ts';
import { growthRows } from './_growth.ts';
import { dropSchema, POSTGRES_URL, postgresReachable } from './_postgres.ts';
import { type BenchRow, percentile, report, round } from './_report.ts';

const KEYS = 100;
const OPS_PER_BATCH = 10;
const TASKS = 32;
// Interleaved rounds per rate row; the median is reported (the machine may be shared, so more than a few).
const ROUNDS = 9;

type Checkpoint = ReturnType<typeof emptyCheckpoint>;
type ThreadConfig = { configurable: { thread_id: string; checkpoint_ns: string; checkpoint_id?: string } };
interface Field {
  text: string;
  n: number;
}

// ---------- timing ----------

/** ops/s of `fn` over about `ms` milliseconds (calls in chunks so timer reads do not dominate). */
async function opsPerSecond(fn: () => unknown, ms: number): Promise<number> {
  let calls = 0;
  let chunk = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < chunk; i++) {
      const result = fn();
      if (result instanceof Promise) await result;
    }
    calls += chunk;
    elapsed = performance.now() - start;
    if (elapsed < ms / 20) chunk *= 2;
  }
  return (calls / elapsed) * 1000;
}

/** Median ops/s of ours and peer over `rounds` alternating rounds (who goes first alternates too). */
async function compareRate(
  rounds: number,
  msPerRound: number,
  ours: () => unknown,
  peer: () => unknown,
): Promise<{ ours: number; peer: number }> {
  await opsPerSecond(ours, msPerRound / 2);
  await opsPerSecond(peer, msPerRound / 2);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      a.push(await opsPerSecond(ours, msPerRound));
      b.push(await opsPerSecond(peer, msPerRound));
    } else {
      b.push(await opsPerSecond(peer, msPerRound));
      a.push(await opsPerSecond(ours, msPerRound));
    }
  }
  return { ours: percentile(a, 50), peer: percentile(b, 50) };
}

/** Median and p95 ms per call of ours and peer, interleaved. */
async function compareLatency(
  rounds: number,
  ours: () => unknown,
  peer: () => unknown,
): Promise<{ ours: { median: number; p95: number }; peer: { median: number; p95: number } }> {
  const a: number[] = [];
  const b: number[] = [];
  const warmup = Math.max(2, Math.floor(rounds / 5));
  for (let i = 0; i < warmup + rounds; i++) {
    for (const fn of i % 2 === 0 ? [ours, peer] : [peer, ours]) {
      const start = performance.now();
      await fn();
      const elapsed = performance.now() - start;
      if (i >= warmup) (fn === ours ? a : b).push(elapsed);
    }
  }
  const s = (x: number[]) => ({ median: percentile(x, 50), p95: percentile(x, 95) });
  return { ours: s(a), peer: s(b) };
}

function rateRow(name: string, peerName: string, r: { ours: number; peer: number }): BenchRow {
  return {
    case: name,
    'ours ops/s': round(r.ours),
    peer: peerName,
    'peer ops/s': round(r.peer),
    'ours/peer': `${round(r.ours / r.peer, 2)}x`,
  };
}

// ---------- the 100-key state, ours and LangGraph's ----------

function makeKeys(): Array<StateKey<Field, Field>> {
  return Array.from({ length: KEYS }, (_, i) =>
    lastValue<Field>({
      key: `k${i}`,
      scope: 'thread',
      initial: () => ({ text: `initial value of key ${i}`, n: 0 }),
    }),
  );
}

/** LangGraph's side: a checkpoint with the same channels, advanced one step per `step()`, in `saver`. */
class LangGraphThread {
  readonly saver: BaseCheckpointSaver;
  #config: ThreadConfig = { configurable: { thread_id: 'bench', checkpoint_ns: '' } };
  #checkpoint: Checkpoint;
  #step = 0;

  constructor(values: Record<string, unknown>, saver: BaseCheckpointSaver = new MemorySaver()) {
    this.saver = saver;
    this.#checkpoint = emptyCheckpoint();
    for (const [k, v] of Object.entries(values)) {
      this.#checkpoint.channel_values[k] = v;
      this.#checkpoint.channel_versions[k] = 1;
    }
  }

  /** One Pregel-style step: new checkpoint with `changes`, versions bumped, `put`. */
  async step(changes: Record<string, unknown>): Promise<void> {
    const next: Checkpoint = {
      ...this.#checkpoint,
      id: uuid6(-1),
      ts: new Date().toISOString(),
      channel_values: { ...this.#checkpoint.channel_values, ...changes },
      channel_versions: { ...this.#checkpoint.channel_versions },
    };
    const newVersions: Record<string, number> = {};
    for (const k of Object.keys(changes)) {
      const v = (Number(next.channel_versions[k]) || 0) + 1;
      next.channel_versions[k] = v;
      newVersions[k] = v;
    }
    this.#step++;
    // The savers keep every checkpoint (history); drop it now and then so the run's memory (or file) stays
    // bounded. Our store keeps no history, so this only removes work the peer would otherwise pile up.
    if (this.#step % 500 === 0) await this.saver.deleteThread(this.#config.configurable.thread_id);
    this.#config = (await this.saver.put(
      this.#config,
      next,
      { source: 'loop', step: this.#step, parents: {} },
      newVersions,
    )) as ThreadConfig;
    this.#checkpoint = next;
  }

  get config(): ThreadConfig {
    return this.#config;
  }
}

/** A `SqliteSaver` on a fresh file, with the same commit durability as agentstate's SQLite driver. */
async function openSqliteSaver(): Promise<{ saver: SqliteSaver; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'agentstate-bench-sqlitesaver-'));
  const saver = SqliteSaver.fromConnString(join(dir, 'checkpoints.db'));
  saver.db.pragma('synchronous = NORMAL');
  return {
    saver,
    cleanup: async () => {
      saver.db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A SQLite document store on a fresh file. */
async function openSqliteDocuments(): Promise<{ store: DocumentStore; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'agentstate-bench-state-'));
  const store = createSqliteStore({ path: join(dir, 'state.db') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function keyRows(): Promise<BenchRow[]> {
  const keys = makeKeys();
  const store = new StateStore({ keys: keys as unknown as AnyStateKey[] });
  const initial: Record<string, unknown> = {};
  for (const k of keys) initial[k.key] = k.initial();
  const graph = new LangGraphThread(initial);
  await graph.step({});

  let i = 0;
  const commitOurs = () => {
    const batch = store.batch();
    for (let j = 0; j < OPS_PER_BATCH; j++) {
      const key = keys[(i + j) % KEYS]!;
      batch.update(key, { text: `value ${i}`, n: i });
    }
    i += OPS_PER_BATCH;
    store.commit(batch);
  };
  /** The peer's side of a 10-op commit: one step of `thread` changing the same 10 channels. */
  const stepper = (thread: LangGraphThread) => {
    let p = 0;
    return () => {
      const changes: Record<string, unknown> = {};
      for (let j = 0; j < OPS_PER_BATCH; j++) changes[`k${(p + j) % KEYS}`] = { text: `value ${p}`, n: p };
      p += OPS_PER_BATCH;
      return thread.step(changes);
    };
  };
  const stepPeer = stepper(graph);
  const rows: BenchRow[] = [];
  rows.push(
    rateRow(
      `commit 10-op batch (${KEYS} keys)`,
      'MemorySaver.put of the step checkpoint',
      await compareRate(ROUNDS, 300, commitOurs, stepPeer),
    ),
  );

  /** The per-step pair: our 10-op commit saved to `documents` against one peer step in `peerName`. */
  const commitAndSave = async (
    driver: string,
    documents: DocumentStore,
    peerName: string,
    peer: () => unknown,
  ) => {
    const session = await new ThreadStateRepository(documents).open('bench', store);
    const commitAndSaveOurs = async () => {
      commitOurs();
      await session.save();
    };
    const rate = await compareRate(ROUNDS, 300, commitAndSaveOurs, peer);
    rows.push(
      rateRow(`commit 10-op batch + thread save (${driver})`, `${peerName}.put of the step checkpoint`, rate),
    );
  };
  const documents = createMemoryStore();
  await commitAndSave('memory driver', documents, 'MemorySaver', stepPeer);
  await documents.close();

  // The durable pair: both sides on a file.
  const sqliteDocuments = await openSqliteDocuments();
  const sqliteSaver = await openSqliteSaver();
  try {
    const durableGraph = new LangGraphThread(initial, sqliteSaver.saver);
    await durableGraph.step({});
    await commitAndSave('SQLite driver', sqliteDocuments.store, 'SqliteSaver', stepper(durableGraph));
  } finally {
    await sqliteDocuments.cleanup();
    await sqliteSaver.cleanup();
  }

  // snapshot() right after a commit (the worst case: the next commit must copy the map once).
  let s = 0;
  const afterCommit = () => {
    store.update(keys[s++ % KEYS]!, { text: 'x', n: s });
    return store.snapshot();
  };
  const readPeer = () => graph.saver.getTuple({ configurable: { thread_id: 'bench', checkpoint_ns: '' } });
  rows.push(
    rateRow(
      'snapshot()',
      'MemorySaver.getTuple (latest)',
      await compareRate(ROUNDS, 300, () => store.snapshot(), readPeer),
    ),
  );
  rows.push(
    rateRow(
      'commit 1 op + snapshot()',
      'MemorySaver.put of the step checkpoint',
      await compareRate(ROUNDS, 300, afterCommit, stepPeer),
    ),
  );
  let g = 0;
  rows.push(
    rateRow(
      `get() (${KEYS} keys)`,
      'MemorySaver.getTuple, read one channel',
      await compareRate(
        ROUNDS,
        300,
        () => store.get(keys[g++ % KEYS]!),
        async () => {
          const tuple = await readPeer();
          return tuple?.checkpoint.channel_values[`k${g++ % KEYS}`];
        },
      ),
    ),
  );
  return rows;
}

// ---------- runParallel ----------

async function parallelRows(): Promise<BenchRow[]> {
  const Hits = counter({ key: 'hits' });
  const Log = appendList<string>({ key: 'log', scope: 'run' });
  const Owned = Array.from({ length: TASKS }, (_, i) =>
    lastValue<number>({ key: `task${i}`, initial: () => 0 }),
  );
  const Shared = lastValue<number>({ key: 'shared', initial: () => 0 });
  const store = new StateStore({ keys: [Hits, Log, Shared, ...Owned] as unknown as AnyStateKey[] });
  const tasks = Owned.map((key, i) => async ({ snapshot, batch }: ParallelTaskContext) => {
    const seen = snapshot.get(Hits);
    batch.update(Hits, 1).update(Log, `task ${i} saw ${seen}`).update(key, seen);
  });
  // The same tasks, but every 8th also writes one shared exclusive key: 3 of them go to the fallback.
  const conflicting = tasks.map((task, i) => async (context: ParallelTaskContext) => {
    await task(context);
    if (i % 8 === 0) context.batch.update(Shared, i);
  });

  // Peer: the checkpoint traffic of a 32-branch LangGraph super-step: one putWrites per task, one put.
  const graph = new LangGraphThread({ hits: 0, log: [], shared: 0 });
  await graph.step({});
  let step = 0;
  const peer = async () => {
    const config = graph.config;
    await Promise.all(
      Owned.map((_, i) =>
        graph.saver.putWrites(
          config,
          [
            ['hits', 1],
            ['log', `task ${i}`],
            [`task${i}`, step],
          ],
          `task-${step}-${i}`,
        ),
      ),
    );
    await graph.step({ hits: step, log: [`step ${step}`] });
    step++;
  };
  const rows: BenchRow[] = [];
  const runs = await compareRate(
    ROUNDS,
    300,
    async () => {
      store.startRun();
      await runParallel(store, tasks);
    },
    peer,
  );
  rows.push(
    rateRow(
      `runParallel ${TASKS} tasks, no conflict (runs/s)`,
      `MemorySaver: ${TASKS} putWrites + put (runs/s)`,
      runs,
    ),
  );
  const withFallback = await compareRate(
    ROUNDS,
    300,
    async () => {
      store.startRun();
      const result = await runParallel(store, conflicting);
      if (result.rerun.length !== 3) throw new Error('expected 3 sequential re-runs');
    },
    peer,
  );
  rows.push(
    rateRow(
      `runParallel ${TASKS} tasks, 3 re-run on conflict (runs/s)`,
      `MemorySaver: ${TASKS} putWrites + put (runs/s)`,
      withFallback,
    ),
  );
  return rows;
}

// ---------- 1 MB thread round trip ----------

async function roundTripRows(notes: Record<string, unknown>): Promise<BenchRow[]> {
  const Messages = appendList<string>({ key: 'messages', scope: 'thread' });
  const Turns = counter({ key: 'turns', scope: 'thread' });
  const line = 'm'.repeat(1000);
  const writer = new StateStore({ keys: [Messages, Turns] });
  const batch = writer.batch();
  for (let i = 0; i < 1000; i++) batch.update(Messages, `${i}:${line}`);
  writer.commit(batch);
  const bytes = JSON.stringify(writer.exportPersisted()).length;

  /** The peer's round trip in `saver`: put a step of the same state, then getTuple it back. */
  const peerRoundTrip = (saver: BaseCheckpointSaver) => {
    const graph = new LangGraphThread({ messages: writer.get(Messages), turns: 0 }, saver);
    let peerTurn = 0;
    return async () => {
      await graph.step({ turns: ++peerTurn });
      const tuple = await graph.saver.getTuple({ configurable: { thread_id: 'bench', checkpoint_ns: '' } });
      if ((tuple?.checkpoint.channel_values.messages as string[] | undefined)?.length !== 1000)
        throw new Error('peer lost data');
    };
  };

  const drivers: Array<{
    name: string;
    open: () => Promise<{ store: DocumentStore; cleanup: () => Promise<void> }>;
  }> = [
    {
      name: 'memory',
      open: async () => {
        const store = createMemoryStore();
        return { store, cleanup: () => store.close() };
      },
    },
    { name: 'sqlite', open: openSqliteDocuments },
  ];
  if (await postgresReachable()) {
    drivers.push({
      name: 'postgres',
      open: async () => {
        const schema = `bench_state_${process.pid}`;
        const store = createPostgresStore({ connectionString: POSTGRES_URL, schema });
        return {
          store,
          cleanup: async () => {
            await store.close();
            await dropSchema(schema);
          },
        };
      },
    });
  } else {
    notes.postgres = `not reachable at ${POSTGRES_URL}; PostgreSQL row skipped`;
  }

  const rows: BenchRow[] = [];
  for (const driver of drivers) {
    const { store: documents, cleanup } = await driver.open();
    // SQLite is compared with SqliteSaver on a file; the others with MemorySaver (LangGraph.js has no
    // peer on our other drivers in this run).
    const durablePeer = driver.name === 'sqlite' ? await openSqliteSaver() : undefined;
    const peer = peerRoundTrip(durablePeer?.saver ?? new MemorySaver());
    try {
      const repo = new ThreadStateRepository(documents);
      const session = await repo.open('big', writer);
      const ours = async () => {
        writer.update(Turns, 1);
        await session.save();
        const reader = new StateStore({ keys: [Messages, Turns] });
        await repo.open('big', reader);
        if (reader.get(Messages).length !== 1000) throw new Error('lost data');
      };
      const t = await compareLatency(driver.name === 'postgres' ? 20 : 30, ours, peer);
      rows.push({
        case: `thread save + load, ${round(bytes / 1e6, 2)} MB (${driver.name})`,
        'ours median ms': round(t.ours.median, 2),
        'ours p95 ms': round(t.ours.p95, 2),
        peer: durablePeer ? 'SqliteSaver put + getTuple (file)' : 'MemorySaver put + getTuple (in memory)',
        'peer median ms': round(t.peer.median, 2),
        'ours/peer time': `${round(t.ours.median / t.peer.median, 2)}x`,
      });
    } finally {
      await cleanup();
      await durablePeer?.cleanup();
    }
  }
  return rows;
}

export default async function run(): Promise<void> {
  const notes: Record<string, unknown> = {
    keys: KEYS,
    opsPerBatch: OPS_PER_BATCH,
    parallelTasks: TASKS,
    peer: 'LangGraph.js MemorySaver (@langchain/langgraph-checkpoint) and SqliteSaver (@langchain/langgraph-checkpoint-sqlite, synchronous=NORMAL like ours), interleaved in the same run',
  };
  const rows: BenchRow[] = [];
  rows.push(...(await keyRows()));
  console.table(rows);
  const parallel = await parallelRows();
  console.table(parallel);
  const trips = await roundTripRows(notes);
  console.table(trips);
  const growth = await growthRows();
  await report('state', [...rows, ...parallel, ...trips, ...growth], notes);
}
