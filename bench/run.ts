/**
 * `npm run bench [name...]`: runs bench/<name>.ts for each name given, or every benchmark. Each module
 * default-exports an async function that prints its table (with the peer measured in the same run and
 * the ratio) and writes bench/results/<name>.json.
 */
import { readdir } from 'node:fs/promises';
import { basename } from 'node:path';

const dir = new URL('.', import.meta.url);
const all = (await readdir(dir))
  .filter((f) => f.endsWith('.ts') && !['run.ts'].includes(f) && !f.startsWith('_'))
  .map((f) => basename(f, '.ts'))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n=== bench ${name} ===`);
  const module = (await import(new URL(`./${name}.ts`, dir).href)) as { default: () => Promise<void> };
  await module.default();
}
