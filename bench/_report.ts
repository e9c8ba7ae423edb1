/** Shared output of benchmarks: a console table and a JSON file under bench/results/. */
import { mkdir, writeFile } from 'node:fs/promises';

/** One row of a benchmark table. */
export type BenchRow = Record<string, string | number>;

/** Prints rows as a table and writes them (with machine facts) to bench/results/<name>.json. */
export async function report(
  name: string,
  rows: BenchRow[],
  notes: Record<string, unknown> = {},
): Promise<void> {
  console.table(rows);
  const dir = new URL('./results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const body = {
    name,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
    ...notes,
    rows,
  };
  await writeFile(new URL(`${name}.json`, dir), `${JSON.stringify(body, null, 2)}\n`);
}

/** Percentile (0-100) of a list of numbers, by nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Rounds for display. */
export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
