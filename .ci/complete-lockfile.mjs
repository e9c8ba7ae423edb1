// Adds package-lock entries for optional platform packages (other OS/CPU builds of biome, rollup, ...)
// that the registry mirror of our build machines does not serve. Without an entry `npm ci` refuses the
// lock file as "out of sync"; with one, npm skips the package like any optional dependency it cannot
// install on this platform. Idempotent; plain JS so it runs on any Node before `npm ci`.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${path === '' ? '' : `${path}/`}node_modules/${name}`;
    if (packages[nested] || packages[`node_modules/${name}`]) continue;
    packages[`node_modules/${name}`] = {
      version: String(range).replace(/^[\^~=]/, ''),
      ...(entry.dev && { dev: true }),
      optional: true,
    };
    added++;
  }
}
if (added > 0) writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: ${added} optional platform entr${added === 1 ? 'y' : 'ies'} added`);
