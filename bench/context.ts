/**
 * `npm run bench context`: PersistentContext.save() against bare atomic writes of the same bytes.
 *
 * Each size is a context of ~1 KB values (10 KB for the 10 MB one). The main row changes one key and
 * saves: the common case of a task updating its state. A second row changes every key, so it includes
 * encoding the whole context (done by set(), which validates values there). The peers write the exact
 * bytes of the context file, measured in the same run and interleaved round by round:
 * - write-file-atomic (npm): temp file, fsync, rename (no directory fsync);
 * - plain: open, writeFile, fsync, close, rename (no directory fsync);
 * - same durability: agentstate's writeFileAtomic, which also fsyncs the directory, as save() does.
 * For reference, the last column is a naive save that re-encodes the whole context each time.
 */
import { mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codec } from '../src/codec/index.ts';
import { PersistentContext } from '../src/context/index.ts';
import { writeFileAtomic } from '../src/shared/atomicWrite.ts';
import { type BenchRow, percentile, report, round } from './_report.ts';

interface Size {
  label: string;
  keys: number;
  valueBytes: number;
  rounds: number;
}

const SIZES: Size[] = [
  { label: '1 KB', keys: 4, valueBytes: 200, rounds: 300 },
  { label: '100 KB', keys: 100, valueBytes: 1_000, rounds: 200 },
  { label: '10 MB', keys: 1_000, valueBytes: 10_000, rounds: 30 },
];

function valueFor(key: number, version: number, bytes: number): unknown {
  return {
    id: `item-${key}`,
    version,
    updatedAt: new Date(1_700_000_000_000 + version),
    tags: ['agent', 'memory', `v${version}`],
    text: `${key}:${version} `.padEnd(bytes, 'lorem ipsum dolor sit amet '),
  };
}

async function timeMs(run: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function plainWrite(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.plain.tmp`;
  const handle = await open(temp, 'w');
  await handle.writeFile(bytes);
  await handle.sync();
  await handle.close();
  await rename(temp, path);
}

// write-file-atomic ships no types; this is the promise form of its API.
const writeFileAtomicNpm = createRequire(import.meta.url)('write-file-atomic') as (
  path: string,
  data: Uint8Array,
) => Promise<void>;

const median = (values: number[]): number => percentile(values, 50);

export default async function bench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'agentstate-bench-context-'));
  const rows: BenchRow[] = [];
  const breakdown: Record<string, unknown> = {};
  try {
    for (const size of SIZES) {
      const path = join(dir, `ctx-${size.keys}.json`);
      const ctx = await PersistentContext.create(path);
      for (let k = 0; k < size.keys; k++) ctx.set(`key${k}`, valueFor(k, 0, size.valueBytes));
      await ctx.save();
      const fileBytes = (await readFile(path)).length;

      const times = { one: [] as number[], all: [] as number[], wfa: [] as number[] };
      const peers = {
        plain: [] as number[],
        durable: [] as number[],
        setAll: [] as number[],
        naive: [] as number[],
      };
      // Phase 1: one key changed per save, against the peers, in a rotating order each round so that
      // none of them always runs first (and pays for the collector or the previous write's flush).
      let bytes = await readFile(path);
      for (let round = 1; round <= size.rounds; round++) {
        const key = round % size.keys;
        ctx.set(`key${key}`, valueFor(key, round, size.valueBytes));
        const ops: (() => Promise<void>)[] = [
          async () => void times.one.push(await timeMs(() => ctx.save())),
          async () => void times.wfa.push(await timeMs(() => writeFileAtomicNpm(`${path}.wfa`, bytes))),
          async () => void peers.plain.push(await timeMs(() => plainWrite(`${path}.plain`, bytes))),
          async () => void peers.durable.push(await timeMs(() => writeFileAtomic(`${path}.durable`, bytes))),
        ];
        for (let i = 0; i < ops.length; i++) await ops[(round + i) % ops.length]!();
        // Peers write the bytes of the context file (as of this round; sizes differ by a few bytes).
        bytes = await readFile(path);
      }
      // Phase 2: every key changed, which includes encoding the whole context in set().
      for (let round = 1; round <= Math.ceil(size.rounds / 3); round++) {
        const version = size.rounds + round;
        const values = Array.from({ length: size.keys }, (_, k) => valueFor(k, version, size.valueBytes));
        let setMs = 0;
        const total = await timeMs(async () => {
          setMs = await timeMs(async () => {
            for (let k = 0; k < size.keys; k++) ctx.set(`key${k}`, values[k]);
          });
          await ctx.save();
        });
        times.all.push(total);
        peers.setAll.push(setMs);
        // A save that re-encodes everything each time (the seed's json.dump of the whole dict).
        const whole = Object.fromEntries(values.map((value, k) => [`key${k}`, value]));
        peers.naive.push(
          await timeMs(() => writeFileAtomicNpm(`${path}.naive`, Buffer.from(codec.stringify(whole, 2)))),
        );
      }
      await ctx.close();

      const wfa = median(times.wfa);
      const durable = median(peers.durable);
      const row = (scenario: string, samples: number[]): BenchRow => ({
        size: size.label,
        'file bytes': fileBytes,
        scenario,
        'save p50 ms': round(median(samples), 3),
        'save p95 ms': round(percentile(samples, 95), 3),
        'write-file-atomic p50 ms': round(wfa, 3),
        'plain write+fsync+rename p50 ms': round(median(peers.plain), 3),
        'same durability (+dir fsync) p50 ms': round(durable, 3),
        'ratio vs write-file-atomic': round(median(samples) / wfa, 2),
        'ratio vs same durability': round(median(samples) / durable, 2),
        'naive re-encode all + write-file-atomic p50 ms': round(median(peers.naive), 3),
      });
      rows.push(row('one key changed', times.one), row('every key changed (incl. set)', times.all));
      breakdown[size.label] = {
        setAllKeysP50Ms: round(median(peers.setAll), 3),
        saveAfterSetAllP50Ms: round(median(times.all) - median(peers.setAll), 3),
      };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await report('context', rows, {
    peer: 'write-file-atomic (npm) and plain writeFile+fsync+rename writing the same bytes, same run',
    goal: 'save() within 1.2x of the bare atomic write',
    breakdown,
  });
  console.log('encode cost (set of every key) vs the save that follows:', breakdown);
}
