/**
 * `npm run bench reads`: `GET /v1/agl/rollouts?limit=-1` with 200,000 rollouts on SQLite (BENCH_READ_ROLLOUTS
 * to change), over a real socket, the answer read and dropped. agentstate reads the rollouts from the store
 * in keyset pages and streams each page as the socket takes it; the peer, measured in the same run on the
 * same database, is the previous approach: one query reading every rollout into memory, then streamed. The
 * passes alternate; the table shows medians and the median of per-pass ratios, with the live heap's peak
 * growth, measured in one more pass of each (a full collection every 20 chunks, which would distort the
 * timed passes; the server runs in this process).
 */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type RolloutStore, SqliteRolloutStore } from '../src/index.ts';
import { createServer } from '../src/server/createServer.ts';
import { tempDir } from '../tests/rollouts/backends.ts';
import { report, round } from './_report.ts';

const ROLLOUTS = Number(process.env.BENCH_READ_ROLLOUTS ?? 200_000);
const PASSES = Number(process.env.BENCH_PASSES ?? 3);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const liveHeap = (): number => {
  gc();
  return process.memoryUsage().heapUsed;
};

/** The store without `iterateRollouts`: the server then reads a listing with one query, as before. */
function oneQuery(store: RolloutStore): RolloutStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'iterateRollouts') return undefined;
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function readAll(
  url: string,
  sampleHeap: boolean,
): Promise<{ ms: number; bytes: number; heapGrowth: number }> {
  const before = sampleHeap ? liveHeap() : 0;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let chunks = 0;
    let peak = before;
    request(url, (res) => {
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (sampleHeap && ++chunks % 20 === 0) peak = Math.max(peak, liveHeap());
      });
      res.on('end', () => resolve({ ms: performance.now() - started, bytes, heapGrowth: peak - before }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export default async function bench(): Promise<void> {
  const temp = tempDir('agentstate-bench-reads-');
  const store = new SqliteRolloutStore({ path: `${temp.dir}/r.sqlite`, healthCheckIntervalMs: 0 });
  try {
    for (let done = 0; done < ROLLOUTS; done += 5000) {
      const n = Math.min(5000, ROLLOUTS - done);
      await store.enqueueManyRollouts(
        Array.from({ length: n }, (_, i) => ({ input: { n: done + i, task: 'add' } })),
      );
    }
    const servers = {
      paged: await createServer({ rollouts: store }),
      oneQuery: await createServer({ rollouts: oneQuery(store) }),
    };
    const urls: Record<string, string> = {};
    for (const [name, app] of Object.entries(servers)) {
      await app.listen({ port: 0, host: '127.0.0.1' });
      urls[name] = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/agl/rollouts?limit=-1`;
    }
    const runs: Record<string, Array<{ ms: number; bytes: number; heapGrowth: number }>> = {
      paged: [],
      oneQuery: [],
    };
    const ratios: number[] = [];
    for (let pass = 0; pass < PASSES; pass++) {
      // Alternating which goes first, so neither always runs on a warmer process.
      const order = pass % 2 === 0 ? ['paged', 'oneQuery'] : ['oneQuery', 'paged'];
      for (const name of order) runs[name]!.push(await readAll(urls[name]!, false));
      ratios.push(runs.paged!.at(-1)!.ms / runs.oneQuery!.at(-1)!.ms);
    }
    const heap: Record<string, number> = {};
    for (const name of ['paged', 'oneQuery']) heap[name] = (await readAll(urls[name]!, true)).heapGrowth;
    for (const app of Object.values(servers)) await app.close();
    const row = (name: string, label: string) => ({
      approach: label,
      rollouts: ROLLOUTS,
      'answer MiB': round(runs[name]![0]!.bytes / 2 ** 20, 1),
      'median ms': round(median(runs[name]!.map((r) => r.ms))),
      'peak live heap growth MiB': round(heap[name]! / 2 ** 20, 1),
    });
    await report(
      'reads',
      [
        {
          ...row('paged', 'agentstate: keyset pages, streamed'),
          'time ratio (median of passes)': round(median(ratios), 2),
        },
        row('oneQuery', 'peer: one query, then streamed'),
      ],
      { passes: PASSES },
    );
  } finally {
    await store.close();
    temp.remove();
  }
}
