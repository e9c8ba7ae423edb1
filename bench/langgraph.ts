/**
 * `npm run bench langgraph`: AgentStateSaver against LangGraph.js's own savers, measured in the same run
 * on the same workload (bench/_threadWorkload.ts: a 1,000-step thread, 50 KB of state in 10 channels, one
 * channel changed per step): put/s over the 1,000 steps, getTuple/s of the latest checkpoint afterwards,
 * and bytes on disk after the run.
 *
 * Pairs: memory driver vs `MemorySaver`; SQLite driver vs `SqliteSaver` (both on a file, synchronous =
 * NORMAL, WAL); PostgreSQL driver vs `PostgresSaver` (@langchain/langgraph-checkpoint-postgres), each in its
 * own schema of the same server (skipped, and said so, when PostgreSQL is not reachable). Passes alternate
 * which side goes first; the table shows medians of each side and the median of the per-pass ratios.
 * `BENCH_PASSES=n` sets the number of passes (default 3), `BENCH_BACKENDS=sqlite,postgresql` the pairs (by the start of their name). The "PostgreSQL, async commit"
 * pair runs both sides with synchronous_commit = off. The PostgreSQL rows also measure the floor
 * (./_postgresFloor.ts: one statement per put, nothing else) in each pass: "floor/peer" is the most any
 * saver can reach against PostgresSaver on this server, since both wait for the same WAL flush per put;
 * "ours/floor" is how near ours comes to it in the same passes.
 */

import { join } from 'node:path';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import { MemorySaver } from '@langchain/langgraph-checkpoint';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { createMemoryStore } from '../src/drivers/memory.ts';
import { createPostgresStore } from '../src/drivers/postgres.ts';
import { createSqliteStore } from '../src/drivers/sqlite.ts';
import { AgentStateSaver } from '../src/integrations/langgraph/index.ts';
import { dropSchema, POSTGRES_URL, postgresReachable, schemaBytes } from './_postgres.ts';
import { type FloorSaver, openFloorSaver } from './_postgresFloor.ts';
import { type BenchRow, percentile, report, round } from './_report.ts';
import { bytesOnDisk, CHANNEL_BYTES, CHANNELS, SaverThread, STEPS, tempDir } from './_threadWorkload.ts';

const PASSES = Number(process.env.BENCH_PASSES ?? 3);
const GET_CALLS = 300;

/** A saver on fresh storage, and how to measure and remove that storage. */
interface Opened {
  saver: BaseCheckpointSaver;
  /** Closes the saver and returns its bytes on disk (undefined in memory). */
  close(): Promise<number | undefined>;
  cleanup(): Promise<void>;
}

interface Measured {
  putPerSecond: number;
  getPerSecond: number;
  bytes: number | undefined;
}

async function measure(open: () => Promise<Opened>): Promise<Measured> {
  const opened = await open();
  try {
    const thread = new SaverThread(opened.saver);
    await thread.start();
    const putStart = performance.now();
    for (let i = 0; i < STEPS; i++) await thread.step();
    const putSeconds = (performance.now() - putStart) / 1000;
    const latest = await thread.latest();
    const values = latest?.checkpoint.channel_values ?? {};
    if (Object.keys(values).length !== CHANNELS || String(values.c0).length !== CHANNEL_BYTES) {
      throw new Error('a saver lost channel values');
    }
    const getStart = performance.now();
    for (let i = 0; i < GET_CALLS; i++) await thread.latest();
    const getSeconds = (performance.now() - getStart) / 1000;
    const bytes = await opened.close();
    return { putPerSecond: STEPS / putSeconds, getPerSecond: GET_CALLS / getSeconds, bytes };
  } finally {
    await opened.cleanup();
  }
}

interface Pair {
  backend: string;
  peerName: string;
  ours: () => Promise<Opened>;
  peer: () => Promise<Opened>;
  /** The least any saver can do per put on this backend (PostgreSQL only, see ./_postgresFloor.ts). */
  floor?: () => Promise<FloorSaver>;
}

