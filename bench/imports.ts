/**
 * Import cost of each entry point of the built package, as a user pays it: a fresh Node process imports
 * `agentstate`, `agentstate/client`, ... by name (the package's own `exports`, i.e. dist/), and reports the
 * time of that import and the process's RSS afterwards. Peers measured in the same run: an empty process,
 * the `pg` driver alone and `fastify` alone. Passes are interleaved (every target once per pass, in a
 * rotating order) and the table shows medians, plus the median of per-pass ratios against `fastify` alone.
 *
 * `npm run bench imports` builds dist/ first, so the figures are for the current sources.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

type Sample = { ms: number; rssMb: number; native: boolean };

// The child measures only the import (not Node's own boot), then reports RSS and whether any native
// addon (.node file) was loaded: process.moduleLoadList does not list ESM, but dlopen'ed addons show in
// process.report's sharedObjects.
function childSource(specifier: string | null): string {
  const load = specifier === null ? '' : `await import(${JSON.stringify(specifier)});`;
  return `const t0 = performance.now(); ${load} const ms = performance.now() - t0;
const rssMb = process.memoryUsage().rss / 1048576;
const native = process.report.getReport().sharedObjects.some((p) => p.endsWith('.node'));
process.stdout.write(JSON.stringify({ ms, rssMb, native }));`;
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
      ratios.get(name)!.push(sample.ms / peer.ms);
    }
  }
  const rows: BenchRow[] = TARGETS.map(({ name }) => {
    const list = samples.get(name)!;
    return {
      import: name,
      'import ms (median)': round(
        percentile(
          list.map((s) => s.ms),
          50,
        ),
        1,
      ),
      'RSS MB (median)': round(
        percentile(
          list.map((s) => s.rssMb),
          50,
        ),
        1,
      ),
      'native addon loaded': list.some((s) => s.native) ? 'yes' : 'no',
      [`ratio vs ${RATIO_PEER} (median of passes)`]: round(percentile(ratios.get(name)!, 50), 2),
    };
  });
  await report('imports', rows, { passes: PASSES, peer: RATIO_PEER });
}
