/**
 * Import cost of each entry point of the built package, as a user pays it: a fresh Node process imports
 * `agentstate`, `agentstate/client`, ... by name (the package's own `exports`, i.e. dist/), and reports the
 * time of that import and the process's RSS afterwards. Peers measured in the same run: an empty process,
 * the `pg` driver alone and `fastify` alone. Passes are interleaved (every target once per pass, in a
 * rotating order) and the table shows medians, plus the median of per-pass ratios against `fastify` alone.
 * Besides wall time, each child reports the CPU time (user + system) its import used: on a machine shared
 * with other work the wall time mostly measures waiting for a core, the CPU time much less so, and the
 * ratios are taken from it.
 *
 * `npm run bench imports` builds dist/ first, so the figures are for the current sources. To compare with
 * another version in the same run, point BENCH_IMPORTS_BASELINE at a checkout of it with dist/ built: its
 * root (dist/index.js) and client (dist/client/index.js) are added as rows.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BenchRow, percentile, report, round } from './_report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const PASSES = Number(process.env.BENCH_PASSES ?? 9);

/** What each row imports; `null` is the empty process (Node's own start-up, for the RSS floor). */
const TARGETS: Array<{ name: string; specifier: string | null }> = [
  { name: 'node (nothing imported)', specifier: null },
  { name: 'agentstate/client', specifier: 'agentstate/client' },
  { name: 'agentstate', specifier: 'agentstate' },
  { name: 'agentstate/server', specifier: 'agentstate/server' },
  { name: 'agentstate/keyv', specifier: 'agentstate/keyv' },
  { name: 'peer: pg alone', specifier: 'pg' },
  { name: 'peer: fastify alone', specifier: 'fastify' },
];
const RATIO_PEER = 'peer: fastify alone';

const baseline = process.env.BENCH_IMPORTS_BASELINE;
if (baseline) {
  for (const [name, file] of [
    ['baseline: agentstate', 'dist/index.js'],
    ['baseline: client', 'dist/client/index.js'],
  ] as const) {
    const path = join(baseline, file);
    if (!existsSync(path)) throw new Error(`BENCH_IMPORTS_BASELINE: no ${path} (build that checkout first)`);
    TARGETS.push({ name, specifier: pathToFileURL(path).href });
  }
}

type Sample = { ms: number; cpuMs: number; rssMb: number; native: boolean };

// The child measures only the import (not Node's own boot), then reports RSS and whether any native
// addon (.node file) was loaded: process.moduleLoadList does not list ESM, but dlopen'ed addons show in
// process.report's sharedObjects.
function childSource(specifier: string | null): string {
  const load = specifier === null ? '' : `await import(${JSON.stringify(specifier)});`;
  return `const c0 = process.cpuUsage(); const t0 = performance.now(); ${load}
const ms = performance.now() - t0; const c = process.cpuUsage(c0); const cpuMs = (c.user + c.system) / 1000;
const rssMb = process.memoryUsage().rss / 1048576;
const native = process.report.getReport().sharedObjects.some((p) => p.endsWith('.node'));
process.stdout.write(JSON.stringify({ ms, cpuMs, rssMb, native }));`;
}

function measure(specifier: string | null): Sample {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', childSource(specifier)], {
    cwd: root,
    encoding: 'utf8',
  });
  return JSON.parse(out) as Sample;
}

export default async function imports(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  const samples = new Map<string, Sample[]>(TARGETS.map((t) => [t.name, []]));
  const ratios = new Map<string, number[]>(TARGETS.map((t) => [t.name, []]));
  measure(null); // warm the file cache once so the first target does not pay for it
  for (let pass = 0; pass < PASSES; pass++) {
    const order = TARGETS.map((_, i) => TARGETS[(i + pass) % TARGETS.length]!);
    const byName = new Map<string, Sample>();
    for (const target of order) byName.set(target.name, measure(target.specifier));
    const peer = byName.get(RATIO_PEER)!;
    for (const [name, sample] of byName) {
      samples.get(name)!.push(sample);
      ratios.get(name)!.push(sample.cpuMs / peer.cpuMs);
    }
  }
  const median = (list: Sample[], key: 'ms' | 'cpuMs' | 'rssMb') =>
    round(
      percentile(
        list.map((sample) => sample[key]),
        50,
      ),
      1,
    );
  const rows: BenchRow[] = TARGETS.map(({ name }) => {
    const list = samples.get(name)!;
    return {
      import: name,
      'import ms (median)': median(list, 'ms'),
      'import CPU ms (median)': median(list, 'cpuMs'),
      'RSS MB (median)': median(list, 'rssMb'),
      'native addon loaded': list.some((s) => s.native) ? 'yes' : 'no',
      [`CPU ratio vs ${RATIO_PEER} (median of passes)`]: round(percentile(ratios.get(name)!, 50), 2),
    };
  });
  await report('imports', rows, { passes: PASSES, peer: RATIO_PEER });
}