// Put/s of the floor on the same workload.
async function measureFloor(open: () => Promise<FloorSaver>): Promise<number> {
  const saver = await open();
  try {
    const thread = new SaverThread(saver);
    await thread.start();
    const start = performance.now();
    for (let i = 0; i < STEPS; i++) await thread.step();
    return STEPS / ((performance.now() - start) / 1000);
  } finally {
    await saver.end();
  }
}

function pairs(withPostgres: boolean): Pair[] {
  const list: Pair[] = [
    {
      backend: 'memory',
      peerName: 'MemorySaver',
      ours: async () => {
        const store = createMemoryStore();
        return {
          saver: new AgentStateSaver(store),
          close: async () => undefined,
          cleanup: () => store.close(),
        };
      },
      peer: async () => ({ saver: new MemorySaver(), close: async () => undefined, cleanup: async () => {} }),
    },
    {
      backend: 'SQLite',
      peerName: 'SqliteSaver',
      ours: async () => {
        const { dir, cleanup } = await tempDir('lg-ours');
        const store = createSqliteStore({ path: join(dir, 'state.db') });
        let closed = false;
        return {
          saver: new AgentStateSaver(store),
          close: async () => {
            await store.close();
            closed = true;
            return bytesOnDisk(dir);
          },
          cleanup: async () => {
            if (!closed) await store.close();
            await cleanup();
          },
        };
      },
      peer: async () => {
        const { dir, cleanup } = await tempDir('lg-peer');
        const saver = SqliteSaver.fromConnString(join(dir, 'checkpoints.db'));
        saver.db.pragma('journal_mode = WAL');
        saver.db.pragma('synchronous = NORMAL');
        return {
          saver,
          close: async () => {
            saver.db.close();
            return bytesOnDisk(dir);
          },
          cleanup: async () => {
            if (saver.db.open) saver.db.close();
            await cleanup();
          },
        };
      },
    },
  ];
  if (withPostgres) list.push(postgresPair('PostgreSQL', POSTGRES_URL));
  // Both sides again without a WAL flush per commit (as SQLite's synchronous = NORMAL on both sides
  // above): what remains is each saver's own work and round trips, not the disk's flush latency.
  if (withPostgres) list.push(postgresPair('PostgreSQL, async commit', asyncCommitUrl()));
  return list;
}

// The PostgreSQL URL with `synchronous_commit = off` for every connection (a server setting per session).
function asyncCommitUrl(): string {
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', '-c synchronous_commit=off');
  return url.toString();
}

let schemas = 0;

// AgentStateSaver on the PostgreSQL driver against PostgresSaver, each in its own schema, over `url`.
function postgresPair(backend: string, url: string): Pair {
  const n = () => schemas++;
  return {
    backend,
    peerName: 'PostgresSaver',
    ours: async () => {
      const schema = `bench_lg_ours_${process.pid}_${n()}`;
      const store = createPostgresStore({ connectionString: url, schema });
      let closed = false;
      return {
        saver: new AgentStateSaver(store),
        close: async () => {
          await store.close();
          closed = true;
          return schemaBytes(schema);
        },
        cleanup: async () => {
          if (!closed) await store.close();
          await dropSchema(schema);
        },
      };
    },
    floor: async () => {
      const schema = `bench_lg_floor_${process.pid}_${n()}`;
      const saver = await openFloorSaver(url, schema);
      return {
        ...saver,
        end: async () => {
          await saver.end();
          await dropSchema(schema);
        },
      };
    },
    peer: async () => {
      const schema = `bench_lg_peer_${process.pid}_${n()}`;
      const saver = PostgresSaver.fromConnString(url, { schema });
      await saver.setup();
      let closed = false;
      return {
        saver,
        close: async () => {
          await saver.end();
          closed = true;
          return schemaBytes(schema);
        },
        cleanup: async () => {
          if (!closed) await saver.end();
          await dropSchema(schema);
        },
      };
    },
  };
}

export default async function run(): Promise<void> {
  const notes: Record<string, unknown> = {
    workload: `${STEPS} steps, ${CHANNELS} channels x ${CHANNEL_BYTES} B = ${(CHANNELS * CHANNEL_BYTES) / 1000} KB state, one channel changed per step`,
    passes: PASSES,
    peers:
      'MemorySaver (@langchain/langgraph-checkpoint), SqliteSaver (@langchain/langgraph-checkpoint-sqlite, WAL, synchronous=NORMAL like ours), PostgresSaver (@langchain/langgraph-checkpoint-postgres), same run, alternating order',
  };
  const withPostgres = await postgresReachable();
  if (!withPostgres) notes.postgres = `not reachable at ${POSTGRES_URL}; PostgreSQL rows skipped`;
  const rows: BenchRow[] = [];
  // BENCH_BACKENDS=sqlite,postgresql measures only the pairs whose backend starts with one of the names (any case).
  const only = process.env.BENCH_BACKENDS?.toLowerCase().split(',');
  for (const pair of pairs(withPostgres)) {
    if (only !== undefined && !only.some((name) => pair.backend.toLowerCase().startsWith(name))) continue;
    const ours: Measured[] = [];
    const peer: Measured[] = [];
    const floor: number[] = [];
    for (let pass = 0; pass < PASSES; pass++) {
      if (pass % 2 === 0) {
        ours.push(await measure(pair.ours));
        peer.push(await measure(pair.peer));
        if (pair.floor) floor.push(await measureFloor(pair.floor));
      } else {
        if (pair.floor) floor.push(await measureFloor(pair.floor));
        peer.push(await measure(pair.peer));
        ours.push(await measure(pair.ours));
      }
    }
    const median = (list: Measured[], pick: (m: Measured) => number) => percentile(list.map(pick), 50);
    const perPass = (pick: (m: Measured) => number) => ours.map((o, i) => pick(o) / pick(peer[i]!));
    const ratio = (pick: (m: Measured) => number) => percentile(perPass(pick), 50);
    const putRatios = perPass((m) => m.putPerSecond);
    rows.push({
      backend: pair.backend,
      peer: pair.peerName,
      'ours put/s': round(median(ours, (m) => m.putPerSecond)),
      'peer put/s': round(median(peer, (m) => m.putPerSecond)),
      'put ours/peer': `${round(percentile(putRatios, 50), 2)}x`,
      'floor put/s': floor.length === 0 ? '-' : round(percentile(floor, 50)),
      'floor/peer':
        floor.length === 0
          ? '-'
          : `${round(
              percentile(
                floor.map((f, i) => f / peer[i]!.putPerSecond),
                50,
              ),
              2,
            )}x`,
      // How near the floor ours is, pass by pass.
      'ours/floor':
        floor.length === 0
          ? '-'
          : `${round(
              percentile(
                floor.map((f, i) => ours[i]!.putPerSecond / f),
                50,
              ),
              2,
            )}x`,
      'ours getTuple/s': round(median(ours, (m) => m.getPerSecond)),
      'peer getTuple/s': round(median(peer, (m) => m.getPerSecond)),
      'getTuple ours/peer': `${round(
        ratio((m) => m.getPerSecond),
        2,
      )}x`,
      'ours MB': ours[0]?.bytes === undefined ? '-' : round(median(ours, (m) => m.bytes!) / 1e6, 2),
      'peer MB': peer[0]?.bytes === undefined ? '-' : round(median(peer, (m) => m.bytes!) / 1e6, 2),
      'bytes ours/peer':
        ours[0]?.bytes === undefined
          ? '-'
          : `${round(
              ratio((m) => m.bytes!),
              3,
            )}x`,
    });
    console.table(rows.slice(-1));
    console.log(`${pair.backend}: put ours/peer per pass ${putRatios.map((r) => round(r, 2)).join(', ')}`);
  }
  await report('langgraph', rows, notes);
}
